"""Report pages: the dashboard, the report builder with CSV export, the drill-down lists and saved
reports. Views parse and authorise; the figures come from selectors/metrics."""

from __future__ import annotations

import csv
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from casework.cases.models import Category
from casework.cases.status import Channel, Priority
from casework.core.errors import ApplicationError, PermissionDenied
from casework.people.models import OrganisationTier, Team
from casework.people.permissions import LEAD, report_team_ids, role_required, visible_cases

from . import charts, metrics, registry, selectors
from . import dashboard as dashboard_mod
from .filters import FILTER_FIELDS, local_today, parse_filter
from .format import cell, csv_cell
from .models import ReportKind, ReportSubscription, SavedReport

DRILL_TITLES = {
    "open": "Open cases",
    "unassigned": "Open cases nobody owns",
    "at_risk": "Open cases at risk of an SLA breach",
    "breached": "Open cases past an SLA target",
    "new": "Cases opened",
    "first_response": "Cases first answered",
    "resolved": "Cases resolved",
    "resolution": "Cases resolved",
    "tier1": "Cases resolved at tier 1",
    "sla_breaches": "Cases with an SLA breach",
}


def _filter_choices(user) -> dict:
    """The filter menus: a lead's hold only the teams they lead and those teams' members."""
    from django.contrib.auth import get_user_model

    allowed = report_team_ids(user)
    teams = Team.objects.order_by("name")
    agents = get_user_model().objects.filter(agent__isnull=False, is_active=True).order_by("username")
    if allowed is not None:
        teams = teams.filter(pk__in=allowed)
        agents = agents.filter(agent__teams__in=allowed).distinct()
    return {
        "teams": teams,
        "team_scope": "every" if allowed is None else ("mine" if allowed else "none"),
        "agents": agents,
        "priorities": Priority.choices,
        "categories": Category.objects.filter(active=True).order_by("name"),
        "channels": Channel.choices,
        "tiers": OrganisationTier.choices,
    }


def _bad_filter(request: HttpRequest, exc: ApplicationError, template: str) -> HttpResponse:
    """A filter that does not parse is a 400; a team the user may not read is a 403 saying whose it is."""
    return render(
        request,
        template,
        {"error": exc.message, **_filter_choices(request.user), "metrics": registry.all_metrics()},
        status=403 if isinstance(exc, PermissionDenied) else 400,
    )


def _refused(exc: ApplicationError) -> HttpResponse:
    if isinstance(exc, PermissionDenied):
        return HttpResponseForbidden(exc.message)
    return HttpResponseBadRequest(exc.message)


@role_required(LEAD)
def dashboard(request: HttpRequest) -> HttpResponse:
    try:
        base = parse_filter(request.GET, user=request.user)
    except ApplicationError as exc:
        return _bad_filter(request, exc, "reports/dashboard.html")
    board = dashboard_mod.cached(base)
    attrs = {k: v for k, v in base.as_params().items() if k in FILTER_FIELDS}
    tiles = []
    for tile in board.tiles:
        url = ""
        if tile.drill:
            url = (
                reverse("reports:cases")
                + "?"
                + urlencode({"figure": tile.drill, **attrs, **tile.drill_params})
            )
        tiles.append((tile, url))
    return render(
        request,
        "reports/dashboard.html",
        {
            "board": board,
            "tiles": tiles,
            "filters": base,
            "query": urlencode(attrs),
            **_filter_choices(request.user),
        },
    )


@role_required(LEAD)
def cases(request: HttpRequest) -> HttpResponse:
    figure = request.GET.get("figure", "")
    if figure not in DRILL_TITLES:
        return HttpResponseBadRequest(f"Unknown figure '{figure}'. Known: {', '.join(sorted(DRILL_TITLES))}")
    try:
        f = parse_filter(request.GET, default_days=1, user=request.user)
    except ApplicationError as exc:
        return _refused(exc)
    qs = visible_cases(selectors.cases_behind(f, figure), request.user).order_by("-created_at", "-id")
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    live = figure in ("open", "unassigned", "at_risk", "breached")
    return render(
        request,
        "reports/cases.html",
        {
            "title": DRILL_TITLES[figure],
            "range": "now" if live else f.describe(),
            "page": page,
            "query": params.urlencode(),
        },
    )


def _metric_and_filter(request: HttpRequest):
    metric = registry.get(request.GET.get("metric") or "volume")
    f = parse_filter(request.GET, user=request.user)
    options = {o.name: request.GET.get(o.name, o.default) for o in metric.options}
    return metric, f, options


@role_required(LEAD)
def report(request: HttpRequest) -> HttpResponse:
    try:
        metric, f, options = _metric_and_filter(request)
    except ApplicationError as exc:
        return _bad_filter(request, exc, "reports/report.html")
    tables = metric.run(f, options)
    rendered = []
    query = urlencode({"metric": metric.name, **f.as_params(), **options})
    for table in tables:
        rows = [
            [(cell(row.get(c.key), c.kind), c, row.get(c.key)) for c in table.columns] for row in table.rows
        ]
        chart = _table_chart(table)
        rendered.append({"table": table, "rows": rows, "chart": chart})
    saved = SavedReport.objects.filter(owner=request.user)
    subscribed = set(
        ReportSubscription.objects.filter(user=request.user, active=True).values_list("kind", flat=True)
    )
    sections: dict[str, list] = {}
    for m in registry.all_metrics():
        sections.setdefault(m.section, []).append(m)
    return render(
        request,
        "reports/report.html",
        {
            "metric": metric,
            "sections": sections,
            "filters": f,
            "options": options,
            "tables": rendered,
            "query": query,
            "saved": saved,
            "subscribed": subscribed,
            "report_kinds": ReportKind.choices,
            **_filter_choices(request.user),
        },
    )


def _table_chart(table: registry.Table) -> str:
    if not table.chart or not table.rows:
        return ""
    from . import charts

    kind, x, ys = table.chart
    labels = [cell(row.get(x), next(c.kind for c in table.columns if c.key == x)) for row in table.rows]
    series = {y: [row.get(y) or 0 for row in table.rows] for y in ys}
    if kind == "bar":
        return charts.bar("", labels, series)
    return charts.line("", labels, series, counts=True)


class _Echo:
    def write(self, value: str) -> str:
        return value


@role_required(LEAD)
def export_csv(request: HttpRequest, name: str) -> HttpResponse:
    """One table of a metric as CSV (every row, no page limit): machine-readable values."""
    params = request.GET.copy()
    params["metric"] = name
    request.GET = params
    try:
        metric, f, options = _metric_and_filter(request)
    except ApplicationError as exc:
        return _refused(exc)
    if name == "sla_breaches":
        tables = metrics.breaches_tables(f, limit=None)
    else:
        tables = metric.run(f, options)
    slug = request.GET.get("table") or (tables[0].slug if tables else "")
    table = next((t for t in tables if t.slug == slug), None)
    if table is None:
        return HttpResponseBadRequest(f"No table '{slug}' in {name}: {', '.join(t.slug for t in tables)}")
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow([c.label or c.key for c in table.columns])
        for row in table.rows:
            yield writer.writerow([csv_cell(row.get(c.key), c.kind) for c in table.columns])

    filename = f"casework-{slug}-{f.start.isoformat()}-{f.end.isoformat()}.csv"
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@role_required(LEAD)
@require_POST
def save_report(request: HttpRequest) -> HttpResponse:
    name = (request.POST.get("name") or "").strip()[:100]
    metric = request.POST.get("metric", "")
    try:
        registry.get(metric)
        f = parse_filter(request.POST, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(reverse("reports:report"))
    if not name:
        messages.error(request, "Give the report a name to save it.")
        return redirect(reverse("reports:report") + "?" + urlencode({"metric": metric, **f.as_params()}))
    params = {k: v for k, v in f.as_params().items() if k not in ("start", "end")}
    params["days"] = str((f.end - f.start).days + 1)
    for key in ("by", "split"):
        if request.POST.get(key):
            params[key] = request.POST[key]
    SavedReport.objects.update_or_create(
        owner=request.user, name=name, defaults={"metric": metric, "params": params}
    )
    messages.success(request, f"Saved “{name}”: it always shows the last {params['days']} days.")
    return redirect(
        reverse("reports:saved", args=[SavedReport.objects.get(owner=request.user, name=name).pk])
    )


@role_required(LEAD)
def open_saved(request: HttpRequest, pk: int) -> HttpResponse:
    saved = get_object_or_404(SavedReport, pk=pk, owner=request.user)
    params = dict(saved.params)
    days = int(params.pop("days", "30") or 30)
    end = local_today()
    params.update(
        metric=saved.metric, start=(end - timedelta(days=days - 1)).isoformat(), end=end.isoformat()
    )
    return redirect(reverse("reports:report") + "?" + urlencode(params))


@role_required(LEAD)
@require_POST
def delete_saved(request: HttpRequest, pk: int) -> HttpResponse:
    saved = get_object_or_404(SavedReport, pk=pk, owner=request.user)
    saved.delete()
    messages.success(request, f"Deleted “{saved.name}”.")
    return redirect(reverse("reports:report"))


@role_required(LEAD)
@require_POST
def subscribe(request: HttpRequest) -> HttpResponse:
    kind = request.POST.get("kind", "")
    if kind not in ReportKind.values:
        return HttpResponseBadRequest(f"Unknown report '{kind}'")
    on = request.POST.get("on") == "1"
    if on and not request.user.email:
        messages.error(request, "Your account has no email address: ask an admin to add one first.")
    else:
        ReportSubscription.objects.update_or_create(user=request.user, kind=kind, defaults={"active": on})
        label = ReportKind(kind).label
        messages.success(request, f"{label}: {'you will get it by email' if on else 'unsubscribed'}.")
    return redirect(request.POST.get("next") or reverse("reports:report"))


def chart_css(request: HttpRequest) -> HttpResponse:
    """The charts' stylesheet (casework/reports/charts.py): pages cannot carry it inline under the CSP.
    Public like any static file: it holds no data."""
    response = HttpResponse(charts.stylesheet(), content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    return response
