"""Read-only here: retention policies are changed on the privacy page (`/privacy/`, admins), which shows the
next run's counts before saving and keeps who, when, before → after and why (`policy_changes.py`); holds
are set and released through the doors (the page, the API, `casework legal-hold`) so each is on the case
timeline and in the history; skeletons and the change history are records."""

from django.contrib import admin

from .models import CaseSkeleton, LegalHold, PrivacyChange, RetentionPolicy


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(ReadOnlyAdmin):
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


@admin.register(PrivacyChange)
class PrivacyChangeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "label", "actor_label", "reason")
    list_filter = ("kind",)


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
