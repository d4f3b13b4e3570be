from django.contrib import admin

from .models import AgentProfile, AgentSkill, Customer, Organisation, OrganisationDomain, Skill, Team


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


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "tier_level", "availability", "away_until", "max_open_cases"]
    list_filter = ["tier_level", "availability", "teams"]
    filter_horizontal = ["teams"]
    inlines = [AgentSkillInline]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "tier_level", "lead", "assignment_mode"]


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    search_fields = ["name"]
