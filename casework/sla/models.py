"""SLA configuration (Calendar, Policy, PolicyTarget) and per-case state (CaseClock, its ledger, Breach).

Only `sla/services.py` and `sla/sweep.py` write CaseClock, ClockLedgerEntry and Breach rows. The maths is
in `clock.py` (pure); `calendars.py` turns a Calendar row into a cached `clock.BusinessCalendar`.
"""

from __future__ import annotations

from datetime import date, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from casework.cases.models import Case
from casework.cases.status import Priority
from casework.core.models import TimeStampedModel
from casework.people.models import OrganisationTier, Team

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def parse_hhmm(value: str) -> time:
    try:
        hour, minute = (int(part) for part in str(value).split(":"))
        return time(hour, minute)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"'{value}' is not a HH:MM time") from exc


class Calendar(TimeStampedModel):
    """When SLA clocks run. `week` is `{"0": [["09:00", "12:30"], ["13:30", "18:00"]], …}` with 0 = Monday;
    an end at or before its start runs past midnight (22:00–06:00)."""

    name = models.CharField(max_length=100, unique=True)
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/London.")
    week = models.JSONField(default=dict, blank=True)
    holiday_country = models.CharField(
        max_length=10, blank=True, help_text="ISO country code for public holidays (holidays package)."
    )
    holiday_subdivision = models.CharField(max_length=10, blank=True, help_text="e.g. ENG, CA, BY.")
    custom_holidays = models.JSONField(
        default=list, blank=True, help_text='Extra closed dates: ["2026-12-24", "2026-12-31"].'
    )
    always_open = models.BooleanField("24×7", default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def intervals(self) -> dict[int, list[tuple[time, time]]]:
        result: dict[int, list[tuple[time, time]]] = {}
        for key, spans in (self.week or {}).items():
            weekday = int(key)
            result[weekday] = [(parse_hhmm(start), parse_hhmm(end)) for start, end in spans]
        return result

    def custom_holiday_dates(self) -> list[date]:
        try:
            return [date.fromisoformat(str(day)) for day in self.custom_holidays or []]
        except ValueError as exc:
            raise ValidationError({"custom_holidays": str(exc)}) from exc

    def describe(self) -> str:
        # Every clock's explanation names its calendar; the text only changes with the row (a cached
        # configuration instance is replaced when any calendar changes).
        described = self.__dict__.get("_described")
        if described is None:
            described = self.__dict__["_described"] = self._describe()
        return described

    def _describe(self) -> str:
        if self.always_open:
            return f"{self.name} (24×7)"
        # Consecutive weekdays with the same hours read as one run: "Mon–Fri 09:00–17:30".
        runs: list[tuple[int, int, str]] = []
        for weekday, spans in sorted(self.intervals().items()):
            hours = ", ".join(f"{s:%H:%M}–{e:%H:%M}" for s, e in spans)
            if runs and runs[-1][1] == weekday - 1 and runs[-1][2] == hours:
                runs[-1] = (runs[-1][0], weekday, hours)
            else:
                runs.append((weekday, weekday, hours))
        parts = [
            f"{_DAY_NAMES[a]}{'–' + _DAY_NAMES[b] if b != a else ''} {hours}" for a, b, hours in runs if hours
        ]
        return f"{self.name} ({'; '.join(parts) or 'no hours'} {self.timezone})"

    def clean(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError({"timezone": f"Unknown timezone '{self.timezone}'"}) from exc
        if not isinstance(self.week, dict):
            raise ValidationError({"week": "week must be an object keyed by weekday 0–6"})
        try:
            for key in self.week:
                if str(key) not in {str(d) for d in range(7)}:
                    raise ValidationError(f"weekday '{key}' is not 0 (Monday) … 6 (Sunday)")
            self.custom_holiday_dates()
            # Building the calendar runs every check of the maths (overlaps, holiday country).
            from .calendars import build_business_calendar

            build_business_calendar(self)
        except (ValueError, TypeError) as exc:
            raise ValidationError(str(exc)) from exc


class Policy(TimeStampedModel):
    """Targets for a kind of customer. The first active policy (by `order`) whose conditions all hold and
    that has a target for the case's priority applies; empty conditions match anything."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    order = models.PositiveIntegerField(default=100, help_text="Lower runs first.")
    active = models.BooleanField(default=True)
    customer_tiers = models.JSONField(
        default=list,
        blank=True,
        help_text=f"Organisation tiers, any of {OrganisationTier.values}; empty = any.",
    )
    priorities = models.JSONField(default=list, blank=True, help_text="Priorities this covers; empty = any.")
    teams = models.ManyToManyField(Team, blank=True, related_name="sla_policies")
    calendar = models.ForeignKey(Calendar, on_delete=models.PROTECT, related_name="policies")
    at_risk_cap = models.DurationField(
        default=timedelta(minutes=30), help_text="At risk this long before due, or sooner (see fraction)."
    )
    at_risk_fraction = models.FloatField(
        default=0.25, help_text="…or this share of the target, whichever is smaller."
    )

    class Meta:
        ordering = ["order", "name"]
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        for field, allowed in (("customer_tiers", OrganisationTier.values), ("priorities", Priority.values)):
            value = getattr(self, field)
            if not isinstance(value, list) or any(v not in allowed for v in value):
                raise ValidationError({field: f"must be a list of {allowed}"})
        if not 0 <= self.at_risk_fraction <= 1:
            raise ValidationError({"at_risk_fraction": "must be between 0 and 1"})


class PolicyTarget(models.Model):
    """Business-time targets of one priority under a policy; `calendar` overrides the policy's (critical
    cases on 24×7)."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="targets")
    priority = models.CharField(max_length=10, choices=Priority.choices)
    first_response = models.DurationField()
    resolution = models.DurationField()
    calendar = models.ForeignKey(Calendar, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["policy", "priority"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "priority"], name="sla_target_policy_priority"),
            models.CheckConstraint(
                condition=Q(priority__in=Priority.values), name="sla_target_priority_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} · {self.priority}"


class Metric(models.TextChoices):
    FIRST_RESPONSE = "first_response", "First response"
    RESOLUTION = "resolution", "Resolution"


class ClockState(models.TextChoices):
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    MET = "met", "Met"
    BREACHED = "breached", "Breached"
    # The case ended without the metric happening (closed as spam, resolved without a public reply).
    STOPPED = "stopped", "Stopped"


class CaseClock(models.Model):
    """One SLA metric of one case.

    `consumed` is the business time used up to `running_since` (or to the pause/stop); while counting,
    the time used is `consumed + business_time_between(running_since, now)`. `due_at`/`at_risk_at` are
    stored so the sweep finds passed deadlines by index. A breached clock keeps counting (and pausing)
    until it stops, so the Breach row gets the overrun in business time.
    """

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="sla_clocks")
    metric = models.CharField(max_length=20, choices=Metric.choices)
    state = models.CharField(max_length=10, choices=ClockState.choices, default=ClockState.RUNNING)
    policy = models.ForeignKey(Policy, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    policy_name = models.CharField(max_length=100)
    calendar = models.ForeignKey(Calendar, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # What the policy was matched on, so a later change of priority/tier/team is detected and explained.
    priority = models.CharField(max_length=10)
    customer_tier = models.CharField(max_length=20, blank=True)
    team_id_matched = models.BigIntegerField(null=True, blank=True)
    target = models.DurationField()
    at_risk_lead = models.DurationField()
    consumed = models.DurationField(default=timedelta(0))
    started_at = models.DateTimeField()
    running_since = models.DateTimeField(null=True, blank=True)
    paused_since = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    at_risk_at = models.DateTimeField(null=True, blank=True)
    at_risk_notified = models.BooleanField(default=False)
    breached_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    # Set by the sweep's claiming UPDATE so it can read back exactly the rows it won.
    sweep_claim = models.UUIDField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["case", "metric"]
        constraints = [
            models.UniqueConstraint(fields=["case", "metric"], name="sla_clock_case_metric"),
            models.CheckConstraint(condition=Q(state__in=ClockState.values), name="sla_clock_state_valid"),
            models.CheckConstraint(condition=Q(metric__in=Metric.values), name="sla_clock_metric_valid"),
        ]
        indexes = [
            # The sweep's two queries, exactly: partial so the index holds only clocks that can still fire.
            models.Index(fields=["due_at"], name="sla_clock_due_running", condition=Q(state="running")),
            models.Index(
                fields=["at_risk_at"],
                name="sla_clock_atrisk_pending",
                condition=Q(state="running", at_risk_notified=False),
            ),
            # The queue's SLA counters and views (cases.selectors): running clocks in their at-risk
            # window, and breached clocks still counting. Each holds only clocks that can be counted,
            # so a count costs what it counts, never the whole table.
            models.Index(
                fields=["at_risk_at", "due_at", "case"],
                name="sla_clock_atrisk_window",
                condition=Q(state="running"),
            ),
            models.Index(
                fields=["case"],
                name="sla_clock_breached_counting",
                condition=Q(state="breached", stopped_at__isnull=True),
            ),
            # The reports' SLA compliance (reports/selectors.py `_sla_decided`): clocks met in a date
            # range, and breaches recorded in one — each a range of its own index, not a scan.
            models.Index(fields=["stopped_at"], name="sla_clock_met_stopped", condition=Q(state="met")),
            models.Index(
                fields=["breached_at"], name="sla_clock_breached_at", condition=Q(breached_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.metric} {self.state}"

    @property
    def counting(self) -> bool:
        """Still accruing time (running, or breached and not yet stopped nor paused)."""
        return self.stopped_at is None and self.running_since is not None

    @property
    def is_paused(self) -> bool:
        return self.stopped_at is None and self.paused_since is not None


class LedgerKind(models.TextChoices):
    START = "start", "Started"
    PAUSE = "pause", "Paused"
    RESUME = "resume", "Resumed"
    RECALCULATE = "recalculate", "Recalculated"
    AT_RISK = "at_risk", "At risk"
    BREACHED = "breached", "Breached"
    MET = "met", "Met"
    STOPPED = "stopped", "Stopped"


class ClockLedgerEntry(models.Model):
    """Why a clock is due when it is: every change with the due time before and after, and the reason."""

    clock = models.ForeignKey(CaseClock, on_delete=models.CASCADE, related_name="ledger")
    kind = models.CharField(max_length=20, choices=LedgerKind.choices)
    at = models.DateTimeField()
    due_before = models.DateTimeField(null=True, blank=True)
    due_after = models.DateTimeField(null=True, blank=True)
    consumed = models.DurationField(default=timedelta(0), help_text="Business time used at this point.")
    reason = models.TextField(blank=True)
    actor_label = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["clock", "at"], name="sla_ledger_clock_at")]
        verbose_name_plural = "clock ledger entries"

    def __str__(self) -> str:
        return f"{self.clock_id} {self.kind} {self.at:%Y-%m-%d %H:%M}"


class Breach(models.Model):
    """A missed target, kept for reports with the policy in force. `duration` is the business time past
    the target, filled when the clock finally stops."""

    clock = models.OneToOneField(CaseClock, on_delete=models.CASCADE, related_name="breach")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="sla_breaches")
    metric = models.CharField(max_length=20, choices=Metric.choices)
    policy_name = models.CharField(max_length=100)
    priority = models.CharField(max_length=10)
    customer_tier = models.CharField(max_length=20, blank=True)
    target = models.DurationField()
    due_at = models.DateTimeField()
    breached_at = models.DateTimeField(db_index=True, help_text="When the target ran out (the due time).")
    detected_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    duration = models.DurationField(null=True, blank=True)

    class Meta:
        ordering = ["-breached_at", "id"]
        verbose_name_plural = "breaches"

    def __str__(self) -> str:
        return f"{self.case_id} {self.metric} breached {self.breached_at:%Y-%m-%d %H:%M}"
