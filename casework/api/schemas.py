"""Request and response shapes. Inputs forbid unknown fields so a typo is an error, not a silent no-op."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import ConfigDict, Field, StrictBool

PriorityName = Literal["critical", "high", "medium", "low"]
ChannelName = Literal["email", "web", "chat", "phone", "api", "webhook"]
StatusName = Literal["new", "triaged", "in_progress", "awaiting_client", "resolved", "closed"]
TierName = Literal["standard", "business", "enterprise"]


class StrictIn(Schema):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


# A JSON boolean and nothing else: `"internal": 0` must not quietly become a public reply that is emailed.
Flag = StrictBool


class OrganisationRef(Schema):
    id: int
    name: str
    tier: str
    vip: bool


class CustomerRef(Schema):
    id: int
    email: str | None  # None for a caller known only by phone
    name: str
    organisation: OrganisationRef | None = None


class CaseOut(Schema):
    id: int
    reference: str
    subject: str
    status: str
    priority: str
    category: str | None
    channel: str
    tier: int
    customer: CustomerRef
    organisation: OrganisationRef | None
    team: str | None
    assignee: str | None
    tags: list[str]
    sentiment: float | None
    frustrated: bool
    merged_into: str | None
    follow_up_of: str | None
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    url: str


class AppliedRuleOut(Schema):
    rule: str | None
    explanation: str | None
    at: datetime


class CaseDetailOut(CaseOut):
    description: str
    custom_fields: dict
    allowed_transitions: list[str]
    applied_rules: list[AppliedRuleOut]


class CaseListOut(Schema):
    count: int = Field(
        description="Matches in all: exact when count_exact is true; above CASEWORK_API_EXACT_COUNT_LIMIT "
        "the database's estimate (PostgreSQL's planner; on SQLite the table's analysed row count for an "
        "unfiltered list, else the lower bound limit + 1)"
    )
    count_exact: bool = Field(
        default=True,
        description="false when more cases matched than CASEWORK_API_EXACT_COUNT_LIMIT and count is an "
        "estimate; pages (offset, limit) stay exact, an empty page is the end",
    )
    limit: int
    offset: int
    items: list[CaseOut]
    next_cursor: str | None = Field(
        default=None,
        description="Send as cursor for the next page (same ordering and filters); null on the last page and "
        "for the orders that page by offset only (due, relevance)",
    )
    search_cut: bool = Field(
        default=False,
        description="q ordered by relevance matched more than CASEWORK_SEARCH_RANK_LIMIT cases: count and "
        "items are the most recent that many, best first",
    )


class CaseCreateIn(StrictIn):
    subject: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=262144)
    customer_email: str = Field(min_length=3, max_length=254)
    customer_name: str = Field(default="", max_length=200)
    channel: ChannelName = "api"
    priority: PriorityName | None = None
    category: str | None = Field(default=None, max_length=100)
    tags: list[str] = Field(default_factory=list, max_length=20)
    custom_fields: dict = Field(default_factory=dict)


class CasePatchIn(StrictIn):
    priority: PriorityName | None = None
    category: str | None = Field(default=None, max_length=100)
    assignee: str | None = Field(default=None, max_length=150, description="Username, or null to unassign")
    team: str | None = Field(default=None, max_length=100, description="Team name, or null for no team")
    subject: str | None = Field(default=None, min_length=1, max_length=300)
    reason: str = Field(default="", max_length=2000)


class TransitionIn(StrictIn):
    to: StatusName
    reason: str = Field(default="", max_length=2000)


class MessageIn(StrictIn):
    body: str = Field(min_length=1, max_length=262144)
    internal: Flag = False


class MessageOut(Schema):
    id: int
    kind: str
    channel: str
    direction: str
    author: str
    body: str
    created_at: datetime
    meta: dict


class EventOut(Schema):
    id: int
    kind: str
    actor: str
    old: object | None
    new: object | None
    reason: str
    data: dict
    created_at: datetime


class CustomerIn(StrictIn):
    email: str = Field(min_length=3, max_length=254)
    name: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=50)
    organisation_id: int | None = None
    external_id: str = Field(default="", max_length=100)


class CustomerOut(Schema):
    id: int
    email: str | None  # None for a caller known only by phone
    name: str
    phone: str
    external_id: str
    organisation: OrganisationRef | None
    created_at: datetime


class CustomerDetailOut(CustomerOut):
    open_cases: int
    total_cases: int


class OrganisationIn(StrictIn):
    name: str = Field(min_length=1, max_length=200)
    tier: TierName = "standard"
    vip: Flag = False
    domains: list[str] = Field(default_factory=list, max_length=50)
    notes: str = Field(default="", max_length=10000)
    external_id: str = Field(default="", max_length=100)


class OrganisationOut(Schema):
    id: int
    name: str
    tier: str
    vip: bool
    domains: list[str]
    notes: str
    external_id: str
    created_at: datetime


class PageOut(Schema):
    count: int
    limit: int
    offset: int
