"""Reads for routing: the case panel, and per-tier accountability for the reports issue.

Definitions (so every report means the same thing):
  * time in tier — from TierHistory stretches: (left_at or now) − entered_at, summed per tier. A case in
    the team queue with no owner still counts for its tier: the clock is the customer's.
  * escalation rate — over the cohort of cases *opened* in [start, end):
      per tier t:     cases escalated out of L{t} ÷ cohort cases that were at L{t};
      per agent a:    cases escalated while a owned them ÷ cohort cases a owned at some point;
      per category c: cases escalated at least once ÷ cohort cases in c (their current category).
  * resolved at tier 1 — cases *resolved* in [start, end) that are at L1 and were never escalated ÷ all
    cases resolved in [start, end). The support playbook's target is at least 70 %.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from casework.cases.models import Case, CaseEvent, EventKind
from casework.cases.status import OPEN_STATUSES
from casework.core import clock

from .models import CaseWatcher, TierHistory

RESOLVED_AT_TIER1_TARGET = 0.70
ENTERED_LABELS = {
    "opened": "opened",
    "escalated": "escalated",
    "de_escalated": "de-escalated",
    "assigned": "owner changed",
    "team_changed": "team changed",
    "status_changed": "reopened",
}


def tier_history(case: Case) -> QuerySet[TierHistory]:
    return TierHistory.objects.filter(case=case).select_related("team", "owner").order_by("entered_at", "id")


def watchers(case: Case) -> QuerySet[CaseWatcher]:
    return CaseWatcher.objects.filter(case=case).select_related("user").order_by("created_at", "id")


def case_panel_context(request: Any, case: Case) -> dict:
    """The case page's "Tier history" panel: three queries."""
    now = clock.now()
    rows = list(tier_history(case))
    return {
        "tier_rows": [
            {
                "row": r,
                "seconds": r.duration_seconds(now),
                "label": ENTERED_LABELS.get(r.entered_by, r.entered_by),
            }
            for r in rows
        ],
        "tier_totals": _totals(rows, now),
        "watchers": list(watchers(case)),
        "can_auto_assign": case.status in OPEN_STATUSES,
    }


def _totals(rows: list[TierHistory], now: datetime) -> dict[int, float]:
    totals: dict[int, float] = defaultdict(float)
    for row in rows:
        totals[row.tier] += row.duration_seconds(now)
    return dict(sorted(totals.items()))


def time_in_tiers(case: Case, *, now: datetime | None = None) -> dict[int, float]:
    """Seconds the case spent at each tier so far."""
    return _totals(list(TierHistory.objects.filter(case=case)), now or clock.now())


def time_in_tier_summary(*, start: datetime, end: datetime, now: datetime | None = None) -> list[dict]:
    """Per tier, over cases opened in [start, end): how many reached it, total and average seconds there."""
    now = now or clock.now()
    per_tier: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    rows = TierHistory.objects.filter(case__created_at__gte=start, case__created_at__lt=end).values_list(
        "case_id", "tier", "entered_at", "left_at"
    )
    for case_id, tier, entered, left in rows.iterator():
        per_tier[tier][case_id] += max(0.0, ((left or now) - entered).total_seconds())
    result = []
    for tier in sorted(per_tier):
        seconds = per_tier[tier]
        total = sum(seconds.values())
        result.append(
            {
                "tier": tier,
                "cases": len(seconds),
                "total_seconds": total,
                "average_seconds": total / len(seconds),
            }
        )
    return result


def _cohort_moves(start: datetime, end: datetime) -> tuple[dict[int, dict], list[tuple]]:
    cohort = {
        pk: {"category": slug}
        for pk, slug in Case.objects.filter(created_at__gte=start, created_at__lt=end)
        .order_by()
        .values_list("pk", "category__slug")
    }
    moves = list(
        CaseEvent.objects.filter(
            case__created_at__gte=start,
            case__created_at__lt=end,
            kind__in=[EventKind.ESCALATED, EventKind.DE_ESCALATED, EventKind.ASSIGNED],
        )
        .order_by("created_at", "id")
        .values_list("case_id", "kind", "old", "new")
    )
    return cohort, moves


def _rate(escalated: int, total: int) -> dict:
    return {"cases": total, "escalated": escalated, "rate": (escalated / total) if total else 0.0}


def escalation_rates(*, start: datetime, end: datetime, by: str = "tier") -> dict[Any, dict]:
    """Escalation rate per tier, agent (username) or category (slug); see the module docstring."""
    if by not in ("tier", "agent", "category"):
        raise ValueError("by must be tier, agent or category")
    cohort, moves = _cohort_moves(start, end)
    reached: dict[Any, set[int]] = defaultdict(set)
    escalated: dict[Any, set[int]] = defaultdict(set)
    if by == "tier":
        for case_id in cohort:
            reached[1].add(case_id)  # every case opens at L1
    for case_id, kind, old, new in moves:
        old, new = old or {}, new or {}
        if by == "tier" and kind in (EventKind.ESCALATED, EventKind.DE_ESCALATED):
            reached[new.get("tier")].add(case_id)
            if kind == EventKind.ESCALATED:
                escalated[old.get("tier")].add(case_id)
        elif by == "agent":
            if kind == EventKind.ASSIGNED and isinstance(new, str):
                reached[new].add(case_id)
            elif kind == EventKind.ESCALATED and old.get("assignee"):
                reached[old["assignee"]].add(case_id)
                escalated[old["assignee"]].add(case_id)
        elif by == "category" and kind == EventKind.ESCALATED:
            escalated[cohort[case_id]["category"]].add(case_id)
    if by == "category":
        for case_id, info in cohort.items():
            reached[info["category"]].add(case_id)
    keys = sorted(reached, key=lambda k: (k is None, str(k)))
    return {k: _rate(len(escalated[k] & reached[k]), len(reached[k])) for k in keys}


def resolved_at_tier1(*, start: datetime, end: datetime) -> dict:
    """Share of cases resolved in [start, end) without ever leaving L1 (playbook target ≥ 70 %)."""
    resolved = dict(
        Case.objects.filter(resolved_at__gte=start, resolved_at__lt=end).order_by().values_list("pk", "tier")
    )
    ever_escalated = set(
        CaseEvent.objects.filter(case_id__in=list(resolved), kind=EventKind.ESCALATED).values_list(
            "case_id", flat=True
        )
    )
    at_tier1 = sum(1 for pk, tier in resolved.items() if tier == 1 and pk not in ever_escalated)
    share = at_tier1 / len(resolved) if resolved else 0.0
    return {
        "resolved": len(resolved),
        "resolved_at_tier1": at_tier1,
        "share": share,
        "target": RESOLVED_AT_TIER1_TARGET,
        "meets_target": bool(resolved) and share >= RESOLVED_AT_TIER1_TARGET,
    }
