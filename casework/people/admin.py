from django import forms
from django.contrib import admin

from . import permissions, roles
from .models import (
    AgentProfile,
    AgentSkill,
    Customer,
    Organisation,
    OrganisationDomain,
    Skill,
    StaffChange,
    Team,
)


class OrganisationDomainInline(admin.TabularInline):
    model = OrganisationDomain
    extra = 1


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "tier", "vip", "external_id"]
    list_filter = ["tier", "vip"]
    search_fields = ["name", "domains__domain", "external_id"]
    inlines = [OrganisationDomainInline]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "organisation", "is_admin_contact", "phone"]
    list_filter = ["organisation__tier", "is_admin_contact"]
    search_fields = ["email", "name", "external_id"]
    autocomplete_fields = ["organisation"]


class AgentSkillInline(admin.TabularInline):
    model = AgentSkill
    extra = 1


class AgentProfileForm(forms.ModelForm):
    class Meta:
        model = AgentProfile
        fields = [
            "user",
            "role",
            "teams",
            "tier_level",
            "max_open_cases",
            "availability",
            "away_until",
            "cover",
            "last_assigned_at",
        ]

    def clean_role(self):
        role = self.cleaned_data["role"]
        user = self.instance.user if self.instance.pk else None
        if user is not None and permissions.RANK.get(role, 1) < permissions.RANK[permissions.LEAD]:
            led = list(Team.objects.filter(lead=user).order_by("name").values_list("name", flat=True))
            if led:
                raise forms.ValidationError(
                    f"{user} leads {', '.join(led)}: choose another lead for the team first."
                )
        return role


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    """Roles change through `people.roles.agent_set_role` (audited, and never below lead for a team's
    lead)."""

    form = AgentProfileForm
    list_display = ["user", "role", "tier_level", "availability", "away_until", "max_open_cases"]
    list_filter = ["role", "tier_level", "availability", "teams"]
    filter_horizontal = ["teams"]
    inlines = [AgentSkillInline]

    def save_model(self, request, obj, form, change):
        wanted = obj.role
        if change and "role" in form.changed_data:
            obj.role = form.initial.get("role", obj.role)
            super().save_model(request, obj, form, change)
            roles.agent_set_role(profile=obj, role=wanted, actor=request.user, reason="Django admin")
            obj.refresh_from_db(fields=["role"])
        else:
            super().save_model(request, obj, form, change)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    """The lead is set through `people.roles.team_set_lead`: it raises their role to lead and is
    audited."""

    list_display = ["name", "tier_level", "lead", "assignment_mode"]

    def save_model(self, request, obj, form, change):
        wanted = obj.lead
        if "lead" in form.changed_data:
            obj.lead = Team.objects.get(pk=obj.pk).lead if change else None
        super().save_model(request, obj, form, change)
        if "lead" in form.changed_data:
            roles.team_set_lead(team=obj, lead=wanted, actor=request.user, reason="Django admin")
            obj.refresh_from_db(fields=["lead"])


@admin.register(StaffChange)
class StaffChangeAdmin(admin.ModelAdmin):
    """Read-only: the audit trail of team leads and roles."""

    list_display = ["created_at", "kind", "team", "subject_label", "before", "after", "actor_label", "reason"]
    list_filter = ["kind"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    search_fields = ["name"]
