"""Scheduled report mails: the weekly volume and quality report and the daily summary, built once per
team scope and queued for every subscriber as outbox rows in one transaction (delivered by the worker,
like every mail).

A subscriber gets the figures they may read on the dashboard: managers and admins every team, a lead the
teams they lead (`permissions.report_team_ids`), so the job builds one mail per distinct scope; someone
who is no longer a lead gets none.

Idempotent: each mail's outbox key names the report, its period and the user, so a job that runs twice,
or a command run by hand after the job, queues nothing new."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from casework.notify.services import outbox_enqueue
from casework.sla.models import Metric

from . import charts, dashboard, selectors
from .filters import ReportFilter, local_today, report_zone
from .format import duration, percent
from .models import ReportKind, ReportSubscription
from .registry import get


@dataclass
class Figure:
    label: str
    value: str
    target: str = ""
    status: str = "info"
    definition: str = ""


@dataclass
class ReportMail:
    kind: str
    period: str  # the key of the period in the outbox key: a date or the Monday of the week
    subject: str
    text: str
    html: str
    figures: list[Figure] = field(default_factory=list)
    teams: frozenset[int] | None = None  # whose figures: None = every team


def _abs(path: str) -> str:
    return settings.BASE_URL + path


def last_full_week(today: date) -> tuple[date, date]:
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(days=7), monday - timedelta(days=1)


def weekly_report(*, week_start: date | None = None, base: ReportFilter | None = None) -> ReportMail:
    """The weekly volume and quality report for the week starting `week_start` (default: last week)."""
    from . import targets

    start = week_start or last_full_week(local_today())[0]
    end = start + timedelta(days=6)
    f = (base or ReportFilter(start=start, end=end)).with_range(start, end)
    before = f.with_range(start - timedelta(days=7), end - timedelta(days=7))
    volume = selectors.volume(f)
    by_channel = selectors.volume(f, split="channel")
    backlog = selectors.backlog(f)
    frt = selectors.response_times(f, "first_response")
    res = selectors.response_times(f, "resolution")
    sla = selectors.sla_compliance_total(f)
    sla_before = selectors.sla_compliance_total(before)
    quality = selectors.resolution_quality(f)
    tier1 = selectors.tier1_resolution(f)
    escalation = selectors.escalation(f)
    repeat = selectors.repeat_contacts(f)
    new_total = sum(r["count"] for r in volume)
    new_before = selectors.new_cases(before)
    csat = get("csat")
    csat_value = csat.headline(f) if csat.available and csat.headline else None
    frt_b, res_b = frt.business.get("all"), res.business.get("all")
    figures = [
        Figure("New cases", f"{new_total}", definition=get("volume").definition, status="info"),
        Figure("Open at the end of the week", str(backlog[-1][1] if backlog else 0), status="info"),
        Figure(
            "First response, median (business)",
            duration(frt_b.median if frt_b else None),
            targets.FIRST_RESPONSE.label,
            targets.FIRST_RESPONSE.status(frt_b.median if frt_b else None),
            get("first_response").definition,
        ),
        Figure("First response, p90 (business)", duration(frt_b.p90 if frt_b else None)),
        Figure(
            "Resolution, median (business)",
            duration(res_b.median if res_b else None),
            targets.RESOLUTION.label,
            targets.RESOLUTION.status(res_b.median if res_b else None),
            get("resolution").definition,
        ),
        Figure(
            "SLA compliance",
            f"{percent(sla[2])} ({sla[0]} met, {sla[1]} breached)",
            targets.SLA_COMPLIANCE.label,
            targets.SLA_COMPLIANCE.status(sla[2]),
            get("sla").definition,
        ),
        Figure(
            "Resolved at tier 1",
            percent(tier1["rate"]),
            targets.TIER1_RESOLUTION.label,
            targets.TIER1_RESOLUTION.status(tier1["rate"]),
            get("tier1_resolution").definition,
        ),
        Figure("First-contact resolution", percent(quality["fcr_rate"]), definition=get("fcr").definition),
        Figure("Reopen rate", percent(quality["reopen_rate"]), definition=get("reopen_rate").definition),
        Figure("Repeat-contact rate", percent(repeat["rate"]), definition=get("repeat_contact").definition),
        Figure("Escalation rate", percent(escalation["rate"]), definition=get("escalation").definition),
        Figure(
            "CSAT",
            f"{csat_value:.2f}" if csat_value is not None else "No CSAT data yet",
            targets.CSAT.label,
            targets.CSAT.status(csat_value),
            csat.definition,
        ),
    ]
    days = f.days
    per_day = {r["period"]: r["count"] for r in volume}
    volume_svg = charts.bar(
        "New cases per day", [f"{d:%a %d}" for d in days], {"new": [per_day.get(d, 0) for d in days]}
    )
    backlog_svg = charts.line(
        "Open at the end of each day", [f"{d:%a %d}" for d in days], {"open": [n for _, n in backlog]}
    )
    params = {"start": start.isoformat(), "end": end.isoformat()}
    exports = [
        ("New cases per day", _abs(reverse("reports:csv", args=["volume"]) + "?" + urlencode(params))),
        (
            "New cases by channel",
            _abs(reverse("reports:csv", args=["volume"]) + "?" + urlencode({**params, "split": "channel"})),
        ),
        (
            "First response by priority",
            _abs(
                reverse("reports:csv", args=["first_response"])
                + "?"
                + urlencode({**params, "table": "first_response-business"})
            ),
        ),
        ("SLA breaches", _abs(reverse("reports:csv", args=["sla_breaches"]) + "?" + urlencode(params))),
        ("Agent performance", _abs(reverse("reports:csv", args=["agents"]) + "?" + urlencode(params))),
    ]
    channels: dict[str, int] = {}
    for r in by_channel:
        channels[r["key"]] = channels.get(r["key"], 0) + r["count"]
    context = {
        "title": f"Weekly support report · {start:%d %b} – {end:%d %b %Y}",
        "figures": figures,
        "charts": [volume_svg, backlog_svg],
        "exports": exports,
        "channels": sorted(channels.items(), key=lambda kv: -kv[1]),
        "breaches": [{**b, "metric": Metric(b["metric"]).label} for b in selectors.sla_breaches(f, limit=10)],
        "slowest": frt.outliers[:5],
        "trend": (
            f"{new_total} new cases (week before: {new_before}); "
            f"SLA {percent(sla[2])} (week before: {percent(sla_before[2])})"
        ),
        "dashboard_url": _abs(reverse("reports:dashboard")),
        "zone": str(report_zone()),
    }
    html = render_to_string("reports/mail_report.html", context)
    text = render_to_string("reports/mail_report.txt", context)
    return ReportMail(
        kind=ReportKind.WEEKLY,
        period=start.isoformat(),
        subject=f"[casework] Weekly report {start:%d %b} – {end:%d %b %Y}{_scope_label(f.teams)}",
        text=text,
        html=html,
        figures=figures,
        teams=f.teams,
    )


def _scope_label(teams: frozenset[int] | None) -> str:
    if teams is None:
        return ""
    from casework.people.models import Team

    names = sorted(Team.objects.filter(pk__in=teams).values_list("name", flat=True))
    return f" · {', '.join(names)}" if names else " · no team"


def daily_summary(
    *, day: date | None = None, now: datetime | None = None, teams: frozenset[int] | None = None
) -> ReportMail:
    """Yesterday's figures (or `day`'s) and the open/at-risk/breached counts at the moment it is built,
    for `teams` (None = every team)."""
    now = now or timezone.now()
    day = day or local_today(now) - timedelta(days=1)
    f = ReportFilter(start=day, end=day, teams=teams)
    board = dashboard.build(f, now=now)
    live = {t.key: t for t in board.tiles}
    frt = selectors.first_response_business(f)
    sla = selectors.sla_compliance_total(f)
    res = selectors.resolution_business(f)
    from . import targets

    figures = [
        Figure("New cases", str(selectors.new_cases(f))),
        Figure(
            "First response, median (business)",
            duration(frt.median),
            targets.FIRST_RESPONSE.label,
            targets.FIRST_RESPONSE.status(frt.median),
            get("first_response").definition,
        ),
        Figure(
            "Resolution, median (business)",
            duration(res.median),
            targets.RESOLUTION.label,
            targets.RESOLUTION.status(res.median),
            get("resolution").definition,
        ),
        Figure(
            "SLA compliance",
            f"{percent(sla[2])} ({sla[0]} met, {sla[1]} breached)",
            targets.SLA_COMPLIANCE.label,
            targets.SLA_COMPLIANCE.status(sla[2]),
            get("sla").definition,
        ),
        *[
            Figure(f"{live[k].title} now", live[k].text, live[k].target, live[k].status, live[k].definition)
            for k in ("open", "unassigned", "at_risk", "breached")
        ],
    ]
    context = {
        "title": f"Daily support summary · {day:%a %d %b %Y}",
        "figures": figures,
        "charts": [],
        "exports": [],
        "dashboard_url": _abs(reverse("reports:dashboard")),
        "zone": str(report_zone()),
    }
    return ReportMail(
        kind=ReportKind.DAILY,
        period=day.isoformat(),
        subject=f"[casework] Daily summary {day:%a %d %b %Y}{_scope_label(teams)}",
        text=render_to_string("reports/mail_report.txt", context),
        html=render_to_string("reports/mail_report.html", context),
        figures=figures,
        teams=teams,
    )


def report_send(*, mail: ReportMail, to: list[str] | None = None) -> int:
    """Queue `mail` for every active subscriber of its kind whose scope is the mail's (or for the given
    addresses), in one transaction. Returns how many outbox rows were created (0 when all were queued
    before)."""
    if to is not None:
        recipients = [(f"addr:{address.lower()}", address) for address in to]
    else:
        recipients = _subscribers(mail.kind).get(mail.teams, [])
    created = 0
    with transaction.atomic():
        for who, address in recipients:
            _, new = outbox_enqueue(
                to=[address],
                subject=mail.subject,
                body_text=mail.text,
                body_html=mail.html,
                headers={"Auto-Submitted": "auto-generated", "Precedence": "bulk"},
                dedup_key=f"report:{mail.kind}:{mail.period}:{who}",
            )
            created += int(new)
    return created


def _subscribers(kind: str) -> dict[frozenset[int] | None, list[tuple[str, str]]]:
    """Active subscribers by the team scope of their figures (None = every team); subscribers below the
    lead role (a lead lowered since they subscribed) are left out."""
    from casework.people import permissions

    scopes: dict[frozenset[int] | None, list[tuple[str, str]]] = {}
    for sub in (
        ReportSubscription.objects.filter(kind=kind, active=True, user__is_active=True)
        .exclude(user__email="")
        .select_related("user", "user__agent")
        .order_by("user_id")
    ):
        if not permissions.has_role(sub.user, permissions.LEAD):
            continue
        scope = permissions.report_team_ids(sub.user)
        scopes.setdefault(scope, []).append((f"user:{sub.user_id}", sub.user.email))
    return scopes


def _all_queued(kind: str, period: date, recipients: list[tuple[str, str]]) -> bool:
    from casework.notify.models import Outbox

    keys = [f"report:{kind}:{period.isoformat()}:{who}" for who, _ in recipients]
    return not keys or Outbox.objects.filter(dedup_key__in=keys).count() == len(keys)


def send_period(kind: str, period: date, *, now: datetime | None = None) -> int:
    """Build the report of `period` once per subscribers' team scope and queue it for them."""
    created = 0
    for teams, recipients in _subscribers(kind).items():
        if _all_queued(kind, period, recipients):
            continue  # sent already: do not build it again every hour
        if kind == ReportKind.WEEKLY:
            mail = weekly_report(week_start=period, base=ReportFilter(start=period, end=period, teams=teams))
        else:
            mail = daily_summary(day=period, now=now, teams=teams)
        created += report_send(mail=mail)
    return created


def due_periods(now: datetime) -> dict[str, date]:
    """Which report periods are due at `now` (local time): the daily summary of yesterday once today's
    DAILY_HOUR has passed; the weekly report of last week once this week's WEEKLY_WEEKDAY at that hour has
    passed. A worker that was down at the hour catches up at its next run."""
    local = timezone.localtime(now, report_zone())
    hour = settings.CASEWORK["REPORTS_DAILY_HOUR"]
    due: dict[str, date] = {}
    if local.hour >= hour:
        due[ReportKind.DAILY] = local.date() - timedelta(days=1)
    monday = local.date() - timedelta(days=local.weekday())
    moment = monday + timedelta(days=settings.CASEWORK["REPORTS_WEEKLY_WEEKDAY"])
    if (local.date(), local.hour) >= (moment, hour):
        due[ReportKind.WEEKLY] = monday - timedelta(days=7)
    return due


def send_due_reports(now: datetime | None = None) -> dict[str, int]:
    """The scheduled job: build and queue the reports that are due and have subscribers."""
    now = now or timezone.now()
    sent: dict[str, int] = {}
    for kind, period in due_periods(now).items():
        created = send_period(kind, period, now=now)
        if created:
            sent[kind] = created
    return sent
