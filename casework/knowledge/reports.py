"""The knowledge base's report metric: `kb_deflection` (replaces the reports app's placeholder).

Counted from `SuggestionSession`: one row per web-form visit that was shown suggestions while typing,
with the article opened (through the session token in the suggestion's URL) and the case sent, if any."""

from __future__ import annotations

from django.db.models import Count, Q

from casework.reports.filters import ReportFilter
from casework.reports.registry import Column, MetricDef, Table, register
from casework.reports.sql import rate

from .gaps import count_sessions
from .models import SuggestionSession

KB = (
    "Knowledge-base deflection: of the web-form visits (started in the range) that were shown suggested "
    "articles while the customer typed, the share in which the customer opened a suggested article and "
    "then sent no request. Also: how many opened one, and how many still sent a request after reading."
)


def deflection_counts(f: ReportFilter) -> dict:
    """Sessions shown suggestions in the range, how many opened one, how many of those still sent."""
    counts = count_sessions(SuggestionSession.objects.filter(f.in_range("created_at")).exclude(shown=[]))
    counts["rate"] = rate(counts["deflected"], counts["sessions"])
    return counts


def _by_article(f: ReportFilter) -> list[dict]:
    rows = (
        SuggestionSession.objects.filter(f.in_range("created_at"), opened__isnull=False)
        .values("opened__title")
        .annotate(n_opened=Count("id"), n_sent=Count("id", filter=Q(submitted_case__isnull=False)))
        .order_by("-n_opened", "opened__title")[:20]
    )
    return [
        {
            "article": r["opened__title"],
            "opened": r["n_opened"],
            "deflected": r["n_opened"] - r["n_sent"],
            "rate": rate(r["n_opened"] - r["n_sent"], r["n_opened"]),
        }
        for r in rows
    ]


def _deflection(f: ReportFilter) -> list[Table]:
    c = deflection_counts(f)
    s = c["sessions"]
    sent_after, sent_only = c["opened_then_sent"], c["sent_without_opening"]
    rows = [
        {"label": "Visits shown suggestions", "count": s, "rate": None},
        {"label": "Opened a suggested article", "count": c["opened"], "rate": rate(c["opened"], s)},
        {"label": "Opened one, then sent a request", "count": sent_after, "rate": rate(sent_after, s)},
        {"label": "Sent a request without opening one", "count": sent_only, "rate": rate(sent_only, s)},
        {"label": "Deflected: opened one, sent nothing", "count": c["deflected"], "rate": c["rate"]},
    ]
    empty = "No web-form visit was shown suggestions in this range."
    return [
        Table(
            "Knowledge-base deflection",
            [Column("label", ""), Column("count", "Visits", "count"), Column("rate", "Share", "percent")],
            rows if s else [],
            empty=empty,
            slug="deflection",
        ),
        Table(
            "Suggested articles opened",
            [
                Column("article", "Article"),
                Column("opened", "Opened", "count"),
                Column("deflected", "No request after", "count"),
                Column("rate", "Deflection", "percent"),
            ],
            _by_article(f),
            empty="No suggested article was opened in this range.",
            slug="deflection-articles",
        ),
    ]


register(
    MetricDef(
        "kb_deflection",
        "Knowledge-base deflection",
        KB,
        _deflection,
        section="Quality",
        headline=lambda f: deflection_counts(f)["rate"],
        unit="percent",
    )
)
