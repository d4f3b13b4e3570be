"""The rule editor's rows: a rule's JSON conditions and actions as form rows, and back (pure, no Django).

A rule's conditions are shown as one combinator for the whole rule ("all" or "any") and a row per
condition (field, operator, value, "not"). Rows that share a group letter form one sub-group joined by
the other combinator, so `any[subject contains …, body contains …, all[tier = 2, vip is true]]` is three
plain rows joined by "any" plus two rows in group A. That is the shape every shipped rule has; a
definition nested deeper than that (possible through the API) is reported as `TooDeep` and the editor
shows it read-only rather than flattening it wrongly.

Values are typed the way an agent types them: lists (`in`, `contains_any`, …) separated by commas,
numbers as numbers, true/false for flags. Each row is checked on its own with the engine's validation, so
an error names the row ("Condition 2: operator 'gt' does not apply to field 'subject' …").
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .conditions import (
    FIELDS,
    NO_VALUE_OPERATORS,
    OPERATORS_BY_KIND,
    PRIORITY_OPERATORS,
    RuleDefinitionError,
    compile_conditions,
)
from .engine import ACTIONS, validate_actions

LIST_OPERATORS = frozenset({"in", "not_in", "contains_any", "contains_all"})
GROUPS = ("A", "B", "C", "D")
OTHER = {"all": "any", "any": "all"}

# Operator names as a lead reads them in the select.
OPERATOR_LABELS: dict[str, str] = {
    "eq": "is",
    "ne": "is not",
    "in": "is one of",
    "not_in": "is none of",
    "contains_any": "contains any of",
    "contains_all": "contains all of",
    "matches": "matches pattern",
    "lt": "is less than",
    "lte": "is at most",
    "gt": "is more than",
    "gte": "is at least",
    "is_true": "is true",
    "is_false": "is false",
    "has_tag": "has tag",
    "priority_at_least": "is at least (priority)",
    "priority_at_most": "is at most (priority)",
}

ACTION_LABELS: dict[str, str] = {
    "set_priority": "Set priority to",
    "raise_priority_to": "Raise priority to at least",
    "set_category": "Set category to",
    "add_tag": "Add tag",
    "assign_team": "Assign to team",
    "assign_agent": "Assign to agent (username)",
    "escalate_to_tier": "Escalate to tier",
    "notify": "Notify (team_lead, owner, manager or a username)",
    "send_canned_reply": "Send canned reply",
    "set_frustrated": "Mark the customer frustrated",
    "stop_processing": "Stop: skip later rules",
}


class TooDeep(ValueError):
    """The conditions nest further than rows and one level of groups can show."""


@dataclass
class ConditionRow:
    field: str = ""
    op: str = ""
    value: str = ""
    negate: bool = False
    group: str = ""
    error: str = ""


@dataclass
class ActionRow:
    type: str = ""
    value: str = ""
    message: str = ""
    error: str = ""


@dataclass
class ParsedRule:
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    condition_rows: list[ConditionRow]
    action_rows: list[ActionRow]
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def operators_for(field_name: str) -> list[str]:
    kind, _ = FIELDS[field_name]
    ops = set(OPERATORS_BY_KIND[kind]) | (PRIORITY_OPERATORS if field_name == "priority" else set())
    return sorted(ops, key=list(OPERATOR_LABELS).index)


# --------------------------------------------------------------------------------------------------
# definition → rows
# --------------------------------------------------------------------------------------------------


def _value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(_value_text(v) for v in value)
    return str(value)


def _leaf_row(node: Any, group: str = "") -> ConditionRow:
    negate = False
    if isinstance(node, dict) and set(node) == {"not"}:
        negate, node = True, node["not"]
    if not isinstance(node, dict) or "field" not in node:
        raise TooDeep("a group inside a group")
    return ConditionRow(
        field=str(node.get("field", "")),
        op=str(node.get("op", "")),
        value=_value_text(node.get("value")),
        negate=negate,
        group=group,
    )


def conditions_to_rows(conditions: Any) -> tuple[str, list[ConditionRow]]:
    """(combinator, rows) for a stored definition; raises TooDeep for shapes rows cannot show."""
    if not conditions:
        return "all", []
    if "field" in conditions or "not" in conditions:
        return "all", [_leaf_row(conditions)]
    match = "all" if "all" in conditions else "any"
    rows: list[ConditionRow] = []
    groups = iter(GROUPS)
    for child in conditions[match]:
        if isinstance(child, dict) and match in child and "field" not in child:
            rows.extend(_leaf_row(c) for c in child[match])  # same combinator: the same list
        elif isinstance(child, dict) and OTHER[match] in child and "field" not in child:
            letter = next(groups, None)
            if letter is None:
                raise TooDeep(f"more than {len(GROUPS)} groups")
            rows.extend(_leaf_row(c, letter) for c in child[OTHER[match]])
        else:
            rows.append(_leaf_row(child))
    return match, rows


def actions_to_rows(actions: Any) -> list[ActionRow]:
    rows = []
    for action in actions or []:
        value = action.get("value")
        if action.get("type") == "notify" and isinstance(value, dict):
            rows.append(ActionRow(type="notify", value=value.get("to", ""), message=value.get("message", "")))
        else:
            rows.append(ActionRow(type=action.get("type", ""), value=_value_text(value)))
    return rows


# --------------------------------------------------------------------------------------------------
# rows → definition
# --------------------------------------------------------------------------------------------------


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _scalar(kind: str, text: str) -> Any:
    if kind == "number":
        try:
            return _number(text)
        except ValueError:
            raise RuleDefinitionError("value", f"{text!r} is not a number") from None
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise RuleDefinitionError("value", f"{text!r} is not true or false")
    return text


def row_leaf(row: ConditionRow) -> dict[str, Any]:
    """The JSON leaf for one row; raises RuleDefinitionError with a message about that row."""
    if row.field not in FIELDS:
        raise RuleDefinitionError("field", f"choose a field (not {row.field!r})")
    kind, _ = FIELDS[row.field]
    if row.op not in OPERATOR_LABELS:
        raise RuleDefinitionError("op", f"choose an operator (not {row.op!r})")
    allowed = operators_for(row.field)
    if row.op not in allowed:
        raise RuleDefinitionError(
            "op",
            f"operator {row.op!r} does not apply to field {row.field!r} ({kind}); use one of: "
            + ", ".join(OPERATOR_LABELS[o] for o in allowed),
        )
    leaf: dict[str, Any] = {"field": row.field, "op": row.op}
    text = row.value.strip()
    if row.op in NO_VALUE_OPERATORS:
        pass
    elif row.op in LIST_OPERATORS:
        items = [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
        if not items:
            raise RuleDefinitionError("value", "give at least one value (separate several with commas)")
        leaf["value"] = [_scalar(kind, item) for item in items] if kind == "number" else items
    elif row.op in ("lt", "lte", "gt", "gte"):
        leaf["value"] = _scalar("number", text)
    elif not text:
        raise RuleDefinitionError("value", "give a value")
    else:
        leaf["value"] = _scalar(kind, text)
    compile_conditions(leaf)
    return {"not": leaf} if row.negate else leaf


def row_action(row: ActionRow) -> dict[str, Any]:
    if row.type not in ACTIONS:
        raise RuleDefinitionError("type", f"choose an action (not {row.type!r})")
    spec = ACTIONS[row.type]
    action: dict[str, Any] = {"type": row.type}
    text = row.value.strip()
    if row.type == "notify":
        action["value"] = {"to": text, "message": row.message.strip()}
    elif row.type == "escalate_to_tier":
        try:
            action["value"] = int(text)
        except ValueError:
            raise RuleDefinitionError("value", "the tier is 1, 2 or 3") from None
    elif spec.takes_value:
        if not text:
            raise RuleDefinitionError("value", "give a value")
        action["value"] = text
    validate_actions([action], path="action")
    return action


def _detail(exc: RuleDefinitionError) -> str:
    return exc.detail


def parse_rows(match: str, condition_rows: list[ConditionRow], action_rows: list[ActionRow]) -> ParsedRule:
    """Rows as posted → the rule's definition, with an error on each row that is wrong. Rows whose field
    (or action type) is empty are dropped: that is how a row is removed."""
    if match not in OTHER:
        match = "all"
    errors: list[str] = []
    kept_conditions = [r for r in condition_rows if r.field]
    kept_actions = [r for r in action_rows if r.type]
    children: list[Any] = []
    group_nodes: dict[str, list[Any]] = {}
    for number, row in enumerate(kept_conditions, 1):
        try:
            leaf = row_leaf(row)
        except RuleDefinitionError as exc:
            row.error = _detail(exc)
            errors.append(f"Condition {number}: {row.error}")
            continue
        if row.group in GROUPS:
            if row.group not in group_nodes:
                group_nodes[row.group] = []
                children.append(row.group)  # placeholder: the group sits where its first row is
            group_nodes[row.group].append(leaf)
        else:
            children.append(leaf)
    nodes = []
    for child in children:
        if isinstance(child, str):
            members = group_nodes[child]
            nodes.append(members[0] if len(members) == 1 else {OTHER[match]: members})
        else:
            nodes.append(child)
    conditions = {match: nodes} if nodes else {}
    actions = []
    for number, row in enumerate(kept_actions, 1):
        try:
            actions.append(row_action(row))
        except RuleDefinitionError as exc:
            row.error = _detail(exc)
            errors.append(f"Action {number}: {row.error}")
    if not kept_actions:
        errors.append("Add at least one action: a rule that does nothing cannot be saved.")
    return ParsedRule(conditions, actions, kept_conditions, kept_actions, errors)


def definition_digest(trigger: str, conditions: Any, actions: Any) -> str:
    """What the dry run was shown for: saving checks the lead saw the dry run of exactly this rule."""
    text = json.dumps([trigger, conditions, actions], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]
