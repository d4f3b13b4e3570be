"""Bulk changes from the queue: the same doors as one case at a time, in one write.

Every case gets exactly the events its single-case door writes (one per change it makes), the reactions
(SLA recalculation, routing, mail) are decided for the whole batch together, and the cases are locked
with one query in id order. A case a door refuses (a transition its status does not allow, a closed
case) is skipped with the reason and the others go on — each door validates before it writes anything,
so a refusal leaves nothing half-done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from casework.core.errors import ApplicationError, ValidationFailed

from ..models import Case
from ..status import Priority, Status
from ._core import Actor, _check_choice, _tags
from .lifecycle import case_transition
from .ownership import case_assign, case_set_priority, case_set_tags, case_set_team
from .unit_of_work import active, door

BULK_MAX = 1000
_UNSET: Any = object()


@dataclass
class BulkResult:
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # reference -> why

    def summary(self) -> str:
        parts = [f"Updated {len(self.changed)} case{'s' if len(self.changed) != 1 else ''}"]
        if self.unchanged:
            parts.append(f"{len(self.unchanged)} already as asked")
        if self.skipped:
            shown = "; ".join(f"{ref}: {why}" for ref, why in list(self.skipped.items())[:5])
            more = f" and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
            parts.append(f"{len(self.skipped)} skipped ({shown}{more})")
        return ", ".join(parts) + "."


@door
def cases_bulk_update(
    *,
    cases: Sequence[Case],
    actor: Any,
    reason: str = "",
    assignee: Any = _UNSET,
    team: Any = _UNSET,
    priority: str | None = None,
    status: str | None = None,
    add_tags: Sequence[str] = (),
) -> BulkResult:
    """Assign (None = back to the queue), set team / priority / status, add tags on many cases at once."""
    actor = Actor.of(actor)
    if not cases:
        raise ValidationFailed("Select at least one case", code="nothing_selected")
    if len(cases) > BULK_MAX:
        raise ValidationFailed(f"At most {BULK_MAX} cases at once", code="too_many")
    if priority is not None:
        _check_choice(priority, Priority, field="priority")
    if status is not None:
        _check_choice(status, Status, field="status")
    tags = _tags(add_tags) if add_tags else ()
    if assignee is _UNSET and team is _UNSET and priority is None and status is None and not tags:
        raise ValidationFailed("Choose something to change", code="nothing_to_change")
    if assignee not in (_UNSET, None) and (not assignee.is_active or not hasattr(assignee, "agent")):
        raise ValidationFailed(f"{assignee} is not an active agent", code="invalid_assignee")
    work = active()
    locked = work.lock_many([case.pk for case in cases])
    result = BulkResult()
    for pk in sorted(locked):
        case = locked[pk]
        before = len(work.events)
        try:
            with work.savepoint(eager=True):
                if team is not _UNSET:
                    case_set_team(case=case, team=team, actor=actor, reason=reason)
                if assignee is not _UNSET:
                    case_assign(case=case, assignee=assignee, actor=actor, reason=reason)
                if priority is not None:
                    case_set_priority(case=case, priority=priority, actor=actor, reason=reason)
                if tags:
                    case_set_tags(case=case, add=list(tags), actor=actor, reason=reason)
                if status is not None and status != case.status:
                    case_transition(case=case, to=status, actor=actor, reason=reason)
        except ApplicationError as exc:
            result.skipped[case.reference] = exc.message
            continue
        (result.changed if len(work.events) > before else result.unchanged).append(case.reference)
    return result


@door
def cases_bulk_merge(*, cases: Sequence[Case], target: Case, actor: Any, reason: str = "") -> BulkResult:
    """Merge many duplicates into `target` in one write. Each duplicate gets exactly the events
    `case_merge` writes (closed, merged into; the target a "merged" line per duplicate); a duplicate it
    would refuse is skipped with the reason. Every check runs on the locked rows before anything moves,
    so the moves are one statement per table for the whole batch, not per duplicate."""
    from .ownership import _merge_record, merge_move, merge_refusal

    actor = Actor.of(actor)
    sources = [case for case in cases if case.pk != target.pk]
    if not sources:
        raise ValidationFailed(
            "Select the duplicates to merge, besides the case they go into", code="nothing_selected"
        )
    if len(sources) > BULK_MAX:
        raise ValidationFailed(f"At most {BULK_MAX} cases at once", code="too_many")
    work = active()
    locked = work.lock_many([case.pk for case in sources] + [target.pk])
    into = locked[target.pk]
    result = BulkResult()
    accepted: list[Case] = []
    for pk in sorted({case.pk for case in sources}):
        case = locked[pk]
        refusal = merge_refusal(case, into)
        if refusal is not None:
            result.skipped[case.reference] = refusal.message
        else:
            accepted.append(case)
    if accepted:
        moved = merge_move(accepted, into)
        for case in accepted:
            _merge_record(case, into, actor, reason, moved[case.pk])
            result.changed.append(case.reference)
    return result
