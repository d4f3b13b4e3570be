"""/api/v1/rules — triage rules as data: list, create, update, dry-run."""

from __future__ import annotations

from typing import Any

from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field, StrictBool

from casework.core.errors import NotFound, ValidationFailed
from casework.people.permissions import LEAD, require_role
from casework.triage.conditions import RuleDefinitionError
from casework.triage.dryrun import dry_run, spec_from_draft
from casework.triage.models import Rule
from casework.triage.rule_changes import rule_save

from ..auth import ADMIN, TokenAuth

router = Router(tags=["triage"])


class RuleOut(Schema):
    id: int
    key: str | None
    name: str
    description: str
    trigger: str
    conditions: Any
    actions: list
    order: int
    stop_processing: bool
    enabled: bool
    last_error: str
    matched_count: int


class RuleIn(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    trigger: str = "case_opened"
    conditions: dict[str, Any] = Field(
        default_factory=dict, description='A condition tree ({"all": [...]}, ...); {} matches every case'
    )
    actions: list = Field(default_factory=list)
    order: int = 100
    stop_processing: StrictBool = False
    enabled: StrictBool = False
    reason: str = Field(default="", max_length=1000, description="Why: kept in the rule's history")


class RulePatch(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    trigger: str | None = None
    conditions: dict[str, Any] | None = Field(default=None, description="{} for no conditions; not null")
    actions: list | None = None
    order: int | None = None
    stop_processing: StrictBool | None = None
    enabled: StrictBool | None = None
    reason: str = Field(default="", max_length=1000, description="Why: kept in the rule's history")


class DryRunIn(Schema):
    model_config = ConfigDict(extra="forbid")
    rule_id: int | None = None
    trigger: str = "case_opened"
    conditions: dict[str, Any] | None = None
    actions: list = Field(default_factory=list)
    last: int = Field(default=100, ge=1, le=1000)


class DryRunQuery(Schema):
    trigger: str = ""


def _out(rule: Rule) -> dict:
    return {
        "id": rule.pk,
        "key": rule.key,
        "name": rule.name,
        "description": rule.description,
        "trigger": rule.trigger,
        "conditions": rule.conditions,
        "actions": rule.actions,
        "order": rule.order,
        "stop_processing": rule.stop_processing,
        "enabled": rule.enabled,
        "last_error": rule.last_error,
        "matched_count": rule.matched_count,
    }


def _get(rule_id: int) -> Rule:
    rule = Rule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise NotFound(f"No rule {rule_id}", code="rule_not_found")
    return rule


@router.get("/rules", response=list[RuleOut], summary="List triage rules")
def list_rules(request, params: Query[DryRunQuery]):
    qs = Rule.objects.order_by("trigger", "order", "id")
    if params.trigger:
        qs = qs.filter(trigger=params.trigger)
    return [_out(r) for r in qs]


@router.post(
    "/rules",
    auth=ADMIN,
    response={201: RuleOut},
    summary="Create a rule (disabled by default: dry-run it first)",
)
def create_rule(request, payload: RuleIn):
    require_role(request.auth, LEAD, "triage rules")
    fields = payload.model_dump()
    reason = fields.pop("reason") or "Created through the API"
    rule = rule_save(rule=None, fields=fields, actor=request.auth, reason=reason)
    return Status(201, _out(rule))


@router.get("/rules/{int:rule_id}", response=RuleOut, summary="One rule")
def get_rule(request, rule_id: int):
    return _out(_get(rule_id))


@router.patch("/rules/{int:rule_id}", auth=ADMIN, response=RuleOut, summary="Update a rule")
def update_rule(request, rule_id: int, payload: RulePatch):
    require_role(request.auth, LEAD, "triage rules")
    rule = _get(rule_id)
    changes = payload.model_dump(exclude_unset=True)
    reason = changes.pop("reason", "") or "Changed through the API"
    for name, value in changes.items():
        if value is None:
            raise ValidationFailed(f"{name} cannot be null", code="validation_failed")
    rule = rule_save(rule=rule, fields=changes, actor=request.auth, reason=reason)
    return _out(rule)


@router.post(
    "/rules/dry-run",
    auth=TokenAuth(scope="read"),
    summary="What a rule (saved or draft) would do to recent cases (changes nothing)",
)
def dry_run_rule(request, payload: DryRunIn):
    require_role(request.auth, LEAD, "rule dry-runs")
    if payload.rule_id is not None:
        rule = _get(payload.rule_id)
        trigger, conditions, actions, name = rule.trigger, rule.conditions, rule.actions, rule.name
    else:
        trigger, conditions, actions, name = payload.trigger, payload.conditions, payload.actions, "draft"
    try:
        spec = spec_from_draft(name=name, trigger=trigger, conditions=conditions or None, actions=actions)
    except RuleDefinitionError as exc:
        raise ValidationFailed(str(exc), code="invalid_rule", details={"path": exc.path}) from exc
    rows = dry_run(spec=spec, last=payload.last)
    return {
        "checked": len(rows),
        "matched": sum(r.matched for r in rows),
        "cases": [
            {
                "reference": r.reference,
                "subject": r.subject,
                "reasons": r.reasons,
                "changes": {k: {"from": v[0], "to": v[1]} for k, v in r.changes.items()},
            }
            for r in rows
            if r.matched
        ],
    }
