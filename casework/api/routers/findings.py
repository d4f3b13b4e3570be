"""Insights findings API (team leads and above): repeat contacts, resolution-time outliers, escalation
spikes and knowledge gaps, each with its cases and the numbers that raised it; a gap can be dismissed
(remembered) or turned into a draft article. Writes go through `casework.insights.findings_services`."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse
from ninja import Router, Schema, Status

from casework.core.errors import NotFound
from casework.insights import findings_services
from casework.insights import selectors as insights_selectors
from casework.insights.models import KnowledgeGap
from casework.people.permissions import LEAD, require_role

router = Router(tags=["insights"])


class RepeatOut(Schema):
    case: str
    previous: str
    previous_subject: str
    similarity: float
    threshold: float
    via: str
    gap_seconds: float
    shared: list[str]
    why: str


class OutlierOut(Schema):
    case: str
    subject: str
    priority: str
    seconds: float
    p90_seconds: float
    median_seconds: float
    sample: int
    window_days: int
    resolved_at: dt.datetime
    why: str


class SpikeOut(Schema):
    dimension: str
    key: str
    label: str
    day: dt.date
    count: int
    baseline: float
    mad: float
    z: float
    cases: list[str]


class GapOut(Schema):
    id: int
    source: str
    key: str
    label: str
    terms: list[str]
    cases: list[str]
    case_count: int
    window_days: int
    best_article: int | None
    best_score: float | None
    min_score: float
    state: str
    article: int | None
    why: str


class FindingsOut(Schema):
    days: int
    repeats: list[RepeatOut]
    outliers: list[OutlierOut]
    escalation_spikes: list[SpikeOut]
    volume_spikes: list[SpikeOut]
    gaps: list[GapOut]


class DraftOut(Schema):
    gap: GapOut
    article: int
    url: str


def _spike(s) -> dict:
    return {
        "dimension": s.dimension,
        "key": s.key,
        "label": s.label,
        "day": s.day,
        "count": s.count,
        "baseline": s.baseline,
        "mad": s.mad,
        "z": s.score,
        "cases": s.cases,
    }


def _gap(g: KnowledgeGap) -> dict:
    if g.best_score is None:
        article = "no published article matches them"
    else:
        article = f"the best article scores {g.best_score:.2f} < {g.min_score:.1f}"
    return {
        "id": g.pk,
        "source": g.source,
        "key": g.key,
        "label": g.label,
        "terms": g.terms,
        "cases": g.cases,
        "case_count": g.case_count,
        "window_days": g.window_days,
        "best_article": g.best_article_id,
        "best_score": g.best_score,
        "min_score": g.min_score,
        "state": g.state,
        "article": g.article_id,
        "why": f"{g.case_count} cases in {g.window_days} days about {', '.join(g.terms[:6]) or g.label}; "
        f"{article}.",
    }


def _repeat(r) -> dict:
    return {
        "case": r.case.reference,
        "previous": r.previous.reference,
        "previous_subject": r.previous.subject,
        "similarity": r.similarity,
        "threshold": r.threshold,
        "via": r.via,
        "gap_seconds": r.gap_seconds,
        "shared": r.shared,
        "why": f"Same customer wrote about “{r.previous.subject}” in {r.previous.reference} "
        f"{r.gap_text} (similarity {r.similarity:.2f}"
        + (", a follow-up)" if r.via == "follow_up" else f" ≥ {r.threshold:.2f})"),
    }


def _outlier(o) -> dict:
    return {
        "case": o.case.reference,
        "subject": o.case.subject,
        "priority": o.priority,
        "seconds": o.seconds,
        "p90_seconds": o.p90_seconds,
        "median_seconds": o.median_seconds,
        "sample": o.sample,
        "window_days": o.window_days,
        "resolved_at": o.resolved_at,
        "why": o.why(),
    }


@router.get("/insights/findings", response=FindingsOut, summary="Findings, each with its cases and why")
def list_findings(request, days: int = 7):
    require_role(request.auth, LEAD, "insights findings")
    days = min(max(days, 1), 90)
    f = insights_selectors.findings(days=days)
    return {
        "days": days,
        "repeats": [_repeat(r) for r in f["repeats"]],
        "outliers": [_outlier(o) for o in f["outliers"]],
        "escalation_spikes": [_spike(s) for s in f["escalation_spikes"]],
        "volume_spikes": [_spike(s) for s in f["volume_spikes"]],
        "gaps": [_gap(g) for g in f["gaps"]],
    }


def _get_gap(pk: int) -> KnowledgeGap:
    gap = KnowledgeGap.objects.filter(pk=pk).first()
    if gap is None:
        raise NotFound("Knowledge gap does not exist", code="gap_not_found")
    return gap


@router.post("/insights/gaps/{pk}/dismiss", response=GapOut, summary="Dismiss a gap (remembered)")
def dismiss_gap(request, pk: int):
    require_role(request.auth, LEAD, "knowledge gaps")
    return _gap(findings_services.gap_dismiss(gap=_get_gap(pk), actor=request.auth))


@router.post(
    "/insights/gaps/{pk}/draft", response={201: DraftOut}, summary="Start a draft article from a gap"
)
def draft_from_gap(request, pk: int):
    require_role(request.auth, LEAD, "knowledge gaps")
    article = findings_services.gap_start_draft(gap=_get_gap(pk), actor=request.auth)
    gap = KnowledgeGap.objects.get(pk=pk)
    url = reverse("knowledge:edit", args=[article.pk])
    return Status(201, {"gap": _gap(gap), "article": article.pk, "url": url})
