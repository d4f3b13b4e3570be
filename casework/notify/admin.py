from django.contrib import admin, messages

from .delivery import outbox_retry_now
from .kinds import DEFAULTS
from .models import (
    AgentPreference,
    CustomerPreference,
    Notification,
    NotificationKind,
    NotificationTemplate,
    Outbox,
    Suppression,
    TeamChannel,
)


@admin.register(Outbox)
class OutboxAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "channel",
        "kind",
        "subject",
        "recipients",
        "status",
        "attempts",
        "reclaims",
        "next_attempt_at",
        "claimed_by",
        "case",
    )
    list_filter = ("status", "channel", "kind")
    search_fields = ("subject", "header_message_id", "dedup_key", "to", "recipient")
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


# --------------------------------------------------------------------------------------------------
# the notification engine's configuration
# --------------------------------------------------------------------------------------------------


class TemplateInline(admin.StackedInline):
    model = NotificationTemplate
    extra = 0
    fields = ("channel", "language", "subject", "body")


@admin.register(NotificationKind)
class NotificationKindAdmin(admin.ModelAdmin):
    list_display = ("key", "label", "audience", "enabled", "essential", "channels", "recipients")
    list_filter = ("audience", "enabled", "essential")
    list_editable = ("enabled",)
    search_fields = ("key", "label")
    readonly_fields = ("key", "audience", "context_help")
    fields = ("key", "label", "audience", "description", "enabled", "essential", "channels", "recipients",
              "context_help")  # fmt: skip
    inlines = [TemplateInline]

    @admin.display(description="template context")
    def context_help(self, obj: NotificationKind) -> str:
        default = DEFAULTS.get(obj.key)
        own = ", ".join(default.extra) if default and default.extra else "none"
        return (
            "case.reference, case.subject, case.status, case.priority, case.summary, case.url; "
            "customer.name, customer.email; recipient.name; support.name, support.address. "
            f"This kind's own: {own}."
        )

    def has_add_permission(self, request) -> bool:
        return False  # kinds are what the code sends; templates and switches are what admins edit


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(admin.ModelAdmin):
    list_display = ("kind", "channel", "language", "subject")
    list_filter = ("channel", "language", "kind__audience")
    search_fields = ("kind__key", "subject", "body")


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ("address", "source", "reason", "created_at")
    list_filter = ("source",)
    search_fields = ("address", "reason")


@admin.register(TeamChannel)
class TeamChannelAdmin(admin.ModelAdmin):
    list_display = ("team", "enabled")


@admin.register(CustomerPreference)
class CustomerPreferenceAdmin(admin.ModelAdmin):
    list_display = ("customer", "language", "muted_kinds")
    search_fields = ("customer__email", "customer__name")
    raw_id_fields = ("customer",)


@admin.register(AgentPreference)
class AgentPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "daily_digest", "muted_kinds", "muted_channels", "last_digest_at")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "kind", "title", "read_at")
    list_filter = ("kind",)
    search_fields = ("title", "user__username")
    raw_id_fields = ("case",)
    readonly_fields = [f.name for f in Notification._meta.fields]
