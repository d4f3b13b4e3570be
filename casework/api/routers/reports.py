"""/api/v1/metrics and /api/v1/metrics/{name} — the report metrics with the reports page's filters
(start, end, team, agent, priority, category, channel, tier, and the metric's options such as by/split).
Values are machine-readable: durations in seconds, shares in percent, dates in ISO 8601."""

from __future__ import annotations

from typing import Any

from ninja import Router, Schema

from casework.people.permissions import LEAD, require_role
from casework.reports import registry
from casework.reports.filters import parse_filter
from casework.reports.format import csv_cell

router = Router(tags=["reports"])


class ColumnOut(Schema):
    key: str
    label: str
    kind: str


class TableOut(Schema):
    slug: str
    title: str
    columns: list[ColumnOut]
    rows: list[dict[str, Any]]
    empty: str
    note: str


class MetricInfo(Schema):
    name: str
    title: str
    definition: str
    section: str
    available: bool
    options: dict[str, list[str]]


class MetricOut(MetricInfo):
    start: str
    end: str
    filters: dict[str, str]
    message: str
    tables: list[TableOut]


def _info(m: registry.MetricDef) -> dict[str, Any]:
    return {
        "name": m.name,
        "title": m.title,
        "definition": m.definition,
        "section": m.section,
        "available": m.available,
        "options": {o.name: [c for c, _ in o.choices] for o in m.options},
    }


@router.get("/metrics", response=list[MetricInfo], summary="The report metrics and their definitions")
def list_metrics(request):
    return [_info(m) for m in registry.all_metrics()]


@router.get(
    "/metrics/{name}",
    response=MetricOut,
    summary="One metric over a date range with filters",
    description="Query: start, end (local dates, default the last 30 days), team, agent (ids), priority, "
    "category (id), channel, tier (organisation tier), and the metric's options. Unknown values are a 422 "
    "`invalid_filter`; an unknown metric a 404 `unknown_metric`. A lead sees the teams they lead only: "
    "another team is a 403 `not_your_team`; managers and admins see every team.",
)
def get_metric(request, name: str):
    require_role(request.auth, LEAD, "report figures")
    metric = registry.get(name)
    # A lead's figures cover the teams they lead; naming another team is a 403 `not_your_team`.
    f = parse_filter(request.GET, user=request.auth)
    options = {o.name: request.GET.get(o.name, o.default) for o in metric.options}
    tables = metric.run(f, options)
    params = f.as_params()
    return {
        **_info(metric),
        "start": params.pop("start"),
        "end": params.pop("end"),
        "filters": params,
        "message": "" if metric.available else metric.unavailable,
        "tables": [
            {
                "slug": t.slug,
                "title": t.title,
                "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in t.columns],
                "rows": [{c.key: csv_cell(row.get(c.key), c.kind) for c in t.columns} for row in t.rows],
                "empty": t.empty,
                "note": t.note,
            }
            for t in tables
        ],
    }
