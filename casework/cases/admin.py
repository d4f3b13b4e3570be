"""Admin for configuration (categories, tags). Cases are read-only here: changes go through the agent UI
or API so every change is a service call with an event."""

from django.contrib import admin

from .models import Case, CaseEvent, Category, CustomFieldDefinition, Tag


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "active", "description"]
    list_filter = ["active"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(CustomFieldDefinition)
class CustomFieldDefinitionAdmin(admin.ModelAdmin):
    list_display = ["label", "key", "kind", "order", "active"]
    list_editable = ["order", "active"]
    list_filter = ["kind", "active"]
    search_fields = ["label", "key"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


class CaseEventInline(admin.TabularInline):
    model = CaseEvent
    fields = ["created_at", "kind", "actor", "actor_label", "old", "new", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["reference", "subject", "status", "priority", "customer", "assignee", "created_at"]
    list_filter = ["status", "priority", "channel", "tier"]
    search_fields = ["reference", "subject", "customer__email"]
    inlines = [CaseEventInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
