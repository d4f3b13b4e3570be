"""The door for changing rules: create, edit, enable/disable and move, each validated, in one transaction,
with a `RuleChange` row saying who did it and why. The rule editor and the API call these; the
rules' configuration-version trigger makes every process see the change on its next write."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from casework.core.errors import ValidationFailed

from .conditions import RuleDefinitionError
from .models import Rule, RuleChange
from .services import validate_definition

EDITABLE = ("name", "description", "trigger", "conditions", "actions", "order", "stop_processing", "enabled")


def snapshot(rule: Rule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in EDITABLE}


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why you are changing this rule", code="reason_required")
    return reason[:1000]


def _check(fields: dict[str, Any]) -> None:
    if not str(fields.get("name") or "").strip():
        raise ValidationFailed("A rule needs a name", code="invalid_rule", details={"path": "name"})
    try:
        validate_definition(
            trigger=fields["trigger"], conditions=fields.get("conditions") or None, actions=fields["actions"]
        )
    except RuleDefinitionError as exc:
        raise ValidationFailed(str(exc), code="invalid_rule", details={"path": exc.path}) from exc


@transaction.atomic
def rule_save(
    *, rule: Rule | None, fields: dict[str, Any], actor: Any, reason: str, dry_run: dict | None = None
) -> Rule:
    """Create (`rule=None`) or edit a rule. `fields` holds any of EDITABLE; enabling clears the last
    error. Nothing is written when the definition is invalid or there is no reason."""
    reason = _reason(reason)
    unknown = sorted(set(fields) - set(EDITABLE))
    if unknown:
        raise ValidationFailed(f"Unknown rule field(s) {unknown}", code="invalid_rule")
    if rule is None:
        rule = Rule(enabled=False)
        before = None
    else:
        rule = Rule.objects.select_for_update().get(pk=rule.pk)
        before = snapshot(rule)
    for name, value in fields.items():
        setattr(rule, name, value)
    _check(snapshot(rule))
    if fields.get("enabled") and (before is None or not before["enabled"]):
        rule.last_error, rule.errored_at = "", None
    rule.save()
    after = snapshot(rule)
    if before == after:
        return rule
    RuleChange.objects.create(
        rule=rule,
        rule_name=rule.name,
        action=RuleChange.Action.CREATED if before is None else RuleChange.Action.UPDATED,
        actor=actor if getattr(actor, "pk", None) else None,
        reason=reason,
        before=before,
        after=after,
        dry_run=dry_run,
    )
    return rule


@transaction.atomic
def rule_set_enabled(*, rule: Rule, enabled: bool, actor: Any, reason: str) -> Rule:
    reason = _reason(reason)
    rule = Rule.objects.select_for_update().get(pk=rule.pk)
    if rule.enabled == enabled:
        return rule
    if enabled:
        _check(snapshot(rule))
        rule.last_error, rule.errored_at = "", None
    rule.enabled = enabled
    rule.save(update_fields=["enabled", "last_error", "errored_at", "updated_at"])
    RuleChange.objects.create(
        rule=rule,
        rule_name=rule.name,
        action=RuleChange.Action.ENABLED if enabled else RuleChange.Action.DISABLED,
        actor=actor if getattr(actor, "pk", None) else None,
        reason=reason,
        before={"enabled": not enabled},
        after={"enabled": enabled},
    )
    return rule


@transaction.atomic
def rule_move(*, rule: Rule, direction: str, actor: Any, reason: str = "") -> Rule:
    """Move a rule one place up (runs earlier) or down among the rules of its trigger. Orders are
    renumbered in tens first when neighbours share one, so the move is always visible."""
    if direction not in ("up", "down"):
        raise ValidationFailed("Move a rule up or down", code="invalid_direction")
    siblings = list(Rule.objects.select_for_update().filter(trigger=rule.trigger).order_by("order", "id"))
    index = next(i for i, r in enumerate(siblings) if r.pk == rule.pk)
    other = index - 1 if direction == "up" else index + 1
    if other < 0 or other >= len(siblings):
        return siblings[index]
    before = {r.pk: r.order for r in siblings}
    if len({r.order for r in siblings}) < len(siblings):
        for i, sibling in enumerate(siblings):
            sibling.order = (i + 1) * 10
    moved, neighbour = siblings[index], siblings[other]
    moved.order, neighbour.order = neighbour.order, moved.order
    changed = [r for r in siblings if r.order != before[r.pk]]
    Rule.objects.bulk_update(changed, ["order"])
    RuleChange.objects.create(
        rule=moved,
        rule_name=moved.name,
        action=RuleChange.Action.MOVED,
        actor=actor if getattr(actor, "pk", None) else None,
        reason=(reason or "").strip()[:1000]
        or f"Moved {direction} ({'before' if direction == 'up' else 'after'} '{neighbour.name}')",
        before={"order": before[moved.pk]},
        after={"order": moved.order},
    )
    return moved
