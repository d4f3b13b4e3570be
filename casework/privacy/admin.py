"""Retention policies are configuration (edited here); legal holds and skeletons are records, read-only
here: holds are set and released through the doors (API, `casework legal-hold`) so each is on the case
timeline with who and why."""

from django.contrib import admin

from .models import CaseSkeleton, LegalHold, RetentionPolicy


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "category",
        "organisation",
        "action",
        "after_days",
        "purge_attachments_after_days",
        "active",
    )
    list_filter = ("action", "active")
    autocomplete_fields = ("organisation",)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LegalHold)
class LegalHoldAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "reason", "set_by_label", "created_at", "released_at", "release_reason")
    list_filter = ("released_at",)


@admin.register(CaseSkeleton)
class CaseSkeletonAdmin(ReadOnlyAdmin):
    list_display = (
        "reference",
        "disposal",
        "policy_name",
        "category",
        "priority",
        "closed_at",
        "disposed_at",
    )
    list_filter = ("disposal",)
    search_fields = ("reference",)
