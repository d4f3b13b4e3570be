"""The rule editor's rows ↔ JSON definitions (pure; runs without Django)."""

import pytest

from casework.triage import rule_form
from casework.triage.conditions import compile_conditions
from casework.triage.default_rules import DEFAULT_RULES
from casework.triage.rule_form import ActionRow, ConditionRow, parse_rows


def _normal(node):
    """Definitions compare after the editor's normal form: a lone leaf becomes all[leaf]."""
    if not node:
        return {}
    if "field" in node or "not" in node:
        return {"all": [node]}
    return node


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=[r["key"] for r in DEFAULT_RULES])
def test_every_shipped_rule_round_trips_through_rows(rule):
    match, rows = rule_form.conditions_to_rows(rule.get("conditions"))
    actions = rule_form.actions_to_rows(rule.get("actions"))
    parsed = parse_rows(match, rows, actions)
    assert parsed.ok, parsed.errors
    assert parsed.conditions == _normal(rule.get("conditions"))
    assert parsed.actions == rule["actions"]


def test_groups_join_the_other_way():
    rows = [
        ConditionRow(field="subject", op="contains_any", value="outage, down"),
        ConditionRow(field="vip", op="is_true", group="A"),
        ConditionRow(field="tier", op="gte", value="2", group="A"),
        ConditionRow(field="priority", op="eq", value="low", negate=True),
    ]
    parsed = parse_rows("any", rows, [ActionRow(type="set_priority", value="high")])
    assert parsed.ok
    assert parsed.conditions == {
        "any": [
            {"field": "subject", "op": "contains_any", "value": ["outage", "down"]},
            {"all": [{"field": "vip", "op": "is_true"}, {"field": "tier", "op": "gte", "value": 2}]},
            {"not": {"field": "priority", "op": "eq", "value": "low"}},
        ]
    }
    compile_conditions(parsed.conditions)


def test_each_wrong_row_gets_its_own_message_and_empty_rows_are_dropped():
    rows = [
        ConditionRow(field="subject", op="gt", value="3"),
        ConditionRow(),  # blank row: ignored
        ConditionRow(field="age_minutes", op="gt", value="soon"),
        ConditionRow(field="channel", op="eq", value="pigeon"),
        ConditionRow(field="text", op="contains_any", value=" , "),
    ]
    actions = [ActionRow(type="set_priority", value="urgent"), ActionRow(type="escalate_to_tier", value="x")]
    parsed = parse_rows("all", rows, actions)
    assert not parsed.ok
    joined = "\n".join(parsed.errors)
    assert "Condition 1: operator 'gt' does not apply to field 'subject'" in joined
    assert "Condition 2: 'soon' is not a number" in joined
    assert "Condition 3:" in joined and "pigeon" in joined
    assert "Condition 4: give at least one value" in joined
    assert "Action 1:" in joined and "urgent" in joined
    assert "Action 2: the tier is 1, 2 or 3" in joined
    assert len(parsed.condition_rows) == 4 and parsed.condition_rows[0].error


def test_a_rule_needs_an_action_and_notify_takes_a_message():
    assert "Add at least one action" in parse_rows("all", [], []).errors[0]
    parsed = parse_rows("all", [], [ActionRow(type="notify", value="team_lead", message="")])
    assert "message" in parsed.errors[0]
    parsed = parse_rows("all", [], [ActionRow(type="notify", value="team_lead", message="Look")])
    assert parsed.ok and parsed.actions == [
        {"type": "notify", "value": {"to": "team_lead", "message": "Look"}}
    ]
    assert parsed.conditions == {}  # no rows: every case


def test_too_deep_definitions_are_reported_not_flattened():
    deep = {"all": [{"any": [{"all": [{"field": "vip", "op": "is_true"}]}]}]}
    with pytest.raises(rule_form.TooDeep):
        rule_form.conditions_to_rows(deep)
    with pytest.raises(rule_form.TooDeep):
        rule_form.conditions_to_rows({"not": {"any": [{"field": "vip", "op": "is_true"}]}})


def test_operators_for_fields_and_digest():
    assert "priority_at_least" in rule_form.operators_for("priority")
    assert "contains_any" not in rule_form.operators_for("channel")
    a = rule_form.definition_digest("case_opened", {}, [{"type": "add_tag", "value": "x"}])
    b = rule_form.definition_digest("case_opened", {}, [{"type": "add_tag", "value": "y"}])
    assert a != b and len(a) == 32
