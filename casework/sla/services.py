"""The one door for SLA clock rows: start, pause, resume, recalculate and stop a case's clocks.

They run inside the write that changed the case (the `sla` stage of `cases/pipeline.py`, see
`reactions.py`), with the event's timestamp as the instant: a clock pauses when the status changed, not
when somebody got round to it. The case's clock rows are read once per write (locked, one query for a
whole batch; a case opened in this write has none), changed in memory, and written by the unit of work
with the ledger entries (one per clock change), breaches and the one `sla` event per call that explains
them on the timeline. Called on their own (tests, the organisation tier signal), each opens a write of
its own. All are idempotent: a clock is only moved out of a state it is in, so a repeated event changes
nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from casework.cases.models import Case, EventKind
from casework.cases.services import case_record_system_event
from casework.cases.services.unit_of_work import Work, active, door, unit_of_work
from casework.cases.status import OPEN_STATUSES, Status
from casework.core import clock as core_clock

from . import clock as maths
from .calendars import business_calendar
from .models import Breach, CaseClock, ClockLedgerEntry, ClockState, LedgerKind, Metric
from .policies import Match, PolicyBook, deadlines, format_duration

logger = logging.getLogger(__name__)

SLA_ACTOR = "SLA"
_UTC_FALLBACK = maths.BusinessCalendar.twenty_four_seven("UTC")


def pause_statuses() -> frozenset[str]:
    return frozenset(settings.CASEWORK["SLA_PAUSE_STATUSES"])


# --------------------------------------------------------------------------------------------------
# shared helpers (also used by sweep.py and selectors.py)
# --------------------------------------------------------------------------------------------------


def calendar_of(clock: CaseClock) -> maths.BusinessCalendar:
    # A deleted calendar leaves the clock on real time rather than failing the case.
    return business_calendar(clock.calendar) if clock.calendar_id else _UTC_FALLBACK


def used_at(clock: CaseClock, at: datetime) -> timedelta:
    """Business time used by `at` (consumed so far plus the running segment)."""
    if clock.running_since is None or at <= clock.running_since:
        return clock.consumed
    return clock.consumed + maths.business_time_between(clock.running_since, at, calendar_of(clock))


def local_time(value: datetime | None, clock: CaseClock, *, reference: datetime | None = None) -> str:
    """ "10:15" on the same local day as `reference`, else "Mon 09 Mar 10:15", in the calendar's zone."""
    if value is None:
        return "—"
    tz = calendar_of(clock)._tz
    local = value.astimezone(tz)
    if reference is not None and reference.astimezone(tz).date() == local.date():
        return f"{local:%H:%M}"
    return f"{local:%a %d %b %H:%M}"


def metric_label(metric: str) -> str:
    return Metric(metric).label


def clock_data(clock: CaseClock) -> dict[str, Any]:
    """The data contract of `sla` events: {"metric", "state", "due_at", "policy"} per clock."""
    return {
        "metric": clock.metric,
        "state": clock.state,
        "due_at": clock.due_at.isoformat() if clock.due_at else None,
        "policy": clock.policy_name,
    }


def ledger(
    clock: CaseClock,
    kind: str,
    at: datetime,
    *,
    due_before: datetime | None,
    reason: str,
    actor_label: str,
    data: dict | None = None,
) -> ClockLedgerEntry:
    return ClockLedgerEntry(
        clock=clock,
        kind=kind,
        at=at,
        due_before=due_before,
        due_after=clock.due_at,
        consumed=clock.consumed if clock.running_since is None else used_at(clock, at),
        reason=reason,
        actor_label=actor_label[:200],
        data=data or {},
    )


def record_breach(clock: CaseClock, *, detected_at: datetime) -> Breach:
    return Breach(
        clock=clock,
        case_id=clock.case_id,
        metric=clock.metric,
        policy_name=clock.policy_name,
        priority=clock.priority,
        customer_tier=clock.customer_tier,
        target=clock.target,
        due_at=clock.due_at or detected_at,
        breached_at=clock.due_at or detected_at,
        detected_at=detected_at,
    )


# --------------------------------------------------------------------------------------------------
# internals
# --------------------------------------------------------------------------------------------------


@dataclass
class _Changes:
    """What one service call did, for the ledger (bulk insert) and the one timeline event."""

    entries: list[ClockLedgerEntry] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    clocks: list[CaseClock] = field(default_factory=list)
    breaches: list[CaseClock] = field(default_factory=list)
    breach_rows: dict[int, Breach] = field(default_factory=dict)

    def add(self, clock: CaseClock, entry: ClockLedgerEntry, line: str | None) -> None:
        self.entries.append(entry)
        if line:
            self.lines.append(line)
        if clock not in self.clocks:
            self.clocks.append(clock)


def _facts(case: Case) -> dict[str, Any]:
    return {
        "priority": case.priority,
        "customer_tier": case.organisation.tier if case.organisation_id else "",
        "team_id": case.team_id,
    }


# Every clock field a change may touch, written back together (bulk, at the flush).
CLOCK_FIELDS = (
    "state", "policy", "policy_name", "calendar", "priority", "customer_tier", "team_id_matched", "target",
    "at_risk_lead", "consumed", "running_since", "paused_since", "due_at", "at_risk_at", "at_risk_notified",
    "breached_at", "stopped_at", "updated_at",
)  # fmt: skip


def _held(work: Work) -> dict[int, list[CaseClock]]:
    """The clocks this write holds, by case id (read once per write, locked)."""
    return work.scratch["sla"].setdefault("clocks", {})


def load_clocks(work: Work, case_ids) -> None:
    """Read and lock the clocks of several cases with one query (clocks before cases is the sweep's lock
    order too, so the two never deadlock). Cases opened in this write have none yet: no query."""
    held = _held(work)
    missing = sorted({pk for pk in case_ids if pk not in held and pk not in work.opened})
    for pk in case_ids:
        if pk in work.opened:
            held.setdefault(pk, [])
    if not missing:
        return
    found: dict[int, list[CaseClock]] = {pk: [] for pk in missing}
    rows = (
        CaseClock.objects.select_for_update(of=("self",))
        .filter(case_id__in=missing)
        .select_related("calendar", "policy")
        .order_by("id")
    )
    for row in rows:
        found[row.case_id].append(row)
    held.update(found)


def _lock_clocks(case_id: int) -> list[CaseClock]:
    work = active()
    load_clocks(work, [case_id])
    return _held(work)[case_id]


def _load_case(case_id: int) -> Case:
    return active().case(case_id)


def _set_deadlines(clock: CaseClock, at: datetime) -> None:
    due, at_risk = deadlines(
        since=at,
        remaining=clock.target - clock.consumed,
        lead=clock.at_risk_lead,
        calendar=calendar_of(clock),
    )
    # Already alerted and still inside the at-risk window: do not alert again after a pause or change.
    clock.at_risk_notified = clock.at_risk_notified and at_risk <= at
    clock.due_at, clock.at_risk_at = due, at_risk


def _catch_up_breach(clock: CaseClock, at: datetime, changes: _Changes, actor_label: str) -> None:
    """A running clock whose due time passed before the sweep saw it is breached first, under the terms
    that were in force, so a change a few seconds after the deadline cannot hide the breach."""
    if clock.state != ClockState.RUNNING or clock.due_at is None or at <= clock.due_at:
        return
    clock.state = ClockState.BREACHED
    clock.breached_at = clock.due_at
    clock.at_risk_notified = True
    line = f"{metric_label(clock.metric)} breached: was due {local_time(clock.due_at, clock)}"
    # The ledger keeps the line; the timeline says it once, in the breach event notify_breach records.
    changes.add(
        clock,
        ledger(clock, LedgerKind.BREACHED, at, due_before=clock.due_at, reason=line, actor_label=actor_label),
        None,
    )
    changes.breaches.append(clock)
    changes.breach_rows[clock.pk] = record_breach(clock, detected_at=at)


def _breach_used_up(clock: CaseClock, at: datetime, changes: _Changes, actor_label: str) -> None:
    """New terms (a tighter target after a priority or tier change) that the time already used exceeds:
    the promise is missed now, paused or not — a breach, never "-30 min left"."""
    clock.state = ClockState.BREACHED
    clock.due_at = clock.breached_at = at
    clock.at_risk_at = None
    clock.at_risk_notified = True
    line = (
        f"{metric_label(clock.metric)} breached: the new target of {format_duration(clock.target)} "
        f"was already used up ({format_duration(clock.consumed)} used)"
    )
    changes.add(
        clock,
        ledger(clock, LedgerKind.BREACHED, at, due_before=None, reason=line, actor_label=actor_label),
        None,
    )
    changes.breaches.append(clock)
    changes.breach_rows[clock.pk] = record_breach(clock, detected_at=at)


def _apply_match(clock: CaseClock, match: Match) -> None:
    clock.policy = match.policy
    clock.policy_name = match.policy.name
    clock.calendar = match.calendar
    clock.target = match.target
    clock.at_risk_lead = match.at_risk_lead
    clock.priority = match.priority
    clock.customer_tier = match.customer_tier
    clock.team_id_matched = match.team_id


def _save(
    case: Case,
    changes: _Changes,
    *,
    change: str,
    actor: Any,
    detected_at: datetime,
    clocks_saved: bool = False,
) -> None:
    if not changes.entries:
        return
    work = active()
    now = core_clock.now()
    if not clocks_saved:
        for clock in changes.clocks:
            clock.updated_at = now
            work.save_fields(clock, *CLOCK_FIELDS)
    for entry in changes.entries:
        work.insert(entry)
    for breach in changes.breach_rows.values():
        work.insert(breach)
    if changes.breaches:
        from . import notifications

        # Said once, first: the breach (with who was told) before what the change did to the clock. The
        # breach event goes back to triage's `sla_breached` rules in the pipeline's next round.
        for clock in changes.breaches:
            clock.case = case
            notifications.notify_breach(clock=clock, now=detected_at)
    if changes.lines:
        case_record_system_event(
            case=case,
            kind=EventKind.SLA,
            actor=SLA_ACTOR,
            reason="; ".join(changes.lines),
            data={"change": change, "clocks": [clock_data(c) for c in changes.clocks], "by": str(actor)},
        )


# --------------------------------------------------------------------------------------------------
# the services
# --------------------------------------------------------------------------------------------------


@door
def clocks_start(*, case_id: int, at: datetime, actor_label: str = "system") -> list[CaseClock]:
    """Start the first-response and resolution clocks of a new case under the matching policy."""
    # Runs for every case opened; a case opened in this write has no clocks to read, and the policy book
    # is read once per write.
    existing = {clock.metric for clock in _lock_clocks(case_id)}
    case = _load_case(case_id)
    book = policy_book()
    changes = _Changes()
    missing = []
    for metric in Metric.values:
        if metric in existing:
            continue
        match = book.match(metric=metric, **_facts(case))
        if match is None:
            missing.append(metric_label(metric))
            continue
        clock = CaseClock(
            case=case, metric=metric, started_at=at, running_since=at, consumed=timedelta(0), updated_at=at
        )
        _apply_match(clock, match)
        _set_deadlines(clock, at)
        active().insert(clock)
        _held(active())[case_id].append(clock)
        line = (
            f"{metric_label(metric)} clock started: {match.explanation} → due "
            f"{local_time(clock.due_at, clock, reference=at)}"
        )
        changes.add(
            clock,
            ledger(clock, LedgerKind.START, at, due_before=None, reason=line, actor_label=actor_label),
            line,
        )
    if missing and not existing:
        changes.lines.append(f"No SLA policy matches this case for {', '.join(missing).lower()}")
    if missing and not changes.entries and not existing:
        # Nothing started: still say why on the timeline, once.
        case_record_system_event(
            case=case, kind=EventKind.SLA, actor=SLA_ACTOR, reason=changes.lines[-1], data={"change": "start"}
        )
    # The new clocks were inserted above and have not changed since.
    _save(case, changes, change="start", actor=actor_label, detected_at=at, clocks_saved=True)
    return changes.clocks


@door
def clocks_pause(*, case_id: int, at: datetime, reason: str, actor_label: str = "system") -> list[CaseClock]:
    changes = _Changes()
    for clock in _lock_clocks(case_id):
        if not clock.counting:
            continue
        _catch_up_breach(clock, at, changes, actor_label)
        before = clock.due_at
        clock.consumed = used_at(clock, at)
        clock.running_since = None
        clock.paused_since = at
        if clock.state == ClockState.RUNNING:
            clock.state = ClockState.PAUSED
            clock.due_at = clock.at_risk_at = None
        of = format_duration(clock.target)
        if clock.consumed >= clock.target:
            over = format_duration(clock.consumed - clock.target)
            line = (
                f"{metric_label(clock.metric)} clock paused ({reason}): already {over} over the {of} target"
            )
        else:
            left = format_duration(clock.target - clock.consumed)
            line = f"{metric_label(clock.metric)} clock paused ({reason}) with {left} of {of} left"
        changes.add(
            clock,
            ledger(clock, LedgerKind.PAUSE, at, due_before=before, reason=line, actor_label=actor_label),
            line,
        )
    if changes.entries:
        _save(_load_case(case_id), changes, change="pause", actor=actor_label, detected_at=at)
    return changes.clocks


@door
def clocks_resume(
    *, case_id: int, at: datetime, reason: str, actor_label: str = "system", reopen: bool = False
) -> list[CaseClock]:
    """Resume paused clocks; with `reopen`, also the resolution clock a resolution stopped, keeping the
    business time it had already used."""
    changes = _Changes()
    for clock in _lock_clocks(case_id):
        was = clock.paused_since
        if clock.is_paused:
            clock.paused_since = None
        elif (
            reopen
            and clock.metric == Metric.RESOLUTION
            and clock.state in (ClockState.MET, ClockState.BREACHED)
        ):
            was = clock.stopped_at
            clock.stopped_at = None
            if clock.state == ClockState.BREACHED:
                active().eager_write()
                Breach.objects.filter(clock=clock).update(stopped_at=None, duration=None)
        else:
            continue
        before = clock.due_at
        clock.running_since = at
        if clock.state in (ClockState.PAUSED, ClockState.MET):
            clock.state = ClockState.RUNNING
            _set_deadlines(clock, at)
            left = format_duration(clock.target - clock.consumed)
            tail = f"{left} left → due {local_time(clock.due_at, clock, reference=at)}"
        else:
            tail = f"already breached, {format_duration(clock.consumed - clock.target)} over the target"
        waited = format_duration(at - was) if was else ""
        stopped = f", stopped {waited}" if waited else ""
        line = f"{metric_label(clock.metric)} clock resumed ({reason}{stopped}): {tail}"
        changes.add(
            clock,
            ledger(clock, LedgerKind.RESUME, at, due_before=before, reason=line, actor_label=actor_label),
            line,
        )
    if changes.entries:
        _save(_load_case(case_id), changes, change="resume", actor=actor_label, detected_at=at)
    return changes.clocks


@door
def clocks_stop(
    *,
    case_id: int,
    at: datetime,
    metrics: tuple[str, ...],
    met: bool,
    reason: str,
    actor_label: str = "system",
) -> list[CaseClock]:
    """Stop clocks: `met=True` when the metric happened (first reply, resolution); otherwise the case
    ended without it (closed unresolved) and the clock is marked stopped."""
    changes = _Changes()
    for clock in _lock_clocks(case_id):
        if clock.metric not in metrics or clock.stopped_at is not None:
            continue
        _catch_up_breach(clock, at, changes, actor_label)
        before = clock.due_at
        clock.consumed = used_at(clock, at)
        clock.running_since = clock.paused_since = None
        clock.stopped_at = at
        used = f"{format_duration(clock.consumed)} of {format_duration(clock.target)} used"
        if clock.state == ClockState.BREACHED:
            over = max(clock.consumed - clock.target, timedelta(0))
            if clock.pk in changes.breach_rows:  # breached in this very call, row not written yet
                changes.breach_rows[clock.pk].stopped_at = at
                changes.breach_rows[clock.pk].duration = over
            else:
                active().eager_write()
                Breach.objects.filter(clock=clock).update(stopped_at=at, duration=over)
            kind = LedgerKind.STOPPED
            line = (
                f"{metric_label(clock.metric)} clock stopped ({reason}): "
                f"{format_duration(over)} past the target"
            )
        elif met:
            clock.state = ClockState.MET
            kind = LedgerKind.MET
            line = f"{metric_label(clock.metric)} target met ({reason}): {used}"
        else:
            clock.state = ClockState.STOPPED
            clock.due_at = clock.at_risk_at = None
            kind = LedgerKind.STOPPED
            line = f"{metric_label(clock.metric)} clock stopped ({reason}): {used}"
        changes.add(
            clock, ledger(clock, kind, at, due_before=before, reason=line, actor_label=actor_label), line
        )
    if changes.entries:
        _save(_load_case(case_id), changes, change="stop", actor=actor_label, detected_at=at)
    return changes.clocks


@door
def clocks_recalculate(
    *, case_id: int, at: datetime, reason: str, actor_label: str = "system"
) -> list[CaseClock]:
    """Re-match the policy after a priority, tier or team change. Time already used is kept; the new
    target and calendar apply from `at` on. A clock whose terms do not change is left alone."""
    clocks = _lock_clocks(case_id)
    case = _load_case(case_id)
    facts = _facts(case)
    book = policy_book()
    changes = _Changes()
    for clock in clocks:
        if clock.stopped_at is not None or clock.state not in (ClockState.RUNNING, ClockState.PAUSED):
            continue
        _catch_up_breach(clock, at, changes, actor_label)
        if clock.state == ClockState.BREACHED:
            continue  # the promise was already missed under the old terms
        match = book.match(metric=clock.metric, **facts)
        if match is None:
            continue
        same = (clock.policy_id, clock.calendar_id, clock.target) == (
            match.policy.pk,
            match.calendar.pk,
            match.target,
        )
        if same:
            if (clock.priority, clock.customer_tier, clock.team_id_matched) != (
                facts["priority"],
                facts["customer_tier"],
                facts["team_id"],
            ):
                _apply_match(clock, match)
                clock.updated_at = core_clock.now()
                active().save_fields(clock, *CLOCK_FIELDS)
            continue
        before = clock.due_at
        if clock.running_since is not None:
            clock.consumed = used_at(clock, at)
            clock.running_since = at
        _apply_match(clock, match)
        if clock.consumed >= clock.target:
            paused = clock.state == ClockState.PAUSED
            _breach_used_up(clock, at, changes, actor_label)
            tail = "the new target is already used up" + (" (still paused)" if paused else "")
        elif clock.state == ClockState.RUNNING:
            _set_deadlines(clock, at)
            was = local_time(before, clock, reference=at)
            tail = f"due {local_time(clock.due_at, clock, reference=at)} (was {was})"
        else:
            tail = "still paused"
        line = (
            f"{metric_label(clock.metric)} clock recalculated ({reason}): {match.explanation}; "
            f"{format_duration(clock.consumed)} already used, {tail}"
        )
        changes.add(
            clock,
            ledger(
                clock, LedgerKind.RECALCULATE, at, due_before=before, reason=line, actor_label=actor_label
            ),
            line,
        )
    _save(case, changes, change="recalculate", actor=actor_label, detected_at=at)
    return changes.clocks


def clocks_on_status(
    *, case_id: int, old: str, new: str, at: datetime, actor_label: str, reason: str
) -> None:
    """Map a status change to clock moves."""
    pause = pause_statuses()
    why = reason or f"{Status(old).label} → {Status(new).label}"
    if new == Status.RESOLVED:
        clocks_stop(
            case_id=case_id,
            at=at,
            metrics=(Metric.RESOLUTION,),
            met=True,
            reason="Resolved",
            actor_label=actor_label,
        )
        clocks_stop(
            case_id=case_id,
            at=at,
            metrics=(Metric.FIRST_RESPONSE,),
            met=False,
            reason="resolved without a public reply",
            actor_label=actor_label,
        )
    elif new == Status.CLOSED:
        clocks_stop(
            case_id=case_id,
            at=at,
            metrics=tuple(Metric.values),
            met=False,
            reason=f"closed without resolution: {why}",
            actor_label=actor_label,
        )
    elif old in (Status.RESOLVED, Status.CLOSED) and new in OPEN_STATUSES:
        clocks_resume(case_id=case_id, at=at, reason=f"reopened: {why}", actor_label=actor_label, reopen=True)
    elif new in pause and old not in pause:
        clocks_pause(case_id=case_id, at=at, reason=f"case is {Status(new).label}", actor_label=actor_label)
    elif old in pause and new not in pause:
        clocks_resume(case_id=case_id, at=at, reason=why, actor_label=actor_label)


def clocks_recalculate_for_organisation(*, organisation_id: int, at: datetime, actor_label: str) -> int:
    """An organisation's tier changed: recalculate its cases whose clocks were matched on another tier.
    Set-based: only cases with a live clock on a stale tier are touched."""
    from casework.people.models import Organisation

    tier = Organisation.objects.filter(pk=organisation_id).values_list("tier", flat=True).first()
    if tier is None:
        return 0
    case_ids = (
        CaseClock.objects.filter(case__organisation_id=organisation_id, stopped_at__isnull=True)
        .exclude(customer_tier=tier)
        .values_list("case_id", flat=True)
        .distinct()
    )
    case_ids = sorted(set(case_ids))
    if not case_ids:
        return 0
    # One write for all of them: the cases and their clocks are locked with one query each.
    with unit_of_work("organisation tier"):
        work = active()
        work.lock_many(case_ids)
        load_clocks(work, case_ids)
        for case_id in case_ids:
            clocks_recalculate(
                case_id=case_id, at=at, reason=f"organisation tier is now {tier}", actor_label=actor_label
            )
    return len(case_ids)


def policy_book() -> PolicyBook:
    """The active policies, checked once per write (PolicyBook.current reads a fingerprint)."""
    work = active()
    scratch = work.scratch["sla"]
    if "book" not in scratch:
        scratch["book"] = PolicyBook.current()
    return scratch["book"]
