"""/api/v1/customers and /api/v1/organisations."""

from __future__ import annotations

from django.db.models import Count, Q
from ninja import Query, Router, Schema, Status
from pydantic import Field

from casework.cases.status import OPEN_STATUSES
from casework.core.errors import NotFound
from casework.people import selectors
from casework.people.models import Organisation
from casework.people.permissions import MANAGER, require_role
from casework.people.services import customer_create, organisation_create

from ..auth import ADMIN
from ..schemas import CustomerDetailOut, CustomerIn, OrganisationIn, OrganisationOut
from ..serializers import customer_dict, organisation_dict

router = Router(tags=["people"])


class PageQuery(Schema):
    q: str = Field(default="", max_length=200)
    limit: int = Field(default=25, ge=1, le=200)
    # Bounded: a 30-digit offset was a 500 (SQLite integers are 64-bit; found by make fuzz).
    offset: int = Field(default=0, ge=0, le=1_000_000_000)


@router.get("/customers", summary="List customers")
def list_customers(request, params: Query[PageQuery]):
    qs = selectors.customer_list()
    if params.q:
        qs = qs.filter(Q(email__icontains=params.q) | Q(name__icontains=params.q))
    count = qs.count()
    items = [customer_dict(c) for c in qs[params.offset : params.offset + params.limit]]
    return {"count": count, "limit": params.limit, "offset": params.offset, "items": items}


def _customer_detail(customer_id: int) -> dict:
    customer = (
        selectors.customer_list()
        .annotate(
            total_cases=Count("cases"), open_cases=Count("cases", filter=Q(cases__status__in=OPEN_STATUSES))
        )
        .filter(pk=customer_id)
        .first()
    )
    if customer is None:
        raise NotFound(f"No customer {customer_id}", code="customer_not_found")
    return {**customer_dict(customer), "open_cases": customer.open_cases, "total_cases": customer.total_cases}


@router.get("/customers/{customer_id}", response=CustomerDetailOut, summary="One customer")
def get_customer(request, customer_id: int):
    return _customer_detail(customer_id)


@router.post("/customers", response={201: CustomerDetailOut}, summary="Create a customer")
def create_customer(request, payload: CustomerIn):
    organisation = None
    if payload.organisation_id is not None:
        organisation = Organisation.objects.filter(pk=payload.organisation_id).first()
        if organisation is None:
            raise NotFound(f"No organisation {payload.organisation_id}", code="organisation_not_found")
    customer = customer_create(
        email=payload.email,
        name=payload.name,
        phone=payload.phone,
        organisation=organisation,
        external_id=payload.external_id,
    )
    return Status(201, _customer_detail(customer.pk))


@router.get("/organisations", summary="List organisations")
def list_organisations(request, params: Query[PageQuery]):
    qs = selectors.organisation_list()
    if params.q:
        qs = qs.filter(name__icontains=params.q)
    count = qs.count()
    items = [organisation_dict(o) for o in qs[params.offset : params.offset + params.limit]]
    return {"count": count, "limit": params.limit, "offset": params.offset, "items": items}


@router.get("/organisations/{organisation_id}", response=OrganisationOut, summary="One organisation")
def get_organisation(request, organisation_id: int):
    org = selectors.organisation_list().filter(pk=organisation_id).first()
    if org is None:
        raise NotFound(f"No organisation {organisation_id}", code="organisation_not_found")
    return organisation_dict(org)


@router.post("/organisations", auth=ADMIN, response={201: OrganisationOut}, summary="Create an organisation")
def create_organisation(request, payload: OrganisationIn):
    # Tier and VIP drive SLA targets: a manager's decision, not an agent's.
    require_role(request.auth, MANAGER, "organisations")
    org = organisation_create(
        name=payload.name,
        tier=payload.tier,
        vip=payload.vip,
        domains=payload.domains,
        notes=payload.notes,
        external_id=payload.external_id,
    )
    return Status(201, organisation_dict(selectors.organisation_list().get(pk=org.pk)))
