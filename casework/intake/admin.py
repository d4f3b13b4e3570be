from django.contrib import admin, messages
from django.utils.html import format_html

from casework.core.errors import ApplicationError

from .models import InboundMail, Mailbox, Quarantine, QuarantineState
from .parsing import UnparseableMessage, parse_message
from .services import quarantine_discard, quarantine_release

PREVIEW_CHARS = 5000


def _preview(raw: bytes) -> str:
    """Plain text only, escaped by format_html: quarantined mail is untrusted (phishing, scripts)."""
    try:
        parsed = parse_message(bytes(raw))
    except UnparseableMessage as exc:
        return f"(cannot be parsed: {exc.reason})"
    except Exception as exc:  # a preview must never break the admin page
        return f"(cannot be parsed: {type(exc).__name__})"
    lines = [
        f"From: {parsed.from_name} <{parsed.from_address}>",
        f"To: {', '.join(parsed.to)}",
        f"Subject: {parsed.subject}",
        f"Date: {parsed.date}",
        f"Message-ID: {parsed.message_id}",
        f"Attachments: {', '.join(f'{a.filename} ({a.size} B)' for a in parsed.attachments) or 'none'}",
        "",
        parsed.text_body[:PREVIEW_CHARS] or "(no text part)",
    ]
    return "\n".join(lines)


@admin.register(Quarantine)
class QuarantineAdmin(admin.ModelAdmin):
    list_display = ("created_at", "from_address", "subject", "reason_code", "source", "state")
    list_filter = ("state", "reason_code", "source")
    search_fields = ("from_address", "subject", "reason_text")
    date_hierarchy = "created_at"
    actions = ["release", "discard"]
    fields = (
        "state",
        "reason_code",
        "reason_text",
        "source",
        "from_address",
        "subject",
        "created_at",
        "resolved_by",
        "resolved_at",
        "resolution",
        "size",
        "preview",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("resolved_by").defer("raw")

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="raw size")
    def size(self, obj: Quarantine) -> str:
        return f"{len(obj.raw)} bytes"

    @admin.display(description="preview (text only)")
    def preview(self, obj: Quarantine) -> str:
        return format_html('<pre style="white-space:pre-wrap;max-width:60em">{}</pre>', _preview(obj.raw))

    @admin.action(description="Release: ingest again (bypassing the rate limit)")
    def release(self, request, queryset) -> None:
        for item in queryset.filter(state=QuarantineState.HELD):
            try:
                result = quarantine_release(quarantine=item, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{item}: {exc.message}", messages.ERROR)
                continue
            if result.quarantined:
                self.message_user(request, f"{item}: still refused — {result.reason}", messages.WARNING)
            else:
                where = result.case_reference or result.reason
                self.message_user(request, f"{item}: {result.outcome} → {where}", messages.SUCCESS)

    @admin.action(description="Discard")
    def discard(self, request, queryset) -> None:
        count = 0
        for item in queryset.filter(state=QuarantineState.HELD):
            quarantine_discard(quarantine=item, actor=request.user)
            count += 1
        self.message_user(request, f"{count} mail(s) discarded.", messages.SUCCESS)


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    list_display = ("name", "username", "host", "port", "use_tls", "enabled", "last_polled_at", "status")
    list_filter = ("enabled",)
    readonly_fields = ("last_polled_at", "last_success_at", "last_error", "password_variable")
    fields = (
        "name",
        "host",
        "port",
        "use_tls",
        "username",
        "password_env",
        "password_variable",
        "folder",
        "processed_folder",
        "enabled",
        "last_polled_at",
        "last_success_at",
        "last_error",
    )

    @admin.display(description="password is read from")
    def password_variable(self, obj: Mailbox) -> str:
        return obj.password_env or obj.default_password_env if obj.name else "-"

    @admin.display(description="last poll")
    def status(self, obj: Mailbox) -> str:
        if obj.last_polled_at is None:
            return "never"
        return f"error: {obj.last_error[:80]}" if obj.last_error else "ok"


@admin.register(InboundMail)
class InboundMailAdmin(admin.ModelAdmin):
    list_display = ("received_at", "from_address", "subject", "outcome", "matched_by", "case", "source")
    list_filter = ("outcome", "kind", "source")
    search_fields = ("from_address", "subject", "header_message_id", "case__reference")
    date_hierarchy = "received_at"
    list_select_related = ("case",)
    exclude = ("raw",)

    def get_queryset(self, request):
        return super().get_queryset(request).defer("raw")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in InboundMail._meta.fields if f.name != "raw"]

    def has_add_permission(self, request) -> bool:
        return False
