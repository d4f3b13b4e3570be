"""Rule dry-run page: try a saved rule or a draft on recent cases before enabling it."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from casework.people.permissions import LEAD, role_required

from .conditions import RuleDefinitionError
from .engine import TRIGGERS
from .models import Rule
from .services import dry_run, spec_from_draft


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
