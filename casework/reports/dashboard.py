"""The dashboard for leads and managers: today's tiles beside the playbook targets, and trend charts.

Everything on it is computed by the selectors (a fixed number of queries whatever the number of cases)
and kept in the shared reports cache (a database table every process reads) for
CASEWORK_REPORTS_CACHE_SECONDS, keyed by the filters and the local date, so a room of managers reloading
it costs one computation a minute. The weekly charts' ended weeks are kept for a day, filled ahead by the
worker (`warm`, the `reports-warm` job). `make bench` measures a cold build."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.utils import timezone

from casework.core.budget import StepBudget

from . import charts, selectors, targets
from .filters import ReportFilter, local_today, report_zone
from .format import duration, percent
from .registry import get
from .targets import Target


@dataclass
class Tile:
    key: str
    title: str
    text: str
    status: str  # good | warn | bad | none | info
    definition: str
    target: str = ""
    detail: str = ""
    drill: str = ""  # the figure name for the drill-down list ("" = none)
    drill_params: dict[str, str] = field(default_factory=dict)
    trend: str = ""


@dataclass
class Dashboard:
    tiles: list[Tile]
    charts: list[tuple[str, str, str]]  # (title, definition, svg)
    computed_at: datetime
    seconds: float


def _judge(target: Target, value: float | None) -> str:
    return target.status(value)


def _delta(now: float | None, before: float | None, fmt) -> str:
    if now is None or before is None:
        return ""
    return f"last week {fmt(before)}"


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def build(base: ReportFilter, *, now: datetime | None = None) -> Dashboard:
    """Compute the tiles and charts. `base` carries the attribute filters; its dates are ignored."""
    import time

    started = time.perf_counter()
    now = now or timezone.now()
    today = local_today(now)
    monday = week_start(today)
    today_f = base.with_range(today, today)
    week_f = base.with_range(monday, today)
    # Last week up to the same weekday, so Tuesday is compared with last Tuesday, not a whole week.
    last_week_f = base.with_range(monday - timedelta(days=7), today - timedelta(days=7))

    live = selectors.live_counts(base, now=now)
    new_today = selectors.new_cases(today_f)
    new_yesterday = selectors.new_cases(base.with_range(today - timedelta(days=1), today - timedelta(days=1)))
    frt_today = selectors.first_response_business(today_f)
    res_week = selectors.resolution_business(week_f)
    res_last = selectors.resolution_business(last_week_f)
    sla_week = selectors.sla_compliance_total(week_f)
    sla_last = selectors.sla_compliance_total(last_week_f)
    t1_week = selectors.tier1_resolution(week_f)
    t1_last = selectors.tier1_resolution(last_week_f)
    csat = get("csat")
    csat_value = csat.headline(week_f) if csat.available and csat.headline else None

    d = {
        m.name: m.definition
        for m in (get(n) for n in ("first_response", "resolution", "sla", "tier1_resolution"))
    }
    tiles = [
        Tile(
            "open",
            "Open",
            str(live["open"]),
            "info",
            "Cases open now (new, triaged, in progress, awaiting client).",
            drill="open",
        ),
        Tile(
            "unassigned",
            "Unassigned",
            str(live["unassigned"]),
            "warn" if live["unassigned"] else "good",
            "Open cases nobody owns now.",
            drill="unassigned",
        ),
        Tile(
            "at_risk",
            "At risk",
            str(live["at_risk"]),
            targets.live_status(live["at_risk"], breach=False),
            "Open cases with an SLA clock inside its at-risk window, not yet due.",
            target="0",
            drill="at_risk",
        ),
        Tile(
            "breached",
            "Breached",
            str(live["breached"]),
            targets.live_status(live["breached"], breach=True),
            "Open cases with an SLA clock past its due time and still counting.",
            target="0",
            drill="breached",
        ),
        Tile(
            "new",
            "New today",
            str(new_today),
            "info",
            "Cases opened today (local day), merged cases left out.",
            trend=f"yesterday {new_yesterday}",
            drill="new",
            drill_params=_range(today, today),
        ),
        Tile(
            "first_response",
            "First response today",
            duration(frt_today.median),
            _judge(targets.FIRST_RESPONSE, frt_today.median),
            "Median business time to the first agent reply, for cases first answered today. "
            + d["first_response"],
            target=targets.FIRST_RESPONSE.label,
            detail=f"p90 {duration(frt_today.p90)} · {frt_today.count} answered"
            if frt_today.count
            else "none answered yet",
            drill="first_response",
            drill_params=_range(today, today),
        ),
        Tile(
            "sla",
            "SLA this week",
            percent(sla_week[2]),
            _judge(targets.SLA_COMPLIANCE, sla_week[2]),
            "Both SLA clocks, Monday to now. " + d["sla"],
            target=targets.SLA_COMPLIANCE.label,
            detail=f"{sla_week[0]} met · {sla_week[1]} breached",
            trend=_delta(sla_week[2], sla_last[2], percent),
            drill="sla_breaches",
            drill_params=_range(monday, today),
        ),
        Tile(
            "resolution",
            "Resolution this week",
            duration(res_week.median),
            _judge(targets.RESOLUTION, res_week.median),
            "Median business time to resolution, cases resolved Monday to now. " + d["resolution"],
            target=targets.RESOLUTION.label,
            detail=f"p90 {duration(res_week.p90)} · {res_week.count} resolved"
            if res_week.count
            else "none resolved yet",
            trend=_delta(res_week.median, res_last.median, duration),
            drill="resolved",
            drill_params=_range(monday, today),
        ),
        Tile(
            "tier1",
            "Resolved at tier 1",
            percent(t1_week["rate"]),
            _judge(targets.TIER1_RESOLUTION, t1_week["rate"]),
            "Monday to now. " + d["tier1_resolution"],
            target=targets.TIER1_RESOLUTION.label,
            detail=f"{t1_week['tier1']} of {t1_week['resolved']} resolved",
            trend=_delta(t1_week["rate"], t1_last["rate"], percent),
            drill="tier1",
            drill_params=_range(monday, today),
        ),
        Tile(
            "csat",
            "CSAT this week",
            f"{csat_value:.2f}"
            if csat_value is not None
            else ("No CSAT data yet" if not csat.available else "—"),
            _judge(targets.CSAT, csat_value),
            csat.definition,
            target=targets.CSAT.label,
            detail="" if csat.available else "appears when the CSAT surveys land",
        ),
    ]
    chart_list = _charts(base, today, now)
    return Dashboard(tiles=tiles, charts=chart_list, computed_at=now, seconds=time.perf_counter() - started)


def _range(start: date, end: date) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat()}


def _charts(base: ReportFilter, today: date, now: datetime) -> list[tuple[str, str, str]]:
    days_f = base.with_range(today - timedelta(days=29), today)
    volume = {r["period"]: r["count"] for r in selectors.volume(days_f)}
    labels = [f"{d:%d %b}" for d in days_f.days]
    backlog = selectors.backlog(days_f, now=now)
    weeks_f = _weeks_range(base, today)
    weekly = selectors.weekly_series(weeks_f)
    week_labels = [f"{w['week']:%d %b}" for w in weekly]
    return [
        (
            "New cases per day · 30 days",
            get("volume").definition,
            charts.bar("", labels, {"new": [volume.get(d, 0) for d in days_f.days]}),
        ),
        (
            "Backlog at the end of each day · 30 days",
            get("backlog").definition,
            charts.line("", labels, {"open": [n for _, n in backlog]}, counts=True),
        ),
        (
            "First response p90 per week, business hours · 12 weeks",
            get("first_response").definition,
            charts.line(
                "",
                week_labels,
                {
                    "p90 (h)": [
                        round(w["frt_p90"] / 3600, 2) if w["frt_p90"] is not None else None for w in weekly
                    ]
                },
                target=1.0,
                target_label="target 1 h",
            ),
        ),
        (
            "SLA compliance per week · 12 weeks",
            get("sla").definition,
            charts.line(
                "",
                week_labels,
                {"SLA %": [w["sla"] for w in weekly]},
                target=95.0,
                target_label="target 95 %",
                percent=True,
            ),
        ),
    ]


def _weeks_range(base: ReportFilter, today: date) -> ReportFilter:
    return base.with_range(week_start(today) - timedelta(weeks=11), today)


# A warm run starts another week only if one as long as the longest so far still fits in this budget:
# after the kept weeks expire (once a day) the eleven ended weeks took 1.5 s in one run at a million
# cases; read a week at a time, a run stays near half a second and the scheduler runs the next one
# within seconds (a {"backlog": True} answer).
WARM_BUDGET_SECONDS = 0.5


def warm(*, now: datetime | None = None, budget: float = WARM_BUDGET_SECONDS) -> dict[str, Any]:
    """Put the weeks that ended, of the 12-week charts, in the shared reports cache for every scope a
    dashboard is opened with: every team (managers) and each lead's own teams. Only weeks not kept yet
    are read (`selectors.weekly_series`, one week at a time: a week's row is kept under the same key
    whichever range asked for it), so a run at rest reads nothing from the case tables."""
    from django.contrib.auth import get_user_model

    from casework.people import permissions

    if not settings.CASEWORK["REPORTS_PAST_WEEKS_SECONDS"]:
        return {"kept": "past weeks are not kept (CASEWORK_REPORTS_PAST_WEEKS_SECONDS=0)"}
    today = local_today(now)
    last_sunday = week_start(today) - timedelta(days=1)
    scopes: set[frozenset[int] | None] = {None}
    leads = get_user_model().objects.filter(is_active=True, agent__role=permissions.LEAD)
    scopes |= {permissions.led_team_ids(user) for user in leads}
    first = _weeks_range(ReportFilter(start=today, end=today), today).start
    weeks = [first + timedelta(weeks=i) for i in range((last_sunday - first).days // 7 + 1)]
    steps = StepBudget(budget)
    for teams in sorted(scopes, key=lambda s: sorted(s) if s else []):
        for monday in weeks:
            if not steps.fits():
                return {"kept": f"{steps.steps} week(s) read this run", "read": steps.steps, "backlog": True}
            week = ReportFilter(start=monday, end=monday + timedelta(days=6), teams=teams)
            with steps.step() as step:
                if not selectors.weekly_series_read(week):
                    step.skip()  # kept already: a cache hit is not a step
    read = steps.steps
    kept = f"weeks {first:%d %b} – {last_sunday:%d %b} kept for {len(scopes)} scope(s)"
    return {"kept": kept, "read": read}


def cached(base: ReportFilter, *, now: datetime | None = None) -> Dashboard:
    seconds = settings.CASEWORK["REPORTS_CACHE_SECONDS"]
    if not seconds:
        return build(base, now=now)
    params = sorted(base.as_params().items())
    described = repr([(k, v) for k, v in params if k not in ("start", "end")])
    described += ":" + local_today(now).isoformat() + ":" + str(report_zone()) + ":teams=" + base.scope_key()
    # A digest keeps the key short and free of spaces, whatever the filter holds (memcached refuses both).
    key = "reports:dashboard:" + hashlib.sha256(described.encode()).hexdigest()
    board = caches["reports"].get(key)
    if board is None:
        board = build(base, now=now)
        caches["reports"].set(key, board, seconds)
    return board


def as_dict(board: Dashboard) -> dict[str, Any]:
    return {
        "computed_at": board.computed_at.isoformat(),
        "tiles": [
            {k: getattr(t, k) for k in ("key", "title", "text", "status", "target", "detail", "trend")}
            for t in board.tiles
        ],
    }
