"""Routing's own rows: tier history (who held a case, at which tier, how long, why it moved), watchers,
and out-of-office ranges. Case fields themselves are only ever written through cases.services."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from casework.cases.models import Case
from casework.people.models import AgentProfile, Team


class TierHistory(models.Model):
    """One row per stretch of a case's life with the same tier, team and owner.

    A row opens when the case is opened, changes tier (escalated / de-escalated), changes team or changes
    owner, and closes (left_at) when the next one opens or the case is resolved/closed. `owner` empty
    means the case sat in the team queue. Kept from case events by the routing reaction stage (history.py)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="tier_history")
    tier = models.PositiveSmallIntegerField()
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    entered_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)
    # The event kind that started / ended this stretch: opened, escalated, de_escalated, assigned,
    # team_changed, reopened | escalated, de_escalated, assigned, team_changed, resolved, closed.
    entered_by = models.CharField(max_length=30)
    left_by = models.CharField(max_length=30, blank=True)
    reason = models.TextField(blank=True)
    handoff_note = models.TextField(blank=True)
    event_id = models.BigIntegerField(null=True, blank=True, help_text="The case event that opened the row.")

    class Meta:
        ordering = ["entered_at", "id"]
        indexes = [
            models.Index(fields=["case", "entered_at"], name="tierhist_case_entered"),
            models.Index(fields=["tier", "entered_at"], name="tierhist_tier_entered"),
        ]
        constraints = [
            # At most one open stretch per case: history.py closes the previous one before opening the next.
            models.UniqueConstraint(
                fields=["case"], condition=Q(left_at__isnull=True), name="tierhist_one_open_per_case"
            ),
            models.UniqueConstraint(
                fields=["event_id"], condition=Q(event_id__isnull=False), name="tierhist_event_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} L{self.tier} {self.entered_at:%Y-%m-%d %H:%M}"

    def duration_seconds(self, now=None) -> float:
        from casework.core import clock

        end = self.left_at or now or clock.now()
        return max(0.0, (end - self.entered_at).total_seconds())


class CaseWatcher(models.Model):
    """Someone who follows a case without owning it (the previous owner after an escalation)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="watchers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watching")
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["case", "user"], name="casewatcher_unique")]

    def __str__(self) -> str:
        return f"{self.user} watches {self.case_id}"


class OutOfOffice(models.Model):
    """A planned absence: from `starts_at` to `ends_at` the agent gets no new cases and their open cases
    go to `cover` (offered or reassigned, per their team's cover policy). The routing job starts and
    ends ranges as their times come."""

    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="absences")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    cover = models.ForeignKey(
        AgentProfile, on_delete=models.SET_NULL, null=True, blank=True, related_name="covering_absences"
    )
    note = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    cancelled = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["starts_at", "ends_at"], name="ooo_range")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="ooo_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.agent} away {self.starts_at:%Y-%m-%d} – {self.ends_at:%Y-%m-%d}"
