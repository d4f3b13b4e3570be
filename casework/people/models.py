"""Customers, their organisations, and the agents and teams who serve them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from casework.core.models import TimeStampedModel


class OrganisationTier(models.TextChoices):
    STANDARD = "standard", "Standard"
    BUSINESS = "business", "Business"
    ENTERPRISE = "enterprise", "Enterprise"


class Organisation(TimeStampedModel):
    name = models.CharField(max_length=200, unique=True)
    tier = models.CharField(
        max_length=20, choices=OrganisationTier.choices, default=OrganisationTier.STANDARD
    )
    vip = models.BooleanField("VIP", default=False)
    notes = models.TextField(blank=True)
    external_id = models.CharField("CRM id", max_length=100, blank=True, db_index=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(tier__in=OrganisationTier.values), name="organisation_tier_valid"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def domain_list(self) -> list[str]:
        return [d.domain for d in self.domains.all()]


class OrganisationDomain(models.Model):
    """An email domain that identifies an organisation (customers are matched to it on first contact)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253, unique=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain

    def save(self, *args, **kwargs) -> None:
        self.domain = self.domain.strip().lower().lstrip("@")
        super().save(*args, **kwargs)


class Customer(TimeStampedModel):
    name = models.CharField(max_length=200, blank=True)
    # Empty (NULL) for a caller known only by phone; NULLs do not collide in the unique index below, which
    # every address lookup uses as it is.
    email = models.EmailField(max_length=254, null=True, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.SET_NULL, null=True, blank=True, related_name="customers"
    )
    external_id = models.CharField("CRM id", max_length=100, blank=True, db_index=True)
    notes = models.TextField(blank=True)
    # An organisation's admin contact sees all of the organisation's cases in the customer portal, not
    # only their own.
    is_admin_contact = models.BooleanField(
        "admin contact",
        default=False,
        help_text="Sees every case of their organisation in the customer portal.",
    )

    class Meta:
        ordering = ["name", "email"]
        constraints = [models.UniqueConstraint(Lower("email"), name="customer_email_unique_ci")]

    def __str__(self) -> str:
        if self.name and self.email:
            return f"{self.name} <{self.email}>"
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name or self.email or self.phone or f"Customer {self.pk}"

    def save(self, *args, **kwargs) -> None:
        self.email = (self.email or "").strip().lower() or None
        super().save(*args, **kwargs)


class CustomerChange(models.Model):
    """One edit of a customer's details (who, when, what from → to, why): the customer's history, as case
    events are a case's. Written only by `people.services.customer_update`."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="changes")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # {"field": [old, new]} with organisations by name
    changes = models.JSONField(default=dict)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.customer_id} {', '.join(self.changes)}"


class Skill(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AssignmentMode(models.TextChoices):
    SKILLS_LOAD = "skills_load", "Skills and workload"
    ROUND_ROBIN = "round_robin", "Round robin"
    MANUAL = "manual", "Manual"


class CoverPolicy(models.TextChoices):
    OFFER = "offer", "Offer cases to the cover agent (note on each case)"
    REASSIGN = "reassign", "Reassign cases to the cover agent"


class Team(TimeStampedModel):
    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    tier_level = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="1, 2 or 3 for the L1/L2/L3 support tiers; empty for other teams."
    )
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="led_teams"
    )
    email = models.EmailField(blank=True, help_text="Where team alerts go when no lead is set.")
    assignment_mode = models.CharField(
        max_length=20, choices=AssignmentMode.choices, default=AssignmentMode.SKILLS_LOAD
    )
    # What happens to an agent's open cases when they go out of office (see casework/routing).
    cover_policy = models.CharField(max_length=20, choices=CoverPolicy.choices, default=CoverPolicy.OFFER)

    class Meta:
        ordering = ["tier_level", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(tier_level__isnull=True) | models.Q(tier_level__in=[1, 2, 3]),
                name="team_tier_level_valid",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Availability(models.TextChoices):
    ACTIVE = "active", "Active"
    AWAY = "away", "Away"
    OUT_OF_OFFICE = "out_of_office", "Out of office"


class Role(models.TextChoices):
    """What an agent may do; see casework/people/permissions.py. Each role includes the ones above it."""

    AGENT = "agent", "Agent"
    LEAD = "lead", "Team lead"
    MANAGER = "manager", "Manager"
    ADMIN = "admin", "Admin"


class AgentProfile(TimeStampedModel):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.AGENT)
    teams = models.ManyToManyField(Team, blank=True, related_name="agents")
    skills = models.ManyToManyField(Skill, through="AgentSkill", blank=True, related_name="agents")
    tier_level = models.PositiveSmallIntegerField(default=1)
    max_open_cases = models.PositiveIntegerField(default=20)
    availability = models.CharField(max_length=20, choices=Availability.choices, default=Availability.ACTIVE)
    away_until = models.DateTimeField(null=True, blank=True)
    cover = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="covering_for",
        help_text="Who takes this agent's cases while they are out of office.",
    )
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user__username"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(tier_level__in=[1, 2, 3]), name="agent_tier_level_valid"
            ),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="agent_role_valid"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.user.get_full_name() or self.user.username

    def is_available(self, at=None) -> bool:
        at = at or timezone.now()
        if not self.user.is_active:
            return False
        if self.availability == Availability.ACTIVE:
            return True
        # An away/out-of-office agent with an end time in the past is available again.
        return self.away_until is not None and self.away_until <= at


class AgentSkill(models.Model):
    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE)
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE)
    level = models.FloatField(default=1.0, help_text="0.1 (basic) to 1.0 (expert).")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "skill"], name="agent_skill_unique")]

    def __str__(self) -> str:
        return f"{self.agent} · {self.skill} {self.level:g}"


class StaffChange(models.Model):
    """One change to who leads a team or what role an agent holds (who, when, from → to, why): the staff's
    audit trail, as case events are a case's. Written only by `people.roles` (the door for `Team.lead`
    and `AgentProfile.role`)."""

    class Kind(models.TextChoices):
        LEAD_SET = "lead_set", "team lead changed"
        ROLE_CHANGED = "role_changed", "role changed"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    subject_label = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["lead_set", "role_changed"]), name="staff_change_kind_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.before} → {self.after}"
