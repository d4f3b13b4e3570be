from django.contrib import admin

from .models import CsatAnswer, CsatReview


@admin.register(CsatAnswer)
class CsatAnswerAdmin(admin.ModelAdmin):
    list_display = ["case", "score", "answered_at", "changes"]
    list_filter = ["score"]
    search_fields = ["case__reference", "comment"]
    readonly_fields = [f.name for f in CsatAnswer._meta.fields]

    def has_add_permission(self, request):
        return False  # answers come from the survey (csat.services.csat_record)


@admin.register(CsatReview)
class CsatReviewAdmin(admin.ModelAdmin):
    list_display = ["case", "opening_score", "status", "outcome", "team", "lead", "opened_at"]
    list_filter = ["status", "outcome", "team"]
    search_fields = ["case__reference", "note"]
    readonly_fields = [f.name for f in CsatReview._meta.fields]

    def has_add_permission(self, request):
        return False  # reviews are opened by low scores and closed in the review queue (a door)
