from django.contrib import admin, messages

from .delivery import outbox_retry_now
from .models import Outbox


@admin.register(Outbox)
class OutboxAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "subject",
        "recipients",
        "status",
        "attempts",
        "reclaims",
        "next_attempt_at",
        "claimed_by",
        "case",
    )
    list_filter = ("status",)
    search_fields = ("subject", "header_message_id", "dedup_key", "to")
    date_hierarchy = "created_at"
    actions = ["retry_now"]
    readonly_fields = [f.name for f in Outbox._meta.fields]

    @admin.display(description="to")
    def recipients(self, obj: Outbox) -> str:
        return ", ".join(obj.to)

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Retry now (failed or waiting mails)")
    def retry_now(self, request, queryset) -> None:
        count = outbox_retry_now(rows=queryset)
        self.message_user(request, f"{count} mail(s) queued again.", messages.SUCCESS)
