"""/api/v1/cases/{reference}/clocks — SLA clocks of a case with their ledger (read-only)."""

from __future__ import annotations

from datetime import datetime

from ninja import Router, Schema

from casework.cases import selectors as case_selectors
from casework.sla.selectors import case_clocks

router = Router(tags=["sla"])


class LedgerEntryOut(Schema):
    kind: str
    at: datetime
    due_before: datetime | None
    due_after: datetime | None
    consumed_seconds: int
    reason: str
    actor: str


class ClockOut(Schema):
    metric: str
    state: str
    paused: bool
    at_risk: bool
    policy: str
    calendar: str | None
    priority: str
    customer_tier: str
    target_seconds: int
    used_seconds: int
    left_seconds: int | None
    started_at: datetime
    due_at: datetime | None
    at_risk_at: datetime | None
    paused_since: datetime | None
    breached_at: datetime | None
    stopped_at: datetime | None
    ledger: list[LedgerEntryOut]


@router.get(
    "/cases/{reference}/clocks",
    response=list[ClockOut],
    summary="SLA clocks of a case",
    description="Each metric's clock with the business time used and left, and its ledger (why it is due "
    "when it is).",
)
def list_clocks(request, reference: str):
    case = case_selectors.case_get(reference, user=request.auth)
    result = []
    for view in case_clocks(case):
        c = view.clock
        result.append(
            {
                "metric": c.metric,
                "state": c.state,
                "paused": view.paused,
                "at_risk": view.at_risk,
                "policy": c.policy_name,
                "calendar": c.calendar.name if c.calendar_id else None,
                "priority": c.priority,
                "customer_tier": c.customer_tier,
                "target_seconds": int(c.target.total_seconds()),
                "used_seconds": int(view.used.total_seconds()),
                "left_seconds": int(view.left.total_seconds()) if view.left is not None else None,
                "started_at": c.started_at,
                "due_at": c.due_at,
                "at_risk_at": c.at_risk_at,
                "paused_since": c.paused_since,
                "breached_at": c.breached_at,
                "stopped_at": c.stopped_at,
                "ledger": [
                    {
                        "kind": e.kind,
                        "at": e.at,
                        "due_before": e.due_before,
                        "due_after": e.due_after,
                        "consumed_seconds": int(e.consumed.total_seconds()),
                        "reason": e.reason,
                        "actor": e.actor_label,
                    }
                    for e in view.ledger
                ],
            }
        )
    return result
