"""`casework doctor`: find what a write should have decided or queued and did not, repair it, count it.

Since reactions are decided inside the write that causes them, a case can no longer be committed
without its triage, clocks or reply mail. What the doctor finds is what is left from before that
(an upgrade from the after-commit design), from a reaction stage that failed (its `automation_failure`
note), or from data written by hand. Each app registers its checks in its `doctor.py`:

    register_check(name, description, find=..., repair=...)

`find(now, limit)` returns the ids of the rows that need help (oldest first, at most `limit`);
`repair(ids, now)` fixes them — each inside a write of its own, which explains on the case's timeline
what the doctor did and why — and returns the ids it could not repair (only reported). A check
without `repair` only reports. `casework doctor` runs them all (`--dry-run` to look only); the worker
runs them once a day.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from .scheduler import register

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 1000
# A write commits with its reactions, so a minute is plenty; it keeps the doctor off cases of writes
# that are still in flight on another connection when it looks.
GRACE = timedelta(minutes=1)


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    find: Callable[[datetime, int], Sequence[int]]
    repair: Callable[[list[int], datetime], Sequence[int]] | None = None
    # What the ids are, to show examples: ids → readable labels (case references).
    label: Callable[[list[int]], list[str]] | None = None


@dataclass
class Outcome:
    check: str
    description: str
    found: int = 0
    repaired: int = 0
    reported: int = 0
    examples: list[str] = field(default_factory=list)
    error: str = ""

    def as_dict(self) -> dict:
        return {
            "check": self.check,
            "description": self.description,
            "found": self.found,
            "repaired": self.repaired,
            "reported": self.reported,
            "examples": self.examples,
            **({"error": self.error} if self.error else {}),
        }


_checks: dict[str, Check] = {}


def register_check(
    name: str,
    description: str,
    *,
    find: Callable[[datetime, int], Sequence[int]],
    repair: Callable[[list[int], datetime], Sequence[int]] | None = None,
    label: Callable[[list[int]], list[str]] | None = None,
) -> None:
    _checks[name] = Check(name, description, find, repair, label)


def checks() -> list[Check]:
    return sorted(_checks.values(), key=lambda c: c.name)


def examine(*, repair: bool = True, limit: int = DEFAULT_LIMIT, now: datetime | None = None) -> list[Outcome]:
    """Run every check; with `repair`, fix what can be fixed. A check that fails is reported with its
    error and the others still run."""
    now = now or timezone.now()
    outcomes = []
    for check in checks():
        outcome = Outcome(check.name, check.description)
        try:
            ids = list(check.find(now, limit))
            outcome.found = len(ids)
            if ids and check.label is not None:
                outcome.examples = check.label(ids[:5])
            left = ids
            if ids and repair and check.repair is not None:
                left = list(check.repair(ids, now))
                outcome.repaired = len(ids) - len(left)
            outcome.reported = len(left)
        except Exception as exc:  # one broken check must not hide the others' findings
            logger.exception("doctor check %s failed", check.name)
            outcome.error = f"{type(exc).__name__}: {exc}"
        outcomes.append(outcome)
    return outcomes


def daily() -> dict[str, dict]:
    """The periodic job: repair, and log what was found (a finding after the upgrade's first run means
    a reaction failed somewhere: read the `automation_failure` notes)."""
    outcomes = examine(repair=True)
    for outcome in outcomes:
        if outcome.found or outcome.error:
            logger.warning(
                "doctor: %s: %s found, %s repaired, %s reported %s%s",
                outcome.check,
                outcome.found,
                outcome.repaired,
                outcome.reported,
                ", ".join(outcome.examples),
                f" (check failed: {outcome.error})" if outcome.error else "",
            )
    return {o.check: o.as_dict() for o in outcomes}


register("doctor", timedelta(days=1), daily)
