"""Dry runs: what a rule (saved or draft) would do to recent cases, decided without writing anything."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from casework.cases.models import Case

from .engine import RuleSpec, simulate
from .services import case_facts

# --------------------------------------------------------------------------------------------------
# dry run
# --------------------------------------------------------------------------------------------------


@dataclass
class DryRunRow:
    reference: str
    subject: str
    matched: bool
    reasons: list[str]
    changes: dict[str, tuple[Any, Any]]
    error: str | None = None


def dry_run(*, spec: RuleSpec, last: int = 100) -> list[DryRunRow]:
    """What `spec` would do to the last `last` cases, without changing anything."""
    spec.validate()
    rows = []
    cases = Case.objects.select_related("organisation", "category", "customer").prefetch_related("tags")
    for case in cases.order_by("-created_at")[: max(1, min(last, 1000))]:
        facts = case_facts(case)
        facts["tags"] = sorted(t.name for t in case.tags.all())
        final, outcomes = simulate([spec], spec.trigger, facts)
        outcome = outcomes[0] if outcomes else None
        changes = {
            k: (facts.get(k), v) for k, v in final.items() if facts.get(k) != v and k not in ("text", "body")
        }
        rows.append(
            DryRunRow(
                reference=case.reference,
                subject=case.subject,
                matched=bool(outcome and outcome.matched),
                reasons=outcome.reasons if outcome else [],
                changes=changes,
                error=outcome.error if outcome else None,
            )
        )
    return rows


def spec_from_draft(*, name: str, trigger: str, conditions: Any, actions: Any, order: int = 100) -> RuleSpec:
    spec = RuleSpec(
        id="draft", name=name or "draft", trigger=trigger, conditions=conditions, actions=actions, order=order
    )
    spec.validate()
    return spec
