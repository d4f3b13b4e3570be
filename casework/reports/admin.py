from django.contrib import admin

from .models import ReportSubscription, SavedReport


@admin.register(ReportSubscription)
class ReportSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("user", "kind", "active", "created_at")
    list_filter = ("kind", "active")
    autocomplete_fields = ("user",)


@admin.register(SavedReport)
class SavedReportAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "metric", "updated_at")
    list_filter = ("metric",)
