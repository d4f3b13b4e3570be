"""Pure rule engine: which rules match a case's facts, what they would do, and why.

Nothing here touches the database. The triage service builds a facts dict from a case, calls ``plan`` and
applies the returned actions through ``cases.services``; the admin dry-run and the labelled-set test call
``simulate`` on the same code, so what an admin previews is what production does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from casework.triage.conditions import (
    CATEGORIES,
    PRIORITIES,
    PRIORITY_RANK,
    SUPPORT_TIERS,
    CompiledCondition,
    RuleDefinitionError,
    compile_conditions,
)

TRIGGERS: frozenset[str] = frozenset(
    {"case_opened", "message_received", "status_changed", "sla_at_risk", "sla_breached", "scheduled"}
)
NOTIFY_ROLES: frozenset[str] = frozenset({"team_lead", "owner", "manager"})
MAX_TEXT_VALUE = 200


# --- action registry --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionType:
    """How one action type is validated, described in explanations, and reflected in the facts.

    ``apply`` mutates a copy of the facts so later rules in the same run see the effect; actions with
    effects outside the case (notify, canned replies) have no ``apply``.
    """

    name: str
    validate: Callable[[Any, str], Any]
    describe: Callable[[Any], str]
    apply: Callable[[dict[str, Any], Any], None] | None = None
    takes_value: bool = True


ACTIONS: dict[str, ActionType] = {}


def register_action(action: ActionType) -> ActionType:
    ACTIONS[action.name] = action
    return action


def _choice(allowed: Sequence[Any], what: str) -> Callable[[Any, str], Any]:
    def validate(value: Any, path: str) -> Any:
        if isinstance(value, bool) or value not in allowed:
            raise RuleDefinitionError(path, f"{value!r} is not a valid {what}; use one of {list(allowed)}")
        return value

    return validate


def _name(what: str) -> Callable[[Any, str], Any]:
    def validate(value: Any, path: str) -> Any:
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT_VALUE:
            raise RuleDefinitionError(
                path, f"{what} must be a non-empty string of at most {MAX_TEXT_VALUE} chars"
            )
        return value

    return validate


def _validate_notify(value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise RuleDefinitionError(path, 'notify needs {"to": ..., "message": ...}')
    unknown = sorted(set(value) - {"to", "message"})
    if unknown:
        raise RuleDefinitionError(path, f"unknown key(s) {unknown}")
    to = value.get("to")
    if not isinstance(to, str) or not to.strip():
        raise RuleDefinitionError(f"{path}.to", f"'to' must be one of {sorted(NOTIFY_ROLES)} or a username")
    message = value.get("message")
    if not isinstance(message, str) or not message.strip():
        raise RuleDefinitionError(f"{path}.message", "'message' must be a non-empty string")
    return value


def _validate_flag(value: Any, path: str) -> Any:
    if value is not None and not isinstance(value, bool):
        raise RuleDefinitionError(path, f"expects true/false or no value, got {value!r}")
    return value


def _set(key: str) -> Callable[[dict[str, Any], Any], None]:
    def apply(facts: dict[str, Any], value: Any) -> None:
        facts[key] = value

    return apply


def _raise_priority(facts: dict[str, Any], value: Any) -> None:
    current = PRIORITY_RANK.get(facts.get("priority") or "", -1)
    if PRIORITY_RANK[value] > current:
        facts["priority"] = value


def _add_tag(facts: dict[str, Any], value: Any) -> None:
    tags = list(facts.get("tags") or [])
    if value not in tags:
        tags.append(value)
    facts["tags"] = tags


def _escalate(facts: dict[str, Any], value: Any) -> None:
    # Escalation never sends a case back down a tier; de-escalation is an agent's decision.
    current = facts.get("tier")
    if not isinstance(current, int) or isinstance(current, bool) or value > current:
        facts["tier"] = value


def _set_frustrated(facts: dict[str, Any], value: Any) -> None:
    facts["frustrated"] = True if value is None else value


for _action in (
    ActionType("set_priority", _choice(PRIORITIES, "priority"), lambda v: f"priority {v}", _set("priority")),
    ActionType(
        "raise_priority_to",
        _choice(PRIORITIES, "priority"),
        lambda v: f"priority at least {v}",
        _raise_priority,
    ),
    ActionType("set_category", _choice(CATEGORIES, "category"), lambda v: f"category {v}", _set("category")),
    ActionType("add_tag", _name("tag"), lambda v: f"tag {v!r}", _add_tag),
    ActionType("assign_team", _name("team name"), lambda v: f"team {v}", _set("team")),
    ActionType("assign_agent", _name("username"), lambda v: f"agent {v}", _set("assignee")),
    ActionType(
        "escalate_to_tier", _choice(SUPPORT_TIERS, "tier"), lambda v: f"escalate to tier {v}", _escalate
    ),
    ActionType("notify", _validate_notify, lambda v: f"notify {v['to']}"),
    ActionType("send_canned_reply", _name("canned reply name"), lambda v: f"canned reply {v!r}"),
    ActionType(
        "set_frustrated", _validate_flag, lambda v: "mark frustrated", _set_frustrated, takes_value=False
    ),
    ActionType("stop_processing", _validate_flag, lambda v: "stop processing", takes_value=False),
):
    register_action(_action)


def validate_actions(actions: Any, path: str = "actions") -> list[dict[str, Any]]:
    """Check every action against the registry; return them unchanged when valid."""
    if not isinstance(actions, list):
        raise RuleDefinitionError(path, "actions must be a list")
    for i, action in enumerate(actions):
        item_path = f"{path}[{i}]"
        if not isinstance(action, dict):
            raise RuleDefinitionError(item_path, "an action must be an object with a 'type'")
        kind = action.get("type")
        if kind not in ACTIONS:
            raise RuleDefinitionError(
                f"{item_path}.type", f"unknown action type {kind!r}; known: {sorted(ACTIONS)}"
            )
        unknown = sorted(set(action) - {"type", "value"})
        if unknown:
            raise RuleDefinitionError(item_path, f"unknown key(s) {unknown}")
        spec = ACTIONS[kind]
        if spec.takes_value and "value" not in action:
            raise RuleDefinitionError(f"{item_path}.value", f"action {kind!r} needs a value")
        spec.validate(action.get("value"), f"{item_path}.value")
    return actions


def describe_action(action: Mapping[str, Any]) -> str:
    return ACTIONS[action["type"]].describe(action.get("value"))


def apply_to_facts(facts: Mapping[str, Any], actions: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Return a new facts dict with the actions' effects; ``facts`` is left untouched."""
    result = dict(facts)
    for action in actions:
        spec = ACTIONS[action["type"]]
        if spec.apply is not None:
            spec.apply(result, action.get("value"))
    return result


# --- rules ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    id: str
    name: str
    trigger: str
    conditions: Any
    actions: list[dict[str, Any]]
    order: int
    stop_processing: bool = False

    @cached_property
    def compiled(self) -> CompiledCondition:
        # Compiled lazily and cached on the instance: a broken rule loaded from the database then shows up as
        # an errored outcome in ``plan`` instead of stopping every other rule from loading.
        return compile_conditions(self.conditions)

    @cached_property
    def checked_actions(self) -> list[dict[str, Any]]:
        return validate_actions(self.actions)

    def validate(self) -> None:
        """Raise ``RuleDefinitionError`` for any problem; what an admin form calls before saving."""
        if self.trigger not in TRIGGERS:
            raise RuleDefinitionError(
                "trigger", f"unknown trigger {self.trigger!r}; use one of {sorted(TRIGGERS)}"
            )
        try:
            _ = self.compiled
        except RuleDefinitionError as exc:
            raise RuleDefinitionError(f"conditions.{exc.path}".rstrip("."), exc.detail) from None
        _ = self.checked_actions

    @property
    def stops(self) -> bool:
        return self.stop_processing or any(a.get("type") == "stop_processing" for a in self.actions)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleSpec:
        """Build from the ``DEFAULT_RULES`` shape (``key`` is the stable id)."""
        return cls(
            id=str(data.get("key", data.get("id"))),
            name=data["name"],
            trigger=data["trigger"],
            conditions=data.get("conditions"),
            actions=list(data.get("actions", [])),
            order=int(data.get("order", 0)),
            stop_processing=bool(data.get("stop_processing", False)),
        )


def rules_from_dicts(definitions: Iterable[Mapping[str, Any]]) -> list[RuleSpec]:
    return [RuleSpec.from_dict(d) for d in definitions]


@dataclass(frozen=True)
class RuleOutcome:
    rule_id: str
    rule_name: str
    matched: bool
    reasons: list[str] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    explanation: str = ""
    error: str | None = None


def explain(rule: RuleSpec, reasons: Sequence[str], actions: Sequence[Mapping[str, Any]]) -> str:
    because = " and ".join(reasons) if reasons else "no conditions"
    effects = ", ".join(describe_action(a) for a in actions) or "no actions"
    return f"rule {rule.name!r} matched: {because} → {effects}"


def plan(rules: Sequence[RuleSpec], trigger: str, facts: Mapping[str, Any]) -> list[RuleOutcome]:
    """Evaluate the rules for ``trigger`` in order; return one outcome per matched or errored rule."""
    return simulate(rules, trigger, facts)[1]


def simulate(
    rules: Sequence[RuleSpec], trigger: str, facts: Mapping[str, Any]
) -> tuple[dict[str, Any], list[RuleOutcome]]:
    """Run the rules as ``plan`` does and also return the facts after every matched rule's actions."""
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}; use one of {sorted(TRIGGERS)}")
    current = dict(facts)
    outcomes: list[RuleOutcome] = []
    # sorted() is stable, so rules with equal order keep the caller's sequence.
    for rule in sorted((r for r in rules if r.trigger == trigger), key=lambda r: r.order):
        try:
            actions = rule.checked_actions
            result = rule.compiled.evaluate(current)
            if not result.matched:
                continue
            after = apply_to_facts(current, actions)
        except Exception as exc:  # one broken rule must never stop triage of the case
            outcomes.append(
                RuleOutcome(rule.id, rule.name, matched=False, error=f"{type(exc).__name__}: {exc}")
            )
            continue
        current = after
        outcomes.append(
            RuleOutcome(
                rule.id,
                rule.name,
                matched=True,
                reasons=result.reasons,
                actions=list(actions),
                explanation=explain(rule, result.reasons, actions),
            )
        )
        if rule.stops:
            break
    return current, outcomes
