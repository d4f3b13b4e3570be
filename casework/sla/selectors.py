"""Reads for the case page panel and the API: each clock with its time left and its ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Prefetch

from casework.core import clock as core_clock

from .clock import business_time_between
from .models import CaseClock, ClockLedgerEntry, ClockState
from .policies import format_duration
from .services import calendar_of, used_at


@dataclass
class ClockView:
    clock: CaseClock
    ledger: list[ClockLedgerEntry]
    used: timedelta
    left: timedelta | None  # business time to the due time; negative once overdue
    now: datetime

    @property
    def metric_label(self) -> str:
        return self.clock.get_metric_display()

    @property
    def state(self) -> str:
        return self.clock.state

    @property
    def paused(self) -> bool:
        return self.clock.is_paused

    @property
    def at_risk(self) -> bool:
        c = self.clock
        return c.state == ClockState.RUNNING and c.at_risk_at is not None and c.at_risk_at <= self.now

    @property
    def used_up(self) -> bool:
        """Paused with no time left (a clock written before tighter terms breached it at once)."""
        return self.state == ClockState.PAUSED and self.left is not None and self.left <= timedelta(0)

    @property
    def left_text(self) -> str:
        return format_duration(self.left) if self.left is not None else ""

    @property
    def used_text(self) -> str:
        return format_duration(self.used)

    @property
    def target_text(self) -> str:
        return format_duration(self.clock.target)

    @property
    def timezone(self) -> str:
        return self.clock.calendar.timezone if self.clock.calendar_id else "UTC"

    def local_text(self, value: datetime | None) -> str:
        # Formatted here, in the calendar's zone: the template `date` filter would convert back to
        # TIME_ZONE, and "due 10:15" must mean 10:15 where the team works.
        return f"{value.astimezone(calendar_of(self.clock)._tz):%a %d %b %H:%M}" if value else ""

    @property
    def due_text(self) -> str:
        return self.local_text(self.clock.due_at)

    @property
    def paused_text(self) -> str:
        return self.local_text(self.clock.paused_since)

    @property
    def stopped_text(self) -> str:
        return self.local_text(self.clock.stopped_at)

    @property
    def ledger_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "at": entry.at,
                "at_text": self.local_text(entry.at),
                "kind": entry.get_kind_display(),
                "reason": entry.reason,
                "actor": entry.actor_label,
                "due_text": self.local_text(entry.due_after),
            }
            for entry in self.ledger
        ]


def case_clocks(case: Any, *, now: datetime | None = None) -> list[ClockView]:
    """Two queries: the clocks (with calendar) and their ledgers."""
    now = now or core_clock.now()
    clocks = (
        CaseClock.objects.filter(case_id=case.pk)
        .select_related("calendar")
        .prefetch_related(Prefetch("ledger", queryset=ClockLedgerEntry.objects.order_by("at", "id")))
        .order_by("id")
    )
    views = []
    for clock in clocks:
        left = None
        if clock.state == ClockState.RUNNING and clock.due_at is not None:
            left = business_time_between(now, clock.due_at, calendar_of(clock))
        elif clock.state == ClockState.PAUSED:
            left = clock.target - clock.consumed
        views.append(
            ClockView(
                clock=clock, ledger=list(clock.ledger.all()), used=used_at(clock, now), left=left, now=now
            )
        )
    return views


def case_panel_context(request, case) -> dict:
    return {"clocks": case_clocks(case)}


def clock_outcomes(**case_filter: Any) -> dict[str, int]:
    """How the SLA promises of some cases ended (e.g. `case__organisation=org`): clocks met, breached,
    still running or paused, in one GROUP BY."""
    from django.db.models import Count

    rows = CaseClock.objects.filter(**case_filter).order_by().values("state").annotate(n=Count("id"))
    outcome = {state: 0 for state in ClockState.values}
    outcome.update({row["state"]: row["n"] for row in rows})
    finished = outcome.get("met", 0) + outcome.get("breached", 0)
    outcome["met_share"] = round(100 * outcome.get("met", 0) / finished) if finished else None
    return outcome
