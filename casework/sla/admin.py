from django.contrib import admin

from .models import Breach, Calendar, CaseClock, ClockLedgerEntry, Policy, PolicyTarget


@admin.register(Calendar)
class CalendarAdmin(admin.ModelAdmin):
    list_display = ("name", "timezone", "always_open", "holiday_country", "holiday_subdivision", "updated_at")
    search_fields = ("name",)


class PolicyTargetInline(admin.TabularInline):
    model = PolicyTarget
    extra = 0


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "order", "active", "customer_tiers", "priorities", "calendar")
    list_editable = ("order", "active")
    filter_horizontal = ("teams",)
    inlines = [PolicyTargetInline]


class LedgerInline(admin.TabularInline):
    model = ClockLedgerEntry
    extra = 0
    can_delete = False
    readonly_fields = ("kind", "at", "due_before", "due_after", "consumed", "reason", "actor_label")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CaseClock)
class CaseClockAdmin(admin.ModelAdmin):
    """Read-only: clocks change only through sla.services and the sweep, which keep the ledger."""

    list_display = ("case", "metric", "state", "due_at", "policy_name", "at_risk_notified")
    list_filter = ("metric", "state")
    search_fields = ("case__reference",)
    raw_id_fields = ("case",)
    inlines = [LedgerInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Breach)
class BreachAdmin(admin.ModelAdmin):
    list_display = ("case", "metric", "policy_name", "priority", "due_at", "detected_at", "duration")
    list_filter = ("metric", "priority", "policy_name")
    search_fields = ("case__reference",)
    raw_id_fields = ("case", "clock")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
