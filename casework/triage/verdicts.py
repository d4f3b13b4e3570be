"""Needs human triage, the triager's verdicts and agents' corrections: the labels the model learns from."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from casework.cases import services as case_services
from casework.cases.models import Case, CaseEvent, EventKind
from casework.cases.services.unit_of_work import active, door
from casework.cases.status import Status
from casework.core.errors import ApplicationError

from .decision import Decision

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------
# needs human triage, verdicts and corrections (the labels the model learns from)
# --------------------------------------------------------------------------------------------------

NEEDS_TRIAGE_TAG = "needs-triage"


@door
def mark_needs_human_triage(*, case: Case, decision: Decision, fields: list[str]) -> None:
    """The model was unsure and no rule decided: the case stays New, tagged for the triager, with the top
    two guesses on the timeline (the queue shows them as one-key choices)."""
    guesses = {name: [[label, round(p, 4)] for label, p in decision.top_two(name)] for name in fields}
    for name in ("category", "priority"):
        if name not in guesses and decision.values.get(name):
            guesses[name] = [[decision.values[name], 1.0]]
    text = "; ".join(decision.explanations[name] for name in fields)
    case_services.case_set_tags(case=case, add=[NEEDS_TRIAGE_TAG], actor="triage", reason=text)
    case_services.case_record_system_event(
        case=case,
        kind=EventKind.NOTE,
        actor="triage",
        reason=f"Needs human triage: {text}",
        data={"triage": "needs_human", "fields": fields, "guesses": guesses},
    )


def latest_guesses(case_ids) -> dict[int, dict]:
    """The latest 'needs human triage' note of each case: {case_id: {"fields", "guesses"}} (one query)."""
    found: dict[int, dict] = {}
    events = CaseEvent.objects.filter(
        case_id__in=list(case_ids), kind=EventKind.NOTE, data__triage="needs_human"
    )
    for event in events.order_by("case_id", "-id").only("case_id", "data"):
        found.setdefault(event.case_id, event.data)
    return found


@door
def triage_verdict(*, case: Case, category: str, priority: str, actor) -> bool:
    """A person's triage of a case (one key in the queue): set category and priority, clear the tag, move
    New → Triaged, and record the verdict as a label. Returns True when it confirmed the model's guesses."""
    from casework.cases.models import Priority
    from casework.cases.services._core import resolve_category

    resolved = resolve_category(category)  # validate both before anything is written
    if resolved is None:
        raise ApplicationError(
            "Choose a category: a triage verdict names both fields", code="category_required"
        )
    if priority not in Priority.values:
        raise ApplicationError(f"Unknown priority {priority!r}", code="invalid_priority")
    work = active()
    case = work.lock(case)
    guesses = latest_guesses([case.pk]).get(case.pk, {}).get("guesses", {})
    top = {name: (values[0][0] if values else None) for name, values in guesses.items()}
    confirmed = top.get("category") in (None, resolved.slug) and top.get("priority") in (None, priority)
    data = {"triage_verdict": True}
    if case.category_id != resolved.pk:
        case_services.case_set_category(case=case, category=resolved, actor=actor, reason="triage", data=data)
    if case.priority != priority:
        case_services.case_set_priority(case=case, priority=priority, actor=actor, reason="triage", data=data)
    if NEEDS_TRIAGE_TAG in {t.name for t in work.tags_of(case)}:
        case_services.case_set_tags(case=case, remove=[NEEDS_TRIAGE_TAG], actor=actor, reason="triaged")
    who = getattr(actor, "username", str(actor))
    if confirmed:
        reason = f"Triage confirmed by {who}: {resolved.slug}, {priority}"
    else:
        guessed = ", ".join(f"{k} {v}" for k, v in top.items() if v)
        reason = f"Triage corrected by {who}: {resolved.slug}, {priority}" + (
            f" (model guessed {guessed})" if guessed else ""
        )
    case_services.case_record_system_event(
        case=case,
        kind=EventKind.NOTE,
        actor=actor,
        reason=reason,
        data={
            "triage_label": {"category": resolved.slug, "priority": priority, "confirmed": confirmed},
            **({} if confirmed else {"triage_corrected": {"category": top.get("category"),
                                                         "priority": top.get("priority")}}),
        },
    )  # fmt: skip
    if case.status == Status.NEW:
        case_services.case_transition(case=case, to=Status.TRIAGED, actor=actor, reason=reason)
    return confirmed


@door
def record_correction(*, case: Case, event: CaseEvent) -> None:
    """A person changed a category or priority that triage had set: count it as a correction."""
    field_name = "category" if event.kind == EventKind.CATEGORY_CHANGED else "priority"
    if event.old in (None, "", event.new):
        return
    case_services.case_record_system_event(
        case=case,
        kind=EventKind.NOTE,
        actor="triage",
        reason=f"Triage corrected: {field_name} {event.old} → {event.new}",
        data={"triage_corrected": {field_name: event.old}, "by": event.actor_id},
    )


def correction_rates(*, days: int = 30, now: datetime | None = None) -> list[dict[str, Any]]:
    """For the lead: per category, cases opened in the last `days`, how many a person corrected triage on,
    and the rate. Two aggregate queries."""
    from django.db.models import Count

    from casework.cases.models import Category

    now = now or timezone.now()
    since = now - timedelta(days=days)
    corrected_ids = CaseEvent.objects.filter(
        kind=EventKind.NOTE, data__has_key="triage_corrected", created_at__gte=since
    ).values("case_id")
    opened = dict(
        Case.objects.filter(created_at__gte=since)
        .values_list("category_id")
        .annotate(n=Count("id"))
        .values_list("category_id", "n")
    )
    corrected = dict(
        Case.objects.filter(created_at__gte=since, pk__in=corrected_ids)
        .values_list("category_id")
        .annotate(n=Count("id"))
        .values_list("category_id", "n")
    )
    names = dict(Category.objects.values_list("id", "name"))
    rows = []
    for category_id in sorted(set(opened) | set(corrected), key=lambda c: names.get(c, "~")):
        n, c = opened.get(category_id, 0), corrected.get(category_id, 0)
        rows.append(
            {"category": names.get(category_id, "(none)"), "cases": n, "corrected": c,
             "rate": round(c / n, 4) if n else None}
        )  # fmt: skip
    return rows
