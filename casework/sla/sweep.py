"""The periodic sweep: fire at-risk alerts and breaches whose time has come.

Set-based, never a loop over open cases. Each pass asks the partial indexes for at most `batch` clocks
whose `due_at` (running clocks) or `at_risk_at` (running, not yet alerted) has passed, locks their cases
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent sweeps split the work and never wait on an agent's
write; on SQLite writers are serialised by the database lock), then claims the clocks with ONE
conditional UPDATE that repeats those conditions (compare-and-swap) and stamps a fresh claim token; only
the rows that UPDATE changed are read back and acted on. A second worker, an overlapping run or a write
that paused or recalculated the clock in between simply finds the condition false, so nothing fires
twice.

Each batch is one write (a unit of work): claim, Breach rows, ledger entries, the timeline events and the
reactions to them (triage's `sla_at_risk` / `sla_breached` rules, the escalations and reassignments they
cause) commit together, so a crash leaves the clocks unclaimed and the next pass fires them.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import F

from casework.cases.services.unit_of_work import active, unit_of_work
from casework.core import clock as core_clock

from . import notifications
from .models import Breach, CaseClock, ClockLedgerEntry, ClockState, LedgerKind
from .services import ledger, local_time, metric_label, record_breach

logger = logging.getLogger(__name__)

SWEEP_ACTOR = "SLA sweep"
DEFAULT_BATCH = 500
# One pass handles at most this many batches per kind; the rest waits for the next tick (30 s), so a
# backlog after downtime drains steadily instead of holding the scheduler for minutes.
MAX_BATCHES = 20


@dataclass
class SweepResult:
    breached: int = 0
    at_risk: int = 0
    backlog: bool = False  # the pass stopped with work possibly left (its budget or MAX_BATCHES)

    def as_dict(self) -> dict[str, int | bool]:
        return {"breached": self.breached, "at_risk": self.at_risk, "backlog": self.backlog}


def _candidates(filters: dict, batch: int, order: str) -> list[int]:
    """Clocks whose time has come, whose cases this write could lock. Cases are locked before their
    clocks, as in every write (a door locks the case, its SLA stage then the clocks), so the sweep and
    an agent's change never wait for each other in opposite orders; a case another write holds is
    skipped (SKIP LOCKED on PostgreSQL) and its clock fires on the next pass."""
    rows = list(CaseClock.objects.filter(**filters).order_by(order).values_list("id", "case_id")[:batch])
    if not rows:
        return []
    held = active().lock_many({case_id for _, case_id in rows}, skip_locked=True)
    return [clock_id for clock_id, case_id in rows if case_id in held]


def _claim_ids(ids: list[int], filters: dict, updates: dict, order: str) -> list[CaseClock]:
    """The compare-and-swap: the UPDATE repeats the selection's conditions, so rows another worker (or a
    hook) changed since the SELECT are left out; the token tells which rows this call won."""
    token = uuid.uuid4()
    CaseClock.objects.filter(id__in=ids, **filters).update(sweep_claim=token, **updates)
    return list(
        CaseClock.objects.filter(id__in=ids, sweep_claim=token)
        .select_related("case", "case__assignee", "case__team", "case__team__lead", "calendar")
        .order_by(order, "id")
    )


def _claim(filters: dict, updates: dict, batch: int, order: str) -> list[CaseClock]:
    ids = _candidates(filters, batch, order)
    return _claim_ids(ids, filters, updates, order) if ids else []


def breach_claim(now: datetime) -> tuple[dict, dict]:
    # Strictly after the due time: a reply at exactly the due instant meets the target (see services).
    filters = {"state": ClockState.RUNNING, "due_at__lt": now}
    return filters, {"state": ClockState.BREACHED, "breached_at": F("due_at"), "at_risk_notified": True}


def _breach_batch(now: datetime, batch: int) -> int:
    with unit_of_work("sla sweep"):
        return _breach_claimed(now, batch)


def _breach_claimed(now: datetime, batch: int) -> int:
    filters, updates = breach_claim(now)
    clocks = _claim(filters, updates, batch, "due_at")
    if not clocks:
        return 0
    Breach.objects.bulk_create([record_breach(c, detected_at=now) for c in clocks])
    entries = []
    for c in clocks:
        reason = f"{metric_label(c.metric)} breached: was due {local_time(c.due_at, c)}"
        entries.append(
            ledger(c, LedgerKind.BREACHED, now, due_before=c.due_at, reason=reason, actor_label=SWEEP_ACTOR)
        )
    ClockLedgerEntry.objects.bulk_create(entries)
    notifications.notify_breach_many(clocks=clocks, now=now)
    return len(clocks)


def _at_risk_batch(now: datetime, batch: int) -> int:
    with unit_of_work("sla sweep"):
        return _at_risk_claimed(now, batch)


def _at_risk_claimed(now: datetime, batch: int) -> int:
    filters = {
        "state": ClockState.RUNNING,
        "at_risk_notified": False,
        "at_risk_at__lte": now,
        "due_at__gte": now,
    }
    clocks = _claim(filters, {"at_risk_notified": True}, batch, "at_risk_at")
    if not clocks:
        return 0
    entries = []
    for c in clocks:
        reason = f"{metric_label(c.metric)} at risk: due {local_time(c.due_at, c, reference=now)}"
        entries.append(
            ledger(c, LedgerKind.AT_RISK, now, due_before=c.due_at, reason=reason, actor_label=SWEEP_ACTOR)
        )
    ClockLedgerEntry.objects.bulk_create(entries)
    notifications.notify_at_risk_many(clocks=clocks, now=now)
    return len(clocks)


def sweep(
    *, now: datetime | None = None, batch: int = DEFAULT_BATCH, budget: float | None = None
) -> SweepResult:
    """One pass. Breaches first, so a clock found both at risk and overdue is reported once, as breached.

    With `budget` (seconds) the pass starts no new batch once the budget is spent and one batch did work,
    and says `backlog`: the job (`sweep_job`) then runs again 5 s later, so a catch-up after downtime
    (hundreds of breaches that fell due while no worker ran) is many short runs, each batch its own
    write, instead of one long one. At-risk alerts wait while breaches are being caught up."""
    now = now or core_clock.now()
    started = time.monotonic()
    result = SweepResult()
    worked = out_of_time = False
    for kind, run in (("breached", _breach_batch), ("at_risk", _at_risk_batch)):
        for _ in range(MAX_BATCHES):
            if worked and budget is not None and time.monotonic() - started >= budget:
                out_of_time = True
                break
            done = run(now, batch)
            worked = worked or done > 0
            setattr(result, kind, getattr(result, kind) + done)
            if done < batch:
                break
        else:
            result.backlog = True  # MAX_BATCHES full batches: more may be due (the next tick)
        if out_of_time:
            result.backlog = True
            break
    if result.breached or result.at_risk:
        logger.info(
            "SLA sweep: %s breached, %s at risk%s",
            result.breached,
            result.at_risk,
            " (more left: next run in seconds)" if result.backlog else "",
        )
    return result


def sweep_job() -> dict[str, int | bool]:
    """The `sla-sweep` periodic job: one pass within CASEWORK_SLA_SWEEP_BUDGET_SECONDS, in batches of
    CASEWORK_SLA_SWEEP_BATCH clocks (each batch one write)."""
    from django.conf import settings

    conf = settings.CASEWORK
    return sweep(batch=conf["SLA_SWEEP_BATCH"], budget=conf["SLA_SWEEP_BUDGET_SECONDS"]).as_dict()
