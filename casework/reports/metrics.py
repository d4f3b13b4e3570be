"""The built-in metrics: each a definition (the same sentence as in docs/metrics.md, shown as a tooltip)
and a function turning the selectors' figures into tables. CSAT and knowledge-base deflection are
placeholders until their apps register the real metrics (registry.py)."""

from __future__ import annotations

from casework.cases.status import Priority
from casework.sla.models import Metric

from . import selectors
from .filters import ReportFilter
from .registry import Column, MetricDef, Option, Table, placeholder, register
from .sql import Summary

PRIORITY_ORDER = [*Priority.values, "all"]


def _label(priority: str) -> str:
    return "All priorities" if priority == "all" else Priority(priority).label


# --- volume ---

VOLUME = (
    "New cases opened in the range, per local day or ISO week (Monday first), optionally split by channel, "
    "category or priority. Cases merged into another case are not counted."
)


def _volume(f: ReportFilter, *, by: str, split: str) -> list[Table]:
    rows = selectors.volume(f, by=by, split=None if split == "none" else split)
    if split == "none":
        data = [{"period": r["period"], "count": r["count"]} for r in rows]
        columns = [
            Column("period", "Week of" if by == "week" else "Day", "date"),
            Column("count", "New cases", "count"),
        ]
        return [
            Table("New cases", columns, _fill(f, data, by), chart=("bar", "period", ["count"]), slug="volume")
        ]
    keys = sorted({str(r["key"] or "none") for r in rows})
    pivot: dict = {}
    for r in rows:
        row = pivot.setdefault(r["period"], {"period": r["period"], "total": 0})
        row[str(r["key"] or "none")] = r["count"]
        row["total"] += r["count"]
    columns = [
        Column("period", "Week of" if by == "week" else "Day", "date"),
        *[Column(k, k.replace("_", " ").capitalize(), "count") for k in keys],
        Column("total", "Total", "count"),
    ]
    data = [pivot[p] for p in sorted(pivot)]
    return [
        Table(
            f"New cases by {split}",
            columns,
            _fill(f, data, by, keys),
            chart=("bar", "period", keys),
            slug="volume",
        )
    ]


def _fill(f: ReportFilter, rows: list[dict], by: str, keys: list[str] = ()) -> list[dict]:
    """Every day (week) of the range, with zeros where nothing was opened."""
    from datetime import timedelta

    have = {r["period"]: r for r in rows}
    periods = f.days if by == "day" else sorted({d - timedelta(days=d.weekday()) for d in f.days})
    zero = {k: 0 for k in (*keys, "count", "total")}
    return [have.get(p, {"period": p, **zero}) for p in periods]


register(
    MetricDef(
        name="volume",
        title="Volume",
        definition=VOLUME,
        compute=_volume,
        section="Volume",
        options=(
            Option("by", "Per", (("day", "day"), ("week", "week")), "day"),
            Option(
                "split",
                "Split by",
                (
                    ("none", "nothing"),
                    ("channel", "channel"),
                    ("category", "category"),
                    ("priority", "priority"),
                ),
                "none",
            ),
        ),
        headline=lambda f: float(selectors.new_cases(f)),
        unit="cases",
    )
)

BACKLOG = (
    "Open cases at the end of each local day: opened before the day ended and not resolved or closed at "
    "that moment, following each case's status history (a case resolved on Tuesday and reopened on "
    "Wednesday is out of Tuesday's backlog and back in Wednesday's). Age: the time since opening of the "
    "cases open at the end of the range (now, if the range ends today)."
)


def _backlog(f: ReportFilter) -> list[Table]:
    series = selectors.backlog(f)
    summary, buckets = selectors.backlog_age(f)
    age_rows = [_summary_row("Open cases", summary)]
    return [
        Table(
            "Open at the end of each day",
            [Column("day", "Day", "date"), Column("open", "Open cases", "count")],
            [{"day": d, "open": n} for d, n in series],
            chart=("line", "day", ["open"]),
            slug="backlog",
        ),
        Table(
            "Age of the open cases", _SUMMARY_COLUMNS, age_rows if summary.count else [], slug="backlog-age"
        ),
        Table(
            "Open cases by age",
            [Column("age", "Age", "text"), Column("count", "Cases", "count")],
            [{"age": k, "count": v} for k, v in buckets.items()],
            slug="backlog-buckets",
        ),
    ]


register(MetricDef("backlog", "Backlog and its age", BACKLOG, _backlog, section="Volume"))

# --- response times ---

_SUMMARY_COLUMNS = [
    Column("label", "", "text"),
    Column("count", "Cases", "count"),
    Column("median", "Median", "seconds"),
    Column("p90", "p90", "seconds"),
    Column("max", "Max", "seconds"),
]


def _summary_row(label: str, s: Summary) -> dict:
    return {"label": label, "count": s.count, "median": s.median, "p90": s.p90, "max": s.max}


def _times(f: ReportFilter, metric: str, title: str, field: str) -> list[Table]:
    figures = selectors.response_times(f, metric)
    tables = []
    for kind, data in (("business", figures.business), ("wall", figures.wall)):
        rows = [_summary_row(_label(p), data[p]) for p in PRIORITY_ORDER if p in data]
        tables.append(
            Table(
                f"{title} by priority — {'business time (SLA clock)' if kind == 'business' else 'wall time'}",
                [Column("label", "Priority", "text"), *_SUMMARY_COLUMNS[1:]],
                rows,
                slug=f"{metric}-{kind}",
            )
        )
    tables.append(
        Table(
            f"Slowest {len(figures.outliers)} (wall time)",
            [
                Column("reference", "Case", "case"),
                Column("subject", "Subject"),
                Column("priority", "Priority"),
                Column("created_at", "Opened", "datetime"),
                Column(
                    field, "First response" if metric == Metric.FIRST_RESPONSE else "Resolved", "datetime"
                ),
                Column("seconds", "Took", "seconds"),
            ],
            [{**o, "priority": Priority(o["priority"]).label} for o in figures.outliers],
            slug=f"{metric}-outliers",
        )
    )
    return tables


FIRST_RESPONSE = (
    "Time from opening to the first public reply or logged call by an agent (automatic replies do not "
    "count), for cases whose first response happened in the range. Business time is what the first-response "
    "SLA clock counted (only its calendar's working hours, without time paused awaiting the client); wall "
    "time is the elapsed clock time. Median and p90 are nearest-rank percentiles. Cases never answered are "
    "not in it (see the backlog)."
)
RESOLUTION = (
    "Time from opening to the latest resolution, for cases resolved in the range. Business time is what the "
    "resolution SLA clock counted: working hours only, without time paused awaiting the client and without "
    "the time a case spent resolved before a reopening; wall time is the elapsed clock time to the latest "
    "resolution. Cases closed without being resolved are not in it."
)

register(
    MetricDef(
        "first_response",
        "First response time",
        FIRST_RESPONSE,
        lambda f: _times(f, Metric.FIRST_RESPONSE, "First response", "first_response_at"),
        section="Speed",
        headline=lambda f: selectors.first_response_business(f).median,
        unit="seconds",
    )
)
register(
    MetricDef(
        "resolution",
        "Resolution time",
        RESOLUTION,
        lambda f: _times(f, Metric.RESOLUTION, "Resolution", "resolved_at"),
        section="Speed",
        headline=lambda f: selectors.resolution_business(f).median,
        unit="seconds",
    )
)

# --- SLA ---

SLA = (
    "Per SLA clock (first response, resolution) decided in the range: met = the clock stopped as met in the "
    "range; breached = its target ran out in the range. Compliance = met ÷ (met + breached). Clocks stopped "
    "because the case ended without the metric (closed as spam, resolved without a reply) count for neither."
)


def _sla(f: ReportFilter) -> list[Table]:
    figures = selectors.sla_compliance(f)
    rows = []
    for metric in Metric.values:
        for priority in [*Priority.values, "all"]:
            if priority == "all":
                met = sum(v["met"] for (m, _), v in figures.items() if m == metric)
                breached = sum(v["breached"] for (m, _), v in figures.items() if m == metric)
            else:
                v = figures.get((metric, priority))
                if v is None:
                    continue
                met, breached = v["met"], v["breached"]
            if met + breached:
                rows.append(
                    {
                        "metric": Metric(metric).label,
                        "priority": _label(priority),
                        "met": met,
                        "breached": breached,
                        "compliance": round(100 * met / (met + breached), 1),
                    }
                )
    return [
        Table(
            "SLA compliance",
            [
                Column("metric", "Clock"),
                Column("priority", "Priority"),
                Column("met", "Met", "count"),
                Column("breached", "Breached", "count"),
                Column("compliance", "Compliance", "percent"),
            ],
            rows,
            slug="sla",
        )
    ]


def _sla_headline(f: ReportFilter) -> float | None:
    return selectors.sla_compliance_total(f)[2]


register(MetricDef("sla", "SLA compliance", SLA, _sla, section="SLA", headline=_sla_headline, unit="percent"))

BREACHES = (
    "Every SLA target that ran out in the range, newest first, with the policy and target in force, how far "
    "past the target it went in business time (once the clock stopped) and the SLA ledger's sentence saying "
    "why it was due then."
)


def breaches_tables(f: ReportFilter, *, limit: int | None = 500) -> list[Table]:
    rows = []
    for b in selectors.sla_breaches(f, limit=limit):
        rows.append(
            {
                "reference": b["case__reference"],
                "subject": b["case__subject"],
                "metric": Metric(b["metric"]).label,
                "priority": b["priority"],
                "tier": b["customer_tier"],
                "policy": b["policy_name"],
                "target": b["target"].total_seconds() if b["target"] is not None else None,
                "due_at": b["due_at"],
                "over": b["duration"].total_seconds() if b["duration"] is not None else None,
                "status": b["case__status"],
                "owner": b["case__assignee__username"] or "unassigned",
                "reason": b["reason"] or "",
            }
        )
    return [
        Table(
            "SLA breaches",
            [
                Column("reference", "Case", "case"),
                Column("subject", "Subject"),
                Column("metric", "Clock"),
                Column("priority", "Priority"),
                Column("policy", "Policy"),
                Column("target", "Target", "seconds"),
                Column("due_at", "Was due", "datetime"),
                Column("over", "Past target", "seconds", help="Empty while the clock still runs."),
                Column("status", "Status now"),
                Column("owner", "Owner now"),
                Column("reason", "Why it was due then"),
            ],
            rows,
            empty="No breaches in this range.",
            note="At most 500 rows on the page; the CSV has them all."
            if limit and len(rows) >= limit
            else "",
            slug="breaches",
        )
    ]


register(MetricDef("sla_breaches", "SLA breaches", BREACHES, breaches_tables, section="SLA"))

# --- resolution quality ---

FCR = (
    "Of the cases resolved in the range (latest resolution): the share resolved with exactly one public "
    "reply or logged call by an agent, never reopened and with no follow-up case. Cases resolved without "
    "any agent reply count in the total but not as first-contact resolutions."
)
REOPEN = "Of the cases resolved in the range (latest resolution): the share reopened at least once."
REPEAT = (
    "Of the cases opened in the range: the share flagged as a repeat contact — the customer had written "
    "about the same topic in the 7 days before (another case of theirs opened or written on then, whose "
    "text is similar enough by the insights similarity score, or that this case follows up). The flag and "
    "its reason are on the case's timeline."
)


def _quality_table(title: str, slug: str, rows: list[dict]) -> list[Table]:
    return [
        Table(
            title,
            [
                Column("label", ""),
                Column("count", "Cases", "count"),
                Column("of", "Of", "count"),
                Column("rate", "Rate", "percent"),
            ],
            rows,
            slug=slug,
        )
    ]


def _fcr(f: ReportFilter) -> list[Table]:
    q = selectors.resolution_quality(f)
    rows = [
        {"label": "Resolved on first contact", "count": q["fcr"], "of": q["resolved"], "rate": q["fcr_rate"]},
        {
            "label": "Resolved without any agent reply",
            "count": q["no_reply"],
            "of": q["resolved"],
            "rate": None,
        },
    ]
    return _quality_table("First-contact resolution", "fcr", rows if q["resolved"] else [])


def _reopen(f: ReportFilter) -> list[Table]:
    q = selectors.resolution_quality(f)
    rows = [{"label": "Reopened", "count": q["reopened"], "of": q["resolved"], "rate": q["reopen_rate"]}]
    return _quality_table("Reopen rate", "reopen", rows if q["resolved"] else [])


def _repeat(f: ReportFilter) -> list[Table]:
    q = selectors.repeat_contacts(f)
    rows = [{"label": "Repeat contacts", "count": q["repeats"], "of": q["opened"], "rate": q["rate"]}]
    return _quality_table("Repeat-contact rate", "repeat", rows if q["opened"] else [])


register(
    MetricDef(
        "fcr",
        "First-contact resolution",
        FCR,
        _fcr,
        section="Quality",
        headline=lambda f: selectors.resolution_quality(f)["fcr_rate"],
        unit="percent",
    )
)
register(
    MetricDef(
        "reopen_rate",
        "Reopen rate",
        REOPEN,
        _reopen,
        section="Quality",
        headline=lambda f: selectors.resolution_quality(f)["reopen_rate"],
        unit="percent",
    )
)
register(
    MetricDef(
        "repeat_contact",
        "Repeat-contact rate",
        REPEAT,
        _repeat,
        section="Quality",
        headline=lambda f: selectors.repeat_contacts(f)["rate"],
        unit="percent",
    )
)

# --- tiers ---

ESCALATION = (
    "Of the cases opened in the range: the share that ever left tier 1 (tier history, or a tier above 1 "
    "now). Time per tier: per case, the total wall time it spent at each tier, over its stays at that tier "
    "that ended in the range (a change of owner or team within a tier does not split the figure)."
)
TIER1 = (
    "Of the cases resolved in the range (latest resolution): the share resolved at tier 1 — never escalated "
    "above L1 and at L1 when resolved."
)


def _escalation(f: ReportFilter) -> list[Table]:
    e = selectors.escalation(f)
    tiers = e["time_per_tier"]
    return [
        *_quality_table(
            "Escalation rate",
            "escalation",
            [{"label": "Escalated above L1", "count": e["escalated"], "of": e["opened"], "rate": e["rate"]}]
            if e["opened"]
            else [],
        ),
        Table(
            "Time per tier",
            [Column("label", "Tier", "text"), *_SUMMARY_COLUMNS[1:]],
            [_summary_row(f"L{t}", tiers[t]) for t in sorted(tiers)],
            empty="No stay at a tier ended in this range.",
            slug="time-per-tier",
        ),
    ]


def _tier1(f: ReportFilter) -> list[Table]:
    t = selectors.tier1_resolution(f)
    return _quality_table(
        "Resolved at tier 1",
        "tier1",
        [{"label": "Resolved at L1", "count": t["tier1"], "of": t["resolved"], "rate": t["rate"]}]
        if t["resolved"]
        else [],
    )


register(
    MetricDef(
        "escalation",
        "Escalation rate and time per tier",
        ESCALATION,
        _escalation,
        section="Tiers",
        headline=lambda f: selectors.escalation(f)["rate"],
        unit="percent",
    )
)
register(
    MetricDef(
        "tier1_resolution",
        "Resolved at tier 1",
        TIER1,
        _tier1,
        section="Tiers",
        headline=lambda f: selectors.tier1_resolution(f)["rate"],
        unit="percent",
    )
)

# --- agents ---

AGENTS = (
    "Per agent owning the cases now: cases resolved in the range, the share of those reopened, open cases "
    "owned now, and the median and p90 first response and resolution (wall time) of their cases answered or "
    "resolved in the range. CSAT appears here once CSAT data exists."
)
LOAD = "Open cases per agent (current owner) at the end of each local day of the range."


def _agents(f: ReportFilter) -> list[Table]:
    rows = []
    for a in selectors.agent_performance(f):
        rows.append(
            {
                "agent": a["agent"],
                "resolved": a["resolved"],
                "reopen_rate": a["reopen_rate"],
                "open_now": a["open_now"],
                "frt_median": a["first_response"].median,
                "frt_p90": a["first_response"].p90,
                "res_median": a["resolution"].median,
                "res_p90": a["resolution"].p90,
            }
        )
    return [
        Table(
            "Agent performance",
            [
                Column("agent", "Agent"),
                Column("resolved", "Resolved", "count"),
                Column("reopen_rate", "Reopened", "percent"),
                Column("open_now", "Open now", "count"),
                Column("frt_median", "First response median", "seconds"),
                Column("frt_p90", "First response p90", "seconds"),
                Column("res_median", "Resolution median", "seconds"),
                Column("res_p90", "Resolution p90", "seconds"),
            ],
            rows,
            slug="agents",
        )
    ]


def _load(f: ReportFilter) -> list[Table]:
    days, rows = selectors.agent_load(f)
    columns = [Column("agent", "Agent"), *[Column(d.isoformat(), f"{d:%d %b}", "count") for d in days]]
    data = [
        {"agent": r["agent"], **{d.isoformat(): n for d, n in zip(days, r["per_day"], strict=True)}}
        for r in rows
    ]
    return [Table("Open cases per agent at the end of each day", columns, data, slug="load")]


register(MetricDef("agents", "Agent performance", AGENTS, _agents, section="Agents"))
register(MetricDef("agent_load", "Agent load over time", LOAD, _load, section="Agents"))

# --- plugged in later ---

CSAT = (
    "Customer satisfaction from post-resolution surveys: average score (1–5), distribution, response rate "
    "and the low scores under review, for surveys answered in the range."
)
KB = (
    "Knowledge-base deflection: the share of portal visitors who read a suggested article and did not "
    "open a case."
)

placeholder(
    "csat",
    "CSAT",
    CSAT,
    "No CSAT data yet: surveys arrive with the CSAT app.",
    section="Quality",
    unit="score",
)
placeholder(
    "kb_deflection",
    "Knowledge-base deflection",
    KB,
    "No knowledge-base data yet: deflection appears with the knowledge base.",
    section="Quality",
    unit="percent",
)
