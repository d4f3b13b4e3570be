"""Triage configuration as data: rules, canned replies used by rules, and the triage shift rota."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from casework.core.models import TimeStampedModel

from .conditions import RuleDefinitionError
from .engine import TRIGGERS, RuleSpec

TRIGGER_CHOICES = [(t, t.replace("_", " ")) for t in sorted(TRIGGERS)]


class Rule(TimeStampedModel):
    """A triage/automation rule. `conditions` and `actions` use the language in triage/README.md."""

    key = models.SlugField(
        max_length=80,
        unique=True,
        null=True,
        blank=True,
        help_text="Stable id of a shipped default rule; empty for rules written here.",
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    trigger = models.CharField(max_length=30, choices=TRIGGER_CHOICES, default="case_opened")
    conditions = models.JSONField(default=dict, blank=True)
    actions = models.JSONField(default=list)
    order = models.IntegerField(default=100, help_text="Lower runs first; later rules see earlier effects.")
    stop_processing = models.BooleanField(default=False)
    gives_way_to_model = models.BooleanField(
        default=False,
        help_text="Its category/priority apply only where the learned model is unsure. Shipped keyword rules "
        "do; rules you write are policy and win over the model.",
    )
    enabled = models.BooleanField(default=True)
    last_error = models.TextField(blank=True)
    errored_at = models.DateTimeField(null=True, blank=True)
    matched_count = models.PositiveIntegerField(default=0)
    last_matched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["trigger", "order", "id"]

    def __str__(self) -> str:
        return self.name

    def spec(self) -> RuleSpec:
        return RuleSpec(
            id=str(self.pk or self.key or self.name),
            name=self.name,
            trigger=self.trigger,
            conditions=self.conditions or None,
            actions=list(self.actions or []),
            order=self.order,
            stop_processing=self.stop_processing,
        )

    def clean(self) -> None:
        try:
            self.spec().validate()
        except RuleDefinitionError as exc:
            field = "actions" if str(exc.path).startswith("actions") else "conditions"
            if str(exc.path).startswith("trigger"):
                field = "trigger"
            raise ValidationError({field: str(exc)}) from exc


class CannedReply(TimeStampedModel):
    """A prepared public reply a rule can send (`send_canned_reply`). The knowledge-base issue extends these
    into agent macros; rules refer to them by name."""

    name = models.CharField(max_length=100, unique=True)
    body = models.TextField(help_text="Plain text. {reference}, {customer_name} and {subject} are filled in.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "canned replies"

    def __str__(self) -> str:
        return self.name

    def render(self, case) -> str:
        return (
            self.body.replace("{reference}", case.reference)
            .replace("{customer_name}", case.customer.name or "there")
            .replace("{subject}", case.subject)
        )


class TriageShift(models.Model):
    """Who owns the untriaged queue when: one row per agent, weekday and local time range."""

    WEEKDAYS = [(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"),
                (5, "Saturday"), (6, "Sunday")]  # fmt: skip

    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="triage_shifts"
    )
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    start = models.TimeField()
    end = models.TimeField(help_text="An end at or before the start runs past midnight.")
    timezone = models.CharField(max_length=64, default="UTC")

    class Meta:
        ordering = ["weekday", "start"]

    def __str__(self) -> str:
        return (
            f"{self.agent} {self.get_weekday_display()} {self.start:%H:%M}–{self.end:%H:%M} {self.timezone}"
        )

    def clean(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError({"timezone": f"Unknown time zone {self.timezone!r}"}) from exc

    def covers(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        now_t: time = local.time()
        if self.start < self.end:
            return local.weekday() == self.weekday and self.start <= now_t < self.end
        # Overnight shift: the evening of `weekday` and the early morning of the next day.
        if local.weekday() == self.weekday and now_t >= self.start:
            return True
        return local.weekday() == (self.weekday + 1) % 7 and now_t < self.end


class RuleFiring(models.Model):
    """Scheduled rules fire once per case; this remembers which already did."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="firings")
    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")
    fired_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "case"], name="rule_firing_once")]

    def __str__(self) -> str:
        return f"{self.rule_id} fired on {self.case_id}"


class RuleChange(models.Model):
    """Who changed a rule, how and why: one row per create, edit, enable/disable or move (the rule's own
    audit trail; the rule editor shows it and asks for the reason)."""

    class Action(models.TextChoices):
        CREATED = "created", "created"
        UPDATED = "updated", "edited"
        ENABLED = "enabled", "enabled"
        DISABLED = "disabled", "disabled"
        MOVED = "moved", "moved"

    rule = models.ForeignKey(Rule, on_delete=models.SET_NULL, null=True, related_name="changes")
    rule_name = models.CharField(max_length=200)
    action = models.CharField(max_length=20, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.TextField()
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    dry_run = models.JSONField(
        null=True, blank=True, help_text="What the dry run shown before saving found (checked, matched)."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.rule_name} {self.action} by {self.actor}"
