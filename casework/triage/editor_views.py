"""The rule editor for team leads: list, create, edit, enable/disable and reorder triage rules, with the
conditions and actions as form rows (`rule_form.py`) and the dry run shown before anything is saved.
Writes go through `rule_changes.py` (who and why are recorded)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from casework.core.errors import ApplicationError
from casework.people.models import Team
from casework.people.permissions import lead_required

from . import rule_form
from .conditions import CATEGORIES, CHANNELS, CUSTOMER_TIERS, FIELDS, PRIORITIES, SUPPORT_TIERS
from .dryrun import dry_run
from .engine import ACTIONS, NOTIFY_ROLES, RuleSpec, describe_action
from .models import CannedReply, Rule, RuleChange
from .rule_changes import rule_move, rule_save, rule_set_enabled

EXTRA_CONDITION_ROWS = 2
EXTRA_ACTION_ROWS = 1
MAX_ROWS = 60
DRY_RUN_CASES = 200

FIELD_LABELS = {
    "text": "Subject or body",
    "subject": "Subject",
    "body": "Body",
    "organisation": "Organisation",
    "channel": "Channel",
    "customer_tier": "Customer tier",
    "priority": "Priority",
    "category": "Category",
    "status": "Status",
    "vip": "VIP customer",
    "frustrated": "Frustrated customer",
    "age_minutes": "Age (minutes)",
    "sentiment": "Sentiment (−1 to 1)",
    "tier": "Support tier",
    "tags": "Tags",
}
TRIGGER_LABELS = {
    "case_opened": "When a case opens",
    "message_received": "When the customer writes",
    "status_changed": "When the status changes",
    "sla_at_risk": "When an SLA is at risk",
    "sla_breached": "When an SLA is breached",
    "scheduled": "On schedule (once per open case)",
}


def _choices_context() -> dict:
    users = list(
        get_user_model()
        .objects.filter(is_active=True, agent__isnull=False)
        .values_list("username", flat=True)
    )
    field_values = {name: list(choices or ()) for name, (_kind, choices) in FIELDS.items()}
    field_values["tier"] = list(SUPPORT_TIERS)
    field_values["vip"] = field_values["frustrated"] = ["true", "false"]
    action_values = {
        "set_priority": list(PRIORITIES),
        "raise_priority_to": list(PRIORITIES),
        "set_category": list(CATEGORIES),
        "assign_team": list(Team.objects.order_by("name").values_list("name", flat=True)),
        "assign_agent": users,
        "escalate_to_tier": list(SUPPORT_TIERS),
        "notify": sorted(NOTIFY_ROLES) + users,
        "send_canned_reply": list(
            CannedReply.objects.filter(active=True).order_by("name").values_list("name", flat=True)
        ),
    }
    return {
        "fields": [(name, FIELD_LABELS.get(name, name)) for name in FIELDS],
        "operators": list(rule_form.OPERATOR_LABELS.items()),
        "operators_by_field": {name: rule_form.operators_for(name) for name in FIELDS},
        "field_values": {k: [str(v) for v in vs] for k, vs in field_values.items()},
        "action_types": [(name, rule_form.ACTION_LABELS.get(name, name)) for name in ACTIONS],
        "action_values": {k: [str(v) for v in vs] for k, vs in action_values.items()},
        "no_value_actions": [name for name, spec in ACTIONS.items() if not spec.takes_value],
        "triggers": [(t, TRIGGER_LABELS.get(t, t)) for t in sorted(TRIGGER_LABELS)],
        "groups": rule_form.GROUPS,
        "choices_hint": {"priorities": PRIORITIES, "channels": CHANNELS, "tiers": CUSTOMER_TIERS},
    }


# --------------------------------------------------------------------------------------------------
# list
# --------------------------------------------------------------------------------------------------


@lead_required
def rules_list(request: HttpRequest) -> HttpResponse:
    rules = list(Rule.objects.order_by("trigger", "order", "id"))
    by_trigger: dict[str, list[Rule]] = {}
    for rule in rules:
        try:
            rule.summary = ", ".join(describe_action(a) for a in rule.actions or [])
        except (KeyError, TypeError, AttributeError):
            rule.summary = "actions the engine does not know (see the rule)"
        by_trigger.setdefault(rule.trigger, []).append(rule)
    groups = [
        {"trigger": t, "label": TRIGGER_LABELS.get(t, t), "rules": rs} for t, rs in sorted(by_trigger.items())
    ]
    changes = RuleChange.objects.select_related("actor", "rule")[:20]
    return render(request, "triage/rules.html", {"groups": groups, "changes": changes})


@lead_required
@require_POST
def rule_toggle(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(Rule, pk=rule_id)
    enabled = request.POST.get("enabled") == "1"
    try:
        rule_set_enabled(
            rule=rule, enabled=enabled, actor=request.user, reason=request.POST.get("reason", "")
        )
    except ApplicationError as exc:
        messages.error(request, f"'{rule.name}': {exc.message}")
    else:
        messages.success(request, f"'{rule.name}' {'enabled' if enabled else 'disabled'}.")
    return redirect("triage:rules")


@lead_required
@require_POST
def rule_reorder(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(Rule, pk=rule_id)
    try:
        rule_move(rule=rule, direction=request.POST.get("direction", ""), actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect(f"{_rules_url()}#rule-{rule.pk}")


def _rules_url() -> str:
    from django.urls import reverse

    return reverse("triage:rules")


# --------------------------------------------------------------------------------------------------
# editor
# --------------------------------------------------------------------------------------------------


def _posted_rows(post) -> tuple[list[rule_form.ConditionRow], list[rule_form.ActionRow]]:
    conditions = []
    for i in range(min(_int(post.get("condition_count"), 0), MAX_ROWS)):
        conditions.append(
            rule_form.ConditionRow(
                field=post.get(f"c{i}-field", ""),
                op=post.get(f"c{i}-op", ""),
                value=post.get(f"c{i}-value", ""),
                negate=post.get(f"c{i}-negate") == "on",
                group=post.get(f"c{i}-group", ""),
            )
        )
    actions = []
    for i in range(min(_int(post.get("action_count"), 0), MAX_ROWS)):
        actions.append(
            rule_form.ActionRow(
                type=post.get(f"a{i}-type", ""),
                value=post.get(f"a{i}-value", ""),
                message=post.get(f"a{i}-message", ""),
            )
        )
    return conditions, actions


def _int(text, default: int) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return default


def _pad(conditions: list, actions: list, more: int = 0) -> tuple[list, list]:
    conditions = conditions + [rule_form.ConditionRow() for _ in range(EXTRA_CONDITION_ROWS + more)]
    actions = actions + [rule_form.ActionRow() for _ in range(EXTRA_ACTION_ROWS + (1 if more else 0))]
    return conditions[:MAX_ROWS], actions[:MAX_ROWS]


@lead_required
def rule_edit(request: HttpRequest, rule_id: int | None = None) -> HttpResponse:
    rule = get_object_or_404(Rule, pk=rule_id) if rule_id is not None else None
    context: dict = {"rule": rule, **_choices_context()}
    if rule is not None:
        context["history"] = rule.changes.select_related("actor")[:20]
    if request.method != "POST":
        meta = {
            "name": rule.name if rule else "",
            "description": rule.description if rule else "",
            "trigger": rule.trigger if rule else "case_opened",
            "order": rule.order if rule else 100,
            "stop_processing": rule.stop_processing if rule else False,
            "enabled": rule.enabled if rule else False,
        }
        try:
            match, conditions = rule_form.conditions_to_rows(rule.conditions if rule else None)
        except rule_form.TooDeep as exc:
            context.update(meta=meta, too_deep=str(exc))
            return render(request, "triage/rule_edit.html", context)
        actions = rule_form.actions_to_rows(rule.actions if rule else [])
        conditions, actions = _pad(conditions, actions)
        context.update(meta=meta, match=match, condition_rows=conditions, action_rows=actions)
        return render(request, "triage/rule_edit.html", context)

    post = request.POST
    meta = {
        "name": post.get("name", "").strip()[:200],
        "description": post.get("description", "").strip(),
        "trigger": post.get("trigger", ""),
        "order": _int(post.get("order"), 100),
        "stop_processing": post.get("stop_processing") == "on",
        "enabled": post.get("enabled") == "on",
    }
    match = post.get("match", "all")
    op = post.get("op") or "preview"
    conditions, actions = _posted_rows(post)
    parsed = rule_form.parse_rows(match, conditions, actions)
    errors = list(parsed.errors)
    if meta["trigger"] not in TRIGGER_LABELS:
        errors.insert(0, "Choose when the rule runs.")
    if not meta["name"]:
        errors.insert(0, "Give the rule a name.")
    condition_rows, action_rows = _pad(
        parsed.condition_rows, parsed.action_rows, more=2 if op == "more" else 0
    )
    context.update(
        meta=meta,
        match=match,
        condition_rows=condition_rows,
        action_rows=action_rows,
        reason=post.get("reason", ""),
    )
    if op == "more" or errors:
        context["errors"] = errors if op != "more" else []
        return render(request, "triage/rule_edit.html", context)

    digest = rule_form.definition_digest(meta["trigger"], parsed.conditions, parsed.actions)
    spec = RuleSpec(
        id=str(rule.pk) if rule else "draft",
        name=meta["name"],
        trigger=meta["trigger"],
        conditions=parsed.conditions or None,
        actions=parsed.actions,
        order=meta["order"],
    )
    last = max(1, min(_int(post.get("last"), DRY_RUN_CASES), 1000))
    rows = dry_run(spec=spec, last=last)
    matched = [r for r in rows if r.matched]
    summary = {"checked": len(rows), "matched": len(matched), "errors": sum(1 for r in rows if r.error)}
    context.update(digest=digest, dry_rows=matched[:100], dry_summary=summary, last=last)
    if op != "save":
        return render(request, "triage/rule_edit.html", context)
    if post.get("previewed") != digest:
        context["errors"] = [
            "The rule changed since the dry run shown: check the new dry run below, then save."
        ]
        return render(request, "triage/rule_edit.html", context)
    fields = {**meta, "conditions": parsed.conditions, "actions": parsed.actions}
    try:
        saved = rule_save(
            rule=rule, fields=fields, actor=request.user, reason=post.get("reason", ""), dry_run=summary
        )
    except ApplicationError as exc:
        context["errors"] = [exc.message]
        return render(request, "triage/rule_edit.html", context)
    state = "enabled" if saved.enabled else "saved disabled (enable it when you are ready)"
    messages.success(
        request,
        f"Rule '{saved.name}' {state}. It matched {summary['matched']} of {summary['checked']} recent cases.",
    )
    return redirect(f"{_rules_url()}#rule-{saved.pk}")
