"""Rule dry-run page: try a saved rule or a draft on recent cases before enabling it."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from casework.people.permissions import LEAD, agent_required, case_for_request, role_required

from . import impact
from .conditions import RuleDefinitionError
from .dryrun import dry_run, spec_from_draft
from .engine import TRIGGERS
from .models import Rule


@role_required(LEAD)
def dry_run_view(request: HttpRequest) -> HttpResponse:
    rule = (
        Rule.objects.filter(pk=request.GET.get("rule") or None).first()
        if request.GET.get("rule", "").isdigit()
        else None
    )
    data = request.POST if request.method == "POST" else None
    context: dict = {"triggers": sorted(TRIGGERS), "rules": Rule.objects.order_by("trigger", "order")}
    draft = {
        "name": rule.name if rule else "",
        "trigger": rule.trigger if rule else "case_opened",
        "conditions": json.dumps(
            rule.conditions if rule else {"field": "text", "op": "contains_any", "value": []}, indent=2
        ),
        "actions": json.dumps(rule.actions if rule else [], indent=2),
        "last": 100,
    }
    if data is not None:
        draft.update({k: data.get(k, draft[k]) for k in ("name", "trigger", "conditions", "actions")})
        try:
            draft["last"] = max(1, min(int(data.get("last", 100)), 1000))
        except ValueError:
            draft["last"] = 100
    context["draft"] = draft
    if data is not None or rule is not None:
        try:
            spec = spec_from_draft(
                name=draft["name"],
                trigger=draft["trigger"],
                conditions=json.loads(draft["conditions"]),
                actions=json.loads(draft["actions"]),
            )
            rows = dry_run(spec=spec, last=draft["last"])
            context["rows"] = rows
            context["matched"] = [r for r in rows if r.matched]
        except json.JSONDecodeError as exc:
            context["error"] = f"Not valid JSON: {exc}"
        except RuleDefinitionError as exc:
            context["error"] = str(exc)
    return render(request, "triage/dry_run.html", context)


# --------------------------------------------------------------------------------------------------
# needs human triage: the triager's queue, one key per case
# --------------------------------------------------------------------------------------------------


def _choices(guesses: dict, case) -> list[dict]:
    """Up to two one-key choices: the model's first and second guesses (a field it was sure about, or
    that a rule decided, keeps the case's value)."""
    cats = guesses.get("category") or [[case.category.slug if case.category_id else "other", 1.0]]
    pris = guesses.get("priority") or [[case.priority, 1.0]]
    out = []
    for i in range(2):
        cat = cats[min(i, len(cats) - 1)]
        pri = pris[min(i, len(pris) - 1)]
        choice = {
            "key": i + 1,
            "category": cat[0],
            "priority": pri[0],
            "p_category": cat[1],
            "p_priority": pri[1],
        }
        if not any(c["category"] == choice["category"] and c["priority"] == choice["priority"] for c in out):
            out.append(choice)
    return out


@agent_required
def needs_triage_view(request: HttpRequest) -> HttpResponse:
    from casework.cases.models import Case, Category, Priority
    from casework.cases.status import Status

    from .services import PRIORITY_CRITERIA
    from .verdicts import NEEDS_TRIAGE_TAG, latest_guesses

    cases = list(
        Case.objects.filter(status=Status.NEW, tags__name=NEEDS_TRIAGE_TAG)
        .select_related("category", "customer", "organisation")
        .order_by("created_at")[:100]
    )
    guesses = latest_guesses(c.pk for c in cases)
    rows = [{"case": c, "choices": _choices(guesses.get(c.pk, {}).get("guesses", {}), c)} for c in cases]
    return render(
        request,
        "triage/needs_triage.html",
        {
            "rows": rows,
            "categories": Category.objects.filter(active=True),
            "priorities": Priority.choices,
            "criteria": PRIORITY_CRITERIA,
            "impact_criteria": {k.replace("_", " "): v for k, v in impact.CRITERIA.items()},
        },
    )


@agent_required
def verdict_view(request: HttpRequest, reference: str) -> HttpResponse:
    from django.contrib import messages
    from django.http import HttpResponseNotAllowed
    from django.shortcuts import redirect

    from casework.core.errors import ApplicationError

    from .verdicts import triage_verdict

    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    case = case_for_request(request, reference)
    try:
        confirmed = triage_verdict(
            case=case,
            category=request.POST.get("category", ""),
            priority=request.POST.get("priority", ""),
            actor=request.user,
        )
    except ApplicationError as exc:
        messages.error(request, f"{case.reference}: {exc.message}")
    else:
        messages.success(request, f"{case.reference} {'confirmed' if confirmed else 'corrected'}")
    return redirect("triage:needs_triage")


@agent_required
def corrections_view(request: HttpRequest) -> HttpResponse:
    from . import model_store
    from .verdicts import correction_rates

    rows = correction_rates(days=30)
    total = sum(r["cases"] for r in rows)
    corrected = sum(r["corrected"] for r in rows)
    current = model_store.current_name()
    meta = next((m for m in model_store.versions() if m.get("version") == current), None)
    return render(
        request,
        "triage/corrections.html",
        {
            "rows": rows,
            "total": total,
            "corrected": corrected,
            "rate": corrected / total if total else None,
            "model": meta,
        },
    )
