"""/api/v1 retention and privacy: the retention dry run, legal holds, erasure on request (managers+)."""

from __future__ import annotations

from ninja import Router, Schema
from pydantic import Field, StrictBool

from casework.cases import selectors
from casework.core.errors import NotFound
from casework.people.models import Customer, Organisation
from casework.people.permissions import MANAGER, require_role
from casework.privacy import retention, services

router = Router(tags=["privacy"])


class HoldIn(Schema):
    held: StrictBool = Field(description="true sets a hold, false releases it")
    reason: str = Field(min_length=1, max_length=500, description="Why (on the case timeline)")


class HoldOut(Schema):
    hold: int
    held: bool
    reason: str


class EraseIn(Schema):
    reason: str = Field(min_length=1, max_length=500, description="Recorded on each case")
    dry_run: StrictBool = Field(default=True, description="Count only (the default); false erases")


class PolicyCountsOut(Schema):
    policy: str
    action: str
    purge_attachments: int
    anonymise: int
    delete: int
    held: int


class PreviewOut(Schema):
    policies: list[PolicyCountsOut]


class EraseOut(Schema):
    dry_run: bool
    counts: dict[str, int]
    applied: dict[str, int]
    blocked_by: list[str]


@router.get("/retention/preview", response=PreviewOut, summary="What the retention job would do now")
def retention_preview(request):
    require_role(request.auth, MANAGER, "retention")
    return {"policies": [p.as_dict() for p in retention.plan()]}


@router.post("/cases/{reference}/legal-hold", response=HoldOut, summary="Set or release a case's legal hold")
def case_legal_hold(request, reference: str, payload: HoldIn):
    require_role(request.auth, MANAGER, "legal holds")
    case = selectors.case_get(reference, user=request.auth, write=True)
    door = services.case_set_legal_hold if payload.held else services.case_release_legal_hold
    hold = door(case=case, actor=request.auth, reason=payload.reason)
    return {"hold": hold.pk, "held": payload.held, "reason": payload.reason}


@router.post(
    "/organisations/{organisation_id}/legal-hold",
    response=HoldOut,
    summary="Set or release an organisation's legal hold (all its cases)",
)
def organisation_legal_hold(request, organisation_id: int, payload: HoldIn):
    require_role(request.auth, MANAGER, "legal holds")
    organisation = Organisation.objects.filter(pk=organisation_id).first()
    if organisation is None:
        raise NotFound(f"No organisation {organisation_id}", code="organisation_not_found")
    door = services.organisation_set_legal_hold if payload.held else services.organisation_release_legal_hold
    hold = door(organisation=organisation, actor=request.auth, reason=payload.reason)
    return {"hold": hold.pk, "held": payload.held, "reason": payload.reason}


@router.post("/customers/{customer_id}/erase", response=EraseOut, summary="Erase a customer on request")
def erase_customer(request, customer_id: int, payload: EraseIn):
    require_role(request.auth, MANAGER, "erasing customers")
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(f"No customer {customer_id}", code="customer_not_found")
    result = services.customer_erase(
        customer=customer, actor=request.auth, reason=payload.reason, dry_run=payload.dry_run
    )
    return {"dry_run": payload.dry_run, **{k: result[k] for k in ("counts", "applied", "blocked_by")}}
