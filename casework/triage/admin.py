import json

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from .models import CannedReply, Rule, TriageShift


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ["name", "trigger", "order", "enabled", "matched_count", "last_matched_at", "error_state"]
    list_filter = ["trigger", "enabled"]
    list_editable = ["order", "enabled"]
    search_fields = ["name", "key", "description"]
    readonly_fields = ["key", "last_error", "errored_at", "matched_count", "last_matched_at", "dry_run_link"]
    fields = [
        "name", "description", "trigger", "order", "enabled", "stop_processing", "conditions", "actions",
        "dry_run_link", "key", "last_error", "errored_at", "matched_count", "last_matched_at",
    ]  # fmt: skip
    actions = ["enable", "disable"]

    @admin.display(description="error")
    def error_state(self, rule: Rule) -> str:
        return "⚠ " + rule.last_error[:80] if rule.last_error else ""

    @admin.display(description="dry run")
    def dry_run_link(self, rule: Rule) -> str:
        if not rule.pk:
            return "Save the rule (disabled) to dry-run it, or use the dry-run page."
        return format_html(
            '<a href="{}?rule={}">Dry-run on recent cases</a>', reverse("triage:dry_run"), rule.pk
        )

    @admin.action(description="Enable (clears the last error)")
    def enable(self, request, queryset) -> None:
        # The rules' configuration version moves with the update (a trigger): every process sees it.
        queryset.update(enabled=True, last_error="", errored_at=None)
        messages.success(request, "Enabled.")

    @admin.action(description="Disable")
    def disable(self, request, queryset) -> None:
        queryset.update(enabled=False)

    def get_changeform_initial_data(self, request) -> dict:
        return {"conditions": json.loads('{"all": []}'), "actions": [], "enabled": False}


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    list_display = ["name", "active", "updated_at"]
    search_fields = ["name", "body"]


@admin.register(TriageShift)
class TriageShiftAdmin(admin.ModelAdmin):
    list_display = ["agent", "weekday", "start", "end", "timezone"]
    list_filter = ["weekday", "agent"]
