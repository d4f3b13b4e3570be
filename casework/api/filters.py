"""The case filters `GET /cases` and `GET /search/cases` share: one schema, one validation, one builder of
`cases.selectors.CaseFilter`, so the two endpoints cannot drift apart. A bad value is a 422 with a stable
code (`invalid_status`, `invalid_priority`, `invalid_view`, `invalid_channel`, `invalid_ordering`) and the
allowed values in `details`."""

from __future__ import annotations

from ninja import Schema
from pydantic import Field

from casework.cases import selectors
from casework.cases.status import Channel, Priority, Status
from casework.core.errors import ValidationFailed


class CaseFilterQuery(Schema):
    view: str = Field(default="all", description=" | ".join(selectors.VIEWS))
    status: list[str] = Field(default_factory=list)
    priority: list[str] = Field(default_factory=list)
    category: str = ""
    team: str = Field(default="", description="team name or id")
    assignee: str = Field(default="", description='username, or "none" for unassigned')
    customer_email: str = ""
    channel: str = ""
    tag: str = ""


def _check(field: str, values: list[str], allowed: list[str] | tuple[str, ...]) -> None:
    for value in values:
        if value not in allowed:
            raise ValidationFailed(
                f"Unknown {field} '{value}'",
                code=f"invalid_{field}",
                details={"field": field, "value": value, "allowed": list(allowed)},
            )


def case_filter(query: CaseFilterQuery, *, q: str = "", ordering: str = "") -> selectors.CaseFilter:
    """Validate the shared filters and build the selector's filter. `ordering` defaults to relevance
    with a query and newest without."""
    _check("status", query.status, Status.values)
    _check("priority", query.priority, Priority.values)
    _check("view", [query.view], selectors.VIEWS)
    if query.channel:
        _check("channel", [query.channel], Channel.values)
    q = q.strip()
    ordering = ordering or ("relevance" if q else "newest")
    if ordering not in selectors.ORDERINGS:
        raise ValidationFailed(
            f"Unknown ordering '{ordering}'",
            code="invalid_ordering",
            details={"field": "ordering", "value": ordering, "allowed": list(selectors.ORDERINGS)},
        )
    return selectors.CaseFilter(
        view=query.view,
        status=query.status,
        priority=query.priority,
        category=query.category,
        team=query.team,
        assignee=query.assignee,
        customer_email=query.customer_email,
        channel=query.channel,
        tag=query.tag,
        q=q,
        ordering=ordering,
    )
