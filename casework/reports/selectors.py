"""The metric selectors: each one a few SQL aggregates over cases, clocks, tier history and messages,
never a Python loop over cases. Every definition is written in `docs/metrics.md` (and in `metrics.py`,
which turns these figures into tables). Loops here run over days, groups or result rows only."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.db.models import Case as DbCase
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from casework.cases.models import Case, CaseEvent, EventKind, MessageKind
from casework.cases.status import OPEN_STATUSES, Status
from casework.insights.models import RepeatContact
from casework.routing.models import TierHistory
from casework.sla.models import Breach, CaseClock, ClockLedgerEntry, ClockState, LedgerKind, Metric

from .filters import ReportFilter, local_today, report_zone
from .sql import DurationSeconds, LocalPeriod, SecondsBetween, Summary, rate, summarise, summarise_rows

OUTLIERS = 10
DONE = [Status.RESOLVED, Status.CLOSED]


def _at(value: datetime) -> Value:
    return Value(value, output_field=DateTimeField())


# --- volume and backlog ------------------------------------------------------------------------------


def volume(f: ReportFilter, *, by: str = "day", split: str | None = None) -> list[dict[str, Any]]:
    """New cases per local day (or ISO week, Monday first) in the range, optionally split by channel,
    category or priority: rows of {period, key, count}."""
    period = LocalPeriod(
        "created_at", kind="week" if by == "week" else "day", first=f.start, last=f.end, zone=report_zone()
    )
    qs = f.cases().filter(f.in_range("created_at")).annotate(period=period)
    key = {"channel": "channel", "category": "category__name", "priority": "priority"}.get(split or "")
    fields = ["period", key] if key else ["period"]
    rows = qs.values(*fields).annotate(count=Count("id")).order_by("period")
    out = []
    for row in rows:
        period = row["period"]
        if isinstance(period, datetime):
            period = (
                timezone.localtime(period, report_zone()).date()
                if timezone.is_aware(period)
                else period.date()
            )
        out.append({"period": period, "key": row.get(key, None) if key else None, "count": row["count"]})
    return out


_OPEN = [str(s) for s in OPEN_STATUSES]


def _status_q(field: str, values: list[str]) -> Q:
    # old/new of a status event are JSON strings; one equality per value works on SQLite and PostgreSQL.
    q = Q()
    for value in values:
        q |= Q(**{field: value})
    return q


def _closing_q() -> Q:
    """A status event that ends a case's open stretch: open status → resolved/closed (a merge closes too)."""
    return Q(kind=EventKind.STATUS_CHANGED) & _status_q("new", DONE) & _status_q("old", _OPEN)


def _reopening_q() -> Q:
    return Q(kind=EventKind.STATUS_CHANGED) & _status_q("old", DONE) & _status_q("new", _OPEN)


def backlog(f: ReportFilter, *, now: datetime | None = None) -> list[tuple[date, int]]:
    """Open cases at the end of each local day of the range, following status history: a case is open
    from its opening until a closing event (open → resolved/closed) and again from a reopening (resolved
    → open). Counted backwards from now, so only the range's own activity is read, never the history
    before it: open at T = open now − opened since T + closings since T − reopenings since T. Three
    queries: open now (status index) and two index range scans from the start of the range."""
    now = now or timezone.now()
    ends = [min(f.with_range(day, day).end_at, now) for day in f.days]
    if not ends:
        return []
    since = ends[0]
    cases = _backlog_cases(f, ends, since)
    moved = (
        CaseEvent.objects.filter(f.case_q("case__"), kind=EventKind.STATUS_CHANGED, created_at__gte=since)
        .filter(_closing_q() | _reopening_q())
        .aggregate(
            **{
                f"c{i}": Count("id", filter=_closing_q() & Q(created_at__gte=end))
                for i, end in enumerate(ends)
            },
            **{
                f"r{i}": Count("id", filter=_reopening_q() & Q(created_at__gte=end))
                for i, end in enumerate(ends)
            },
        )
    )
    return [
        (day, cases["open_now"] - cases[f"o{i}"] + moved[f"c{i}"] - moved[f"r{i}"])
        for i, day in enumerate(f.days)
    ]


def _backlog_cases(f: ReportFilter, ends: list[datetime], since: datetime) -> dict[str, int]:
    # Open now (status index) and opened since each day's end (created_at index), in one statement.
    open_now = f.cases().filter(open_flag=1).count()
    opened = (
        f.cases()
        .filter(created_at__gte=since)
        .aggregate(**{f"o{i}": Count("id", filter=Q(created_at__gte=end)) for i, end in enumerate(ends)})
    )
    return {"open_now": open_now, **opened}


def open_at(f: ReportFilter, at: datetime, *, now: datetime | None = None) -> QuerySet[Case]:
    """The cases open at `at`: by their status when `at` is now, else by their last status event before
    `at` (a correlated subquery on the case's timeline index)."""
    now = now or timezone.now()
    qs = f.cases().filter(created_at__lt=at)
    if at >= now:
        return qs.filter(status__in=OPEN_STATUSES)
    last = (
        CaseEvent.objects.filter(case_id=OuterRef("pk"), kind=EventKind.STATUS_CHANGED, created_at__lt=at)
        .order_by("-created_at", "-id")
        .annotate(done=DbCase(When(_status_q("new", DONE), then=Value(1)), default=Value(0)))
        .values("done")[:1]
    )
    return qs.annotate(done=Subquery(last)).filter(Q(done__isnull=True) | Q(done=0))


AGE_BUCKETS = (
    ("under_1d", "under 1 day", 0, 1),
    ("d1_3", "1–3 days", 1, 3),
    ("d3_7", "3–7 days", 3, 7),
    ("over_7d", "over 7 days", 7, None),
)


def backlog_age(f: ReportFilter, *, now: datetime | None = None) -> tuple[Summary, dict[str, int]]:
    """Age of the cases open at the end of the range (now, if the range ends today): the distribution in
    seconds and counts per age bucket."""
    now = now or timezone.now()
    at = min(f.end_at, now)
    qs = open_at(f, at, now=now)
    summary = summarise(qs, SecondsBetween(_at(at), F("created_at"))).get(1, Summary())
    buckets = {}
    for key, _, low, high in AGE_BUCKETS:
        q = Q(created_at__lte=at - timedelta(days=low))
        if high is not None:
            q &= Q(created_at__gt=at - timedelta(days=high))
        buckets[key] = Count("id", filter=q)
    counts = qs.aggregate(**buckets)
    return summary, {label: counts[key] for key, label, _, _ in AGE_BUCKETS}


# --- first response and resolution times -------------------------------------------------------------


@dataclass(frozen=True)
class TimeFigures:
    wall: dict[str, Summary]
    business: dict[str, Summary]
    outliers: list[dict[str, Any]]


def _metric_cases(f: ReportFilter, metric: str) -> tuple[QuerySet[Case], str]:
    field = "first_response_at" if metric == Metric.FIRST_RESPONSE else "resolved_at"
    return f.cases().filter(f.in_range(field)), field


def response_times(f: ReportFilter, metric: str = Metric.FIRST_RESPONSE) -> TimeFigures:
    """Per priority (and "all"): wall time from opening to the first public agent reply (or to the latest
    resolution), and the business time the SLA clock counted for it (pauses and closed hours left out),
    for cases whose first response (resolution) happened in the range; plus the slowest cases."""
    cases, field = _metric_cases(f, metric)
    wall_value = SecondsBetween(F(field), F("created_at"))
    wall = summarise(cases, wall_value, group=F("priority"))
    wall_all = summarise(cases, wall_value).get(1)
    clocks = CaseClock.objects.filter(
        f.case_q("case__"),
        f.in_range(f"case__{field}"),
        metric=metric,
        stopped_at__isnull=False,
        state__in=[ClockState.MET, ClockState.BREACHED],
    )
    business_value = DurationSeconds(F("consumed"))
    business = summarise(clocks, business_value, group=F("case__priority"))
    business_all = summarise(clocks, business_value).get(1)
    if wall_all:
        wall["all"] = wall_all
    if business_all:
        business["all"] = business_all
    slow = (
        cases.annotate(seconds=wall_value)
        .order_by("-seconds", "id")
        .values("reference", "subject", "priority", "seconds", "created_at", field)[:OUTLIERS]
    )
    return TimeFigures(wall=wall, business=business, outliers=list(slow))


# --- SLA ------------------------------------------------------------------------------------------------


def sla_compliance(f: ReportFilter, *, now: datetime | None = None) -> dict[tuple[str, str], dict[str, int]]:
    """Per (metric, priority): clocks met in the range (stopped as met) and clocks breached in the range
    (their target ran out in it). Clocks stopped without the metric happening count for neither."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    for key, column, n in _sla_decided(f, now or timezone.now(), ["metric", "case__priority"]):
        counts = out.setdefault(key, {"met": 0, "breached": 0})
        counts[column] += n
    return out


def _sla_decided(f: ReportFilter, now: datetime, group: list[str], **annotations: Any):
    """(group values, "met" | "breached", count) rows: the clocks met in the range and those whose
    target ran out in it, grouped. Three queries, each one range of its own index, rather than one
    OR over three columns that no index serves (a scan of every clock: ~1 s at a million cases):
    met clocks by `sla_clock_met_stopped` (stopped_at, state = met), recorded breaches by
    `sla_clock_breached_at`, and running clocks past due the sweep has not reached by the sweep's
    `sla_clock_due_running`. Swept and pending never share a clock (breached_at set or not); a met
    clock with a breach time in the range (none should have one) counts on both sides, as before."""
    swept = Q(breached_at__isnull=False) & f.in_range("breached_at")
    pending = Q(state=ClockState.RUNNING, breached_at__isnull=True, due_at__lt=now) & f.in_range("due_at")
    parts = (
        ("met", Q(state=ClockState.MET) & f.in_range("stopped_at")),
        ("breached", swept),
        ("breached", pending),
    )
    for column, q in parts:
        rows = (
            CaseClock.objects.filter(f.case_q("case__"), q)
            .annotate(**annotations)
            .values(*group)
            .annotate(n=Count("id"))
            .order_by()
        )
        for row in rows:
            yield tuple(row[g] for g in group), column, row["n"]


def sla_compliance_total(f: ReportFilter, metric: str | None = None) -> tuple[int, int, float | None]:
    met = breached = 0
    for (m, _), counts in sla_compliance(f).items():
        if metric is None or m == metric:
            met += counts["met"]
            breached += counts["breached"]
    return met, breached, rate(met, met + breached)


def sla_breaches(f: ReportFilter, *, limit: int | None = 500) -> list[dict[str, Any]]:
    """Breaches whose target ran out in the range, newest first, with the ledger's sentence saying why
    and what the case was doing (status, owner) now."""
    reason = ClockLedgerEntry.objects.filter(
        clock_id=OuterRef("clock_id"), kind=LedgerKind.BREACHED
    ).order_by("at", "id")
    qs = (
        Breach.objects.filter(f.case_q("case__"), f.in_range("breached_at"))
        .annotate(reason=Subquery(reason.values("reason")[:1]))
        .values(
            "case__reference",
            "case__subject",
            "case__status",
            "case__assignee__username",
            "metric",
            "priority",
            "customer_tier",
            "policy_name",
            "target",
            "due_at",
            "stopped_at",
            "duration",
            "reason",
        )
        .order_by("-breached_at", "-id")
    )
    return list(qs[:limit] if limit else qs)


# --- resolution quality --------------------------------------------------------------------------------


def _agent_contacts() -> Q:
    # A public reply or logged call written by a person (automatic replies have no author user).
    return Q(messages__kind__in=[MessageKind.REPLY, MessageKind.CALL], messages__author_user__isnull=False)


def resolution_quality(f: ReportFilter) -> dict[str, Any]:
    """Over cases resolved in the range (latest resolution): first-contact resolution (exactly one public
    agent reply or call, never reopened, no follow-up case), reopened at least once, resolved without any
    agent reply."""
    followed = Exists(Case.objects.filter(follow_up_of=OuterRef("pk")))
    qs = (
        f.cases()
        .filter(f.in_range("resolved_at"))
        .annotate(contacts=Count("messages", filter=_agent_contacts()), followed=followed)
    )
    agg = qs.aggregate(
        resolved=Count("id"),
        fcr=Count("id", filter=Q(contacts=1, reopen_count=0, followed=False)),
        reopened=Count("id", filter=Q(reopen_count__gt=0)),
        no_reply=Count("id", filter=Q(contacts=0)),
    )
    agg["fcr_rate"] = rate(agg["fcr"], agg["resolved"])
    agg["reopen_rate"] = rate(agg["reopened"], agg["resolved"])
    return agg


def repeat_contacts(f: ReportFilter) -> dict[str, Any]:
    """Of the cases opened in the range, those flagged as repeat contacts: the one definition is insights'
    (`casework/insights/repeats.py`: the customer wrote about the same topic — stored-vector similarity
    or an explicit follow-up — in the 7 days before), recorded as a `RepeatContact` row per case."""
    flagged = Exists(RepeatContact.objects.filter(case_id=OuterRef("pk")))
    # The Exists goes straight into the FILTER clause: an annotation there breaks on PostgreSQL.
    agg = (
        f.cases()
        .filter(f.in_range("created_at"))
        .aggregate(opened=Count("id"), repeats=Count("id", filter=Q(flagged)))
    )
    agg["rate"] = rate(agg["repeats"], agg["opened"])
    return agg


# --- tiers ------------------------------------------------------------------------------------------------


def _escalated() -> Exists:
    return Exists(TierHistory.objects.filter(case_id=OuterRef("pk"), tier__gt=1))


def escalation(f: ReportFilter) -> dict[str, Any]:
    """Of the cases opened in the range, the share that ever left tier 1; and how long the finished stays
    at each tier that ended in the range lasted (tier history)."""
    agg = (
        f.cases()
        .filter(f.in_range("created_at"))
        # The Exists goes straight into the FILTER clause: an annotation there breaks on PostgreSQL.
        .aggregate(opened=Count("id"), escalated=Count("id", filter=Q(_escalated()) | Q(tier__gt=1)))
    )
    agg["rate"] = rate(agg["escalated"], agg["opened"])
    # A stay is split by owner and team changes; the figure is a case's total time at the tier.
    per_case = (
        TierHistory.objects.filter(f.case_q("case__"), f.in_range("left_at"))
        # Stays opened and closed in the same instant (the team and owner set as a case opens) are noise.
        .exclude(left_at=F("entered_at"))
        .values("case_id", "tier")
        .annotate(total=Sum(SecondsBetween(F("left_at"), F("entered_at"))))
        .values_list("tier", "total")
        .order_by()
    )
    agg["time_per_tier"] = summarise_rows(per_case)
    return agg


def tier1_resolution(f: ReportFilter) -> dict[str, Any]:
    """Of the cases resolved in the range, the share resolved at tier 1: never escalated and still at L1."""
    agg = (
        f.cases()
        .filter(f.in_range("resolved_at"))
        .aggregate(resolved=Count("id"), tier1=Count("id", filter=~Q(_escalated()) & Q(tier=1)))
    )
    agg["rate"] = rate(agg["tier1"], agg["resolved"])
    return agg


# --- agents -----------------------------------------------------------------------------------------------


def agent_performance(f: ReportFilter, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per current owner: cases resolved in the range, reopened among them, open now, and the median and
    p90 first response and resolution (wall time) of their cases in the range. Five queries."""
    now = now or timezone.now()
    # Two queries, each on its own index (resolved_at's range; `open_flag = 1`), rather than one OR that
    # SQLite served by walking every assigned case through the assignee index (2.3 s at a million).
    owned = f.cases().filter(assignee__isnull=False)
    counts: dict[int, dict[str, int]] = {}
    for row in (
        owned.filter(f.in_range("resolved_at"))
        .values("assignee")
        .annotate(resolved=Count("id"), reopened=Count("id", filter=Q(reopen_count__gt=0)))
        .order_by()
    ):
        counts[row["assignee"]] = {"resolved": row["resolved"], "reopened": row["reopened"], "open_now": 0}
    for assignee, n in (
        owned.filter(open_flag=1).values("assignee").annotate(n=Count("id")).values_list("assignee", "n")
    ):
        counts.setdefault(assignee, {"resolved": 0, "reopened": 0, "open_now": 0})["open_now"] = n
    first, _ = _metric_cases(f, Metric.FIRST_RESPONSE)
    resolved, _ = _metric_cases(f, Metric.RESOLUTION)
    frt = summarise(first, SecondsBetween(F("first_response_at"), F("created_at")), group=F("assignee_id"))
    res = summarise(resolved, SecondsBetween(F("resolved_at"), F("created_at")), group=F("assignee_id"))
    rows = counts
    ids = set(rows) | {k for k in frt if k} | {k for k in res if k}
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=ids)}
    out = []
    for pk in sorted(ids, key=lambda i: (users[i].get_full_name() or users[i].username).lower()):
        row = rows.get(pk, {"resolved": 0, "reopened": 0, "open_now": 0})
        user = users[pk]
        out.append(
            {
                "agent_id": pk,
                "agent": user.get_full_name() or user.username,
                "resolved": row["resolved"],
                "reopen_rate": rate(row["reopened"], row["resolved"]),
                "open_now": row["open_now"],
                "first_response": frt.get(pk, Summary()),
                "resolution": res.get(pk, Summary()),
            }
        )
    return out


def agent_load(f: ReportFilter, *, now: datetime | None = None) -> tuple[list[date], list[dict[str, Any]]]:
    """Open cases per current owner at the end of each day of the range, counted like the backlog
    (backwards from the cases each owns now), grouped by owner: three queries."""
    now = now or timezone.now()
    ends = [min(f.with_range(day, day).end_at, now) for day in f.days]
    if not ends:
        return [], []
    since = ends[0]
    owned = f.cases().filter(assignee__isnull=False)
    open_now = dict(
        owned.filter(status__in=OPEN_STATUSES)
        .values("assignee")
        .annotate(n=Count("id"))
        .values_list("assignee", "n")
    )
    opened = {
        row["assignee"]: row
        for row in owned.filter(created_at__gte=since)
        .values("assignee")
        .annotate(**{f"o{i}": Count("id", filter=Q(created_at__gte=end)) for i, end in enumerate(ends)})
        .order_by()
    }
    moved = {
        row["case__assignee"]: row
        for row in CaseEvent.objects.filter(
            f.case_q("case__"),
            case__assignee__isnull=False,
            kind=EventKind.STATUS_CHANGED,
            created_at__gte=since,
        )
        .filter(_closing_q() | _reopening_q())
        .values("case__assignee")
        .annotate(
            **{
                f"c{i}": Count("id", filter=_closing_q() & Q(created_at__gte=end))
                for i, end in enumerate(ends)
            },
            **{
                f"r{i}": Count("id", filter=_reopening_q() & Q(created_at__gte=end))
                for i, end in enumerate(ends)
            },
        )
        .order_by()
    }
    owners = set(open_now) | set(opened) | set(moved)
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=owners)}
    out = []
    for pk in owners:
        o, m = opened.get(pk, {}), moved.get(pk, {})
        per_day = [
            open_now.get(pk, 0) - o.get(f"o{i}", 0) + m.get(f"c{i}", 0) - m.get(f"r{i}", 0)
            for i in range(len(ends))
        ]
        if any(per_day):
            out.append({"agent": users[pk].get_full_name() or users[pk].username, "per_day": per_day})
    out.sort(key=lambda r: r["agent"].lower())
    return f.days, out


# --- today's figures for the dashboard ---------------------------------------------------------------


def live_counts(f: ReportFilter, *, now: datetime | None = None) -> dict[str, int]:
    """Open, unassigned, at risk and breached now (one query; the same tests as the queue's views)."""
    from casework.cases.selectors import _sla_at_risk_q, _sla_breached_q

    now = now or timezone.now()
    # The open cases only (`open_flag = 1`, the queue's index), never the whole table; the SLA counts
    # as the queue's counters make them: the few matching clocks by their partial indexes.
    open_cases = f.cases().filter(open_flag=1)
    counts = open_cases.aggregate(open=Count("id"), unassigned=Count("id", filter=Q(assignee__isnull=True)))
    counts["at_risk"] = open_cases.filter(_sla_at_risk_q(now)).count()
    counts["breached"] = open_cases.filter(_sla_breached_q(now)).count()
    return counts


def new_cases(f: ReportFilter) -> int:
    return f.cases().filter(f.in_range("created_at")).count()


def first_response_business(f: ReportFilter) -> Summary:
    clocks = CaseClock.objects.filter(
        f.case_q("case__"),
        f.in_range("case__first_response_at"),
        metric=Metric.FIRST_RESPONSE,
        stopped_at__isnull=False,
        state__in=[ClockState.MET, ClockState.BREACHED],
    )
    return summarise(clocks, DurationSeconds(F("consumed"))).get(1, Summary())


def resolution_business(f: ReportFilter) -> Summary:
    clocks = CaseClock.objects.filter(
        f.case_q("case__"),
        f.in_range("case__resolved_at"),
        metric=Metric.RESOLUTION,
        stopped_at__isnull=False,
        state__in=[ClockState.MET, ClockState.BREACHED],
    )
    return summarise(clocks, DurationSeconds(F("consumed"))).get(1, Summary())


def weekly_series(f: ReportFilter) -> list[dict[str, Any]]:
    """Per ISO week of the range: first-response p90 (business time) and SLA compliance (both metrics).

    A week that ended before today no longer moves (its first responses, stopped clocks and breaches
    are written), so its row is kept in the cache for CASEWORK_REPORTS_PAST_WEEKS_SECONDS (a day) and
    only the weeks not in it — on a warm cache the current one — are read: the 12-week chart is ~1 s
    of database time at a million cases, the current week a twelfth of it. Four queries at most."""
    return _weekly_series_kept(f)[0]


def weekly_series_read(f: ReportFilter) -> int:
    """`weekly_series` for the job that fills the cache (`dashboard.warm`): how many of the range's
    weeks it had to read from the database (0: every one was kept)."""
    return _weekly_series_kept(f)[1]


def _weekly_series_kept(f: ReportFilter) -> tuple[list[dict[str, Any]], int]:
    zone = report_zone()
    seconds = settings.CASEWORK["REPORTS_PAST_WEEKS_SECONDS"]
    this_week = local_today() - timedelta(days=local_today().weekday())
    first = f.start - timedelta(days=f.start.weekday())
    weeks_all = [first + timedelta(days=7 * i) for i in range((f.end - first).days // 7 + 1)]
    # Keyed by the dates of the week the range covers, so a range starting mid-week caches its own part.
    keys = {w: _week_key(f, max(f.start, w), min(f.end, w + timedelta(days=6))) for w in weeks_all}
    keys = {w: k for w, k in keys.items() if w < this_week} if seconds else {}
    cached = caches["reports"].get_many(list(keys.values())) if keys else {}
    known = {w: cached[k] for w, k in keys.items() if k in cached}
    todo = [w for w in weeks_all if w not in known]
    rows = dict(known)
    if todo:
        computed = _weekly_series(f.with_range(max(f.start, todo[0]), f.end), zone)
        rows.update({row["week"]: row for row in computed if row["week"] not in known})
        fresh = {keys[w]: rows[w] for w in todo if w in keys and w in rows}
        if fresh:
            caches["reports"].set_many(fresh, seconds)
    return [dict(rows[w]) for w in weeks_all if w in rows], len(todo)


def _week_key(f: ReportFilter, start: date, end: date) -> str:
    params = sorted((k, v) for k, v in f.as_params().items() if k not in ("start", "end"))
    described = f"{params!r}:{start.isoformat()}:{end.isoformat()}:{report_zone()}:teams={f.scope_key()}"
    return "reports:week:" + hashlib.sha256(described.encode()).hexdigest()


def _weekly_series(f: ReportFilter, zone) -> list[dict[str, Any]]:
    clocks = CaseClock.objects.filter(
        f.case_q("case__"),
        f.in_range("case__first_response_at"),
        metric=Metric.FIRST_RESPONSE,
        stopped_at__isnull=False,
        state__in=[ClockState.MET, ClockState.BREACHED],
    )
    frt = summarise(
        clocks,
        DurationSeconds(F("consumed")),
        group=LocalPeriod("case__first_response_at", kind="week", first=f.start, last=f.end, zone=zone),
    )
    sla = _sla_decided(
        f,
        timezone.now(),
        ["week"],
        week=LocalPeriod(
            Coalesce("breached_at", "stopped_at", "due_at"), kind="week", first=f.start, last=f.end, zone=zone
        ),
    )
    weeks: dict[date, dict[str, Any]] = {}
    start = f.start - timedelta(days=f.start.weekday())
    while start <= f.end:
        weeks[start] = {"week": start, "frt_p90": None, "sla": None, "met": 0, "breached": 0}
        start += timedelta(days=7)

    def _week(value: Any) -> date:
        if isinstance(value, datetime):
            return timezone.localtime(value, zone).date() if timezone.is_aware(value) else value.date()
        if isinstance(value, str):  # SQLite hands back text from a raw query
            return date.fromisoformat(value[:10])
        return value

    for key, summary in frt.items():
        week = _week(key)
        if week in weeks:
            weeks[week]["frt_p90"] = summary.p90
    for (key,), column, n in sla:
        week = _week(key)
        if week in weeks:
            weeks[week][column] += n
    for row in weeks.values():
        if row["met"] or row["breached"]:
            row["sla"] = rate(row["met"], row["met"] + row["breached"])
    return list(weeks.values())


def cases_behind(f: ReportFilter, figure: str, *, now: datetime | None = None) -> QuerySet[Case]:
    """The cases a dashboard figure counts, for the drill-down list."""
    from casework.cases.selectors import _sla_at_risk_q, _sla_breached_q

    now = now or timezone.now()
    qs = f.cases().select_related("assignee", "organisation", "category")
    open_q = Q(status__in=OPEN_STATUSES)
    if figure == "open":
        return qs.filter(open_q)
    if figure == "unassigned":
        return qs.filter(open_q, assignee__isnull=True)
    if figure == "at_risk":
        return qs.filter(open_q, _sla_at_risk_q(now))
    if figure == "breached":
        return qs.filter(open_q, _sla_breached_q(now))
    if figure == "new":
        return qs.filter(f.in_range("created_at"))
    if figure == "first_response":
        return qs.filter(f.in_range("first_response_at"))
    if figure in ("resolved", "resolution"):
        return qs.filter(f.in_range("resolved_at"))
    if figure == "tier1":
        return (
            qs.filter(f.in_range("resolved_at"))
            .annotate(escalated=_escalated())
            .filter(escalated=False, tier=1)
        )
    if figure == "sla_breaches":
        return qs.filter(
            Exists(Breach.objects.filter(case_id=OuterRef("pk")).filter(f.in_range("breached_at")))
        )
    return qs.none()
