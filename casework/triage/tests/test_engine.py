from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casework.triage import sentiment
from casework.triage.conditions import CATEGORIES, RuleDefinitionError
from casework.triage.default_rules import DEFAULT_FACTS, DEFAULT_RULES, PRIORITY_CRITERIA
from casework.triage.engine import (
    ACTIONS,
    TRIGGERS,
    RuleSpec,
    apply_to_facts,
    plan,
    rules_from_dicts,
    simulate,
    validate_actions,
)


def rule(
    rule_id: str,
    conditions: Any,
    actions: list[dict[str, Any]],
    order: int = 0,
    trigger: str = "case_opened",
    stop: bool = False,
) -> RuleSpec:
    return RuleSpec(rule_id, rule_id.title(), trigger, conditions, actions, order, stop_processing=stop)


def text_has(*phrases: str) -> dict[str, Any]:
    return {"field": "text", "op": "contains_any", "value": list(phrases)}


OUTAGE = rule("outage", {"field": "subject", "op": "contains_any", "value": ["system down"]},
              [{"type": "set_priority", "value": "critical"}], order=10)  # fmt: skip


# --- actions ----------------------------------------------------------------------------------------------


def test_every_registered_action_validates_a_good_value() -> None:
    good = {
        "set_priority": "critical",
        "raise_priority_to": "high",
        "set_category": "feature request",
        "add_tag": "vip",
        "assign_team": "L2",
        "assign_agent": "alice",
        "escalate_to_tier": 3,
        "notify": {"to": "team_lead", "message": "look"},
        "send_canned_reply": "password-reset",
        "set_frustrated": None,
        "stop_processing": None,
    }
    assert set(good) == set(ACTIONS)
    actions = [{"type": t, "value": v} if v is not None else {"type": t} for t, v in good.items()]
    assert validate_actions(actions) == actions


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        ({"type": "set_priority"}, "actions: actions must be a list"),
        ([{"type": "set_priority", "value": "urgent"}], "actions[0].value: 'urgent' is not a valid priority"),
        ([{"type": "add_tag", "value": "x"}, {"type": "launch"}], "actions[1].type: unknown action type"),
        ([{"type": "set_category", "value": "security"}], "actions[0].value: 'security' is not a valid"),
        ([{"type": "escalate_to_tier", "value": 4}], "actions[0].value: 4 is not a valid tier"),
        ([{"type": "escalate_to_tier", "value": True}], "actions[0].value: True is not a valid tier"),
        ([{"type": "assign_team", "value": ""}], "actions[0].value: team name must be a non-empty string"),
        ([{"type": "assign_agent"}], "actions[0].value: action 'assign_agent' needs a value"),
        ([{"type": "notify", "value": "lead"}], 'actions[0].value: notify needs {"to"'),
        ([{"type": "notify", "value": {"to": "owner"}}], "actions[0].value.message: 'message' must be"),
        ([{"type": "notify", "value": {"message": "x"}}], "actions[0].value.to: 'to' must be one of"),
        ([{"type": "notify", "value": {"to": "x", "message": "y", "cc": 1}}], "unknown key(s) ['cc']"),
        ([{"type": "set_frustrated", "value": "yes"}], "actions[0].value: expects true/false"),
        ([{"type": "add_tag", "value": "x", "when": "now"}], "actions[0]: unknown key(s) ['when']"),
        (["set_priority"], "actions[0]: an action must be an object"),
    ],
)  # fmt: skip
def test_bad_actions_are_rejected_with_a_path(actions: Any, message: str) -> None:
    with pytest.raises(RuleDefinitionError) as info:
        validate_actions(actions)
    assert message in str(info.value)


def test_apply_to_facts_is_pure_and_applies_each_effect() -> None:
    facts = {"priority": "low", "category": "other", "tags": ["a"], "tier": 1}
    after = apply_to_facts(
        facts,
        [
            {"type": "set_priority", "value": "high"},
            {"type": "set_category", "value": "data"},
            {"type": "add_tag", "value": "b"},
            {"type": "add_tag", "value": "b"},
            {"type": "assign_team", "value": "L2"},
            {"type": "assign_agent", "value": "alice"},
            {"type": "escalate_to_tier", "value": 2},
            {"type": "set_frustrated"},
            {"type": "notify", "value": {"to": "owner", "message": "hi"}},
        ],
    )
    assert after == {
        "priority": "high",
        "category": "data",
        "tags": ["a", "b"],
        "tier": 2,
        "team": "L2",
        "assignee": "alice",
        "frustrated": True,
    }
    assert facts == {"priority": "low", "category": "other", "tags": ["a"], "tier": 1}


def test_raise_priority_only_raises_and_escalation_never_lowers_tier() -> None:
    raise_high = [{"type": "raise_priority_to", "value": "high"}]
    assert apply_to_facts({"priority": "low"}, raise_high)["priority"] == "high"
    assert apply_to_facts({"priority": "critical"}, raise_high)["priority"] == "critical"
    assert apply_to_facts({}, raise_high)["priority"] == "high"
    assert apply_to_facts({"tier": 3}, [{"type": "escalate_to_tier", "value": 2}])["tier"] == 3


# --- plan -------------------------------------------------------------------------------------------------


def test_plan_explains_the_match() -> None:
    [outcome] = plan([OUTAGE], "case_opened", {"subject": "URGENT: System Down", "body": ""})
    assert outcome.rule_id == "outage"
    assert outcome.reasons == ["subject contains 'system down'"]
    assert outcome.actions == [{"type": "set_priority", "value": "critical"}]
    assert outcome.explanation == "rule 'Outage' matched: subject contains 'system down' → priority critical"
    assert outcome.error is None


def test_plan_only_runs_rules_of_the_trigger_and_skips_non_matches() -> None:
    on_reply = rule("reply", None, [{"type": "add_tag", "value": "replied"}], trigger="message_received")
    assert plan([OUTAGE, on_reply], "case_opened", {"subject": "hello"}) == []
    [outcome] = plan([OUTAGE, on_reply], "message_received", {"subject": "system down"})
    assert outcome.rule_id == "reply"


def test_unknown_trigger_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown trigger 'opened'"):
        plan([OUTAGE], "opened", {})


def test_rules_run_in_order_and_later_rules_see_earlier_effects() -> None:
    escalate = rule("escalate", {"field": "category", "op": "eq", "value": "data"},
                    [{"type": "escalate_to_tier", "value": 2}], order=20)  # fmt: skip
    categorise = rule(
        "categorise", text_has("data missing"), [{"type": "set_category", "value": "data"}], order=10
    )
    facts = {"subject": "Data missing", "body": "", "category": "other", "tier": 1}
    final, outcomes = simulate([escalate, categorise], "case_opened", facts)
    assert [o.rule_id for o in outcomes] == ["categorise", "escalate"]
    assert outcomes[1].reasons == ["category = 'data'"]
    assert final["tier"] == 2 and final["category"] == "data"
    assert facts["category"] == "other"


def test_later_set_priority_overrides_but_raise_never_lowers() -> None:
    low = rule("low", text_has("how do i"), [{"type": "set_priority", "value": "low"}], order=1)
    critical = rule("crit", text_has("outage"), [{"type": "set_priority", "value": "critical"}], order=2)
    raise_high = rule("raise", None, [{"type": "raise_priority_to", "value": "high"}], order=3)
    facts = {"text": "how do I report an outage", "priority": "medium"}
    final, _ = simulate([raise_high, critical, low], "case_opened", facts)
    assert final["priority"] == "critical"
    final, _ = simulate([low, raise_high], "case_opened", {"text": "how do I", "priority": "medium"})
    assert final["priority"] == "high"


def test_stop_processing_flag_and_action_stop_later_rules() -> None:
    tag = rule("tag", None, [{"type": "add_tag", "value": "seen"}], order=30)
    stopper = rule("stop", None, [], order=20, stop=True)
    _, outcomes = simulate([tag, stopper, OUTAGE], "case_opened", {"subject": "system down"})
    assert [o.rule_id for o in outcomes] == ["outage", "stop"]
    by_action = rule("stop2", None, [{"type": "stop_processing"}], order=20)
    final, outcomes = simulate([tag, by_action], "case_opened", {})
    assert [o.rule_id for o in outcomes] == ["stop2"]
    assert "tags" not in final


def test_a_broken_rule_is_reported_and_the_rest_still_run() -> None:
    bad_conditions = rule("bad-cond", {"field": "colour", "op": "eq", "value": "red"}, [], order=1)
    bad_actions = rule("bad-act", None, [{"type": "explode"}], order=2)
    final, outcomes = simulate(
        [bad_conditions, bad_actions, OUTAGE], "case_opened", {"subject": "system down"}
    )
    assert [(o.rule_id, o.matched) for o in outcomes] == [
        ("bad-cond", False),
        ("bad-act", False),
        ("outage", True),
    ]
    assert outcomes[0].error is not None and "unknown field 'colour'" in outcomes[0].error
    assert outcomes[1].error is not None and "unknown action type 'explode'" in outcomes[1].error
    assert final["priority"] == "critical"


def test_an_exception_inside_evaluation_is_isolated() -> None:
    # A bug inside a condition evaluator (not just a bad definition) must also be contained.
    class Boom(RuleSpec):
        @property
        def compiled(self) -> Any:  # type: ignore[override]
            raise RuntimeError("boom")

    boom = Boom("boom", "Boom", "case_opened", None, [], 0)
    outcomes = plan([boom, OUTAGE], "case_opened", {"subject": "system down"})
    assert outcomes[0].error == "RuntimeError: boom"
    assert outcomes[1].matched


def test_rule_spec_validate_prefixes_paths() -> None:
    spec = rule("x", {"all": [{"field": "vip", "op": "nope"}]}, [])
    with pytest.raises(RuleDefinitionError, match=r"conditions\.all\[0\]\.op: unknown operator 'nope'"):
        spec.validate()
    with pytest.raises(RuleDefinitionError, match="trigger: unknown trigger"):
        rule("y", None, [], trigger="when_bored").validate()


def test_multiple_reasons_and_actions_in_explanation() -> None:
    spec = RuleSpec(
        "vip-data",
        "VIP data",
        "case_opened",
        {"all": [{"field": "vip", "op": "is_true"}, text_has("data loss")]},
        [{"type": "raise_priority_to", "value": "high"}, {"type": "escalate_to_tier", "value": 2}],
        1,
    )
    [outcome] = plan([spec], "case_opened", {"vip": True, "text": "We had data loss"})
    assert outcome.explanation == (
        "rule 'VIP data' matched: vip is true and text contains 'data loss' → priority at least high, "
        "escalate to tier 2"
    )


# --- default rules ----------------------------------------------------------------------------------------

DEFAULTS = rules_from_dicts(DEFAULT_RULES)


def triage(subject: str, body: str = "", **facts: Any) -> dict[str, Any]:
    final, outcomes = simulate(
        DEFAULTS, "case_opened", {**DEFAULT_FACTS, "subject": subject, "body": body, **facts}
    )
    assert not [o.error for o in outcomes if o.error]
    return final


def test_default_rules_are_valid_with_unique_keys() -> None:
    keys = [d["key"] for d in DEFAULT_RULES]
    assert len(keys) == len(set(keys))
    for spec in DEFAULTS:
        spec.validate()
        assert spec.trigger in TRIGGERS
    assert {d["trigger"] for d in DEFAULT_RULES} == {"case_opened", "message_received"}
    assert set(PRIORITY_CRITERIA) == {"critical", "high", "medium", "low"}


def test_defaults_when_nothing_matches() -> None:
    final = triage("Hello", "Just checking in about our project.")
    assert (final["priority"], final["category"]) == ("medium", "other")


@pytest.mark.parametrize(
    ("subject", "body", "category", "priority"),
    [
        ("System down", "", "bug", "critical"),
        ("Outage", "nothing loads", "bug", "critical"),
        ("help", "The app is down for everyone in our office", "bug", "critical"),
        ("help", "Nobody in our team can log in", "authentication", "critical"),
        ("Data missing", "half my contacts are gone", "data", "high"),
        ("oops", "I deleted my data", "data", "high"),
        ("How do I recover deleted data?", "I removed a case by mistake", "data", "high"),
        ("Error on login page", "the page shows an error", "authentication", "medium"),
        ("2FA", "my codes fail", "authentication", "medium"),
        ("crash", "app crashes on start, restarting helps", "bug", "medium"),
        ("How do I export?", "", "question", "low"),
        ("Refund please", "you charged me twice", "billing", "medium"),
        ("It's so slow", "takes forever to load", "performance", "medium"),
        ("Timeout error", "", "performance", "medium"),
        ("Idea", "Would be great if you had dark mode", "feature request", "low"),
        ("How to enable 2FA for all users?", "", "authentication", "low"),
        ("We've been hacked", "", "other", "critical"),
    ],
)  # fmt: skip
def test_default_rules_resolve_conflicts(subject: str, body: str, category: str, priority: str) -> None:
    final = triage(subject, body)
    assert (final["category"], final["priority"]) == (category, priority)


def test_key_accounts_get_at_least_high_and_frustrated_urgent_goes_to_l2() -> None:
    assert triage("How do I export?", customer_tier="enterprise")["priority"] == "high"
    assert triage("How do I export?", vip=True)["priority"] == "high"
    assert triage("Outage", customer_tier="enterprise")["priority"] == "critical"
    calm = triage("Outage", frustrated=False)
    angry = triage("Outage", frustrated=True)
    assert "team" not in calm
    assert angry["team"] == "L2" and "frustrated" in angry["tags"]
    assert "team" not in triage("typo in footer", frustrated=True)


def test_a_reply_can_escalate_but_never_lowers() -> None:
    facts = {**DEFAULT_FACTS, "priority": "high", "category": "bug", "subject": "Re: x"}
    final, _ = simulate(
        DEFAULTS, "message_received", {**facts, "body": "how do I ... it's now down for everyone"}
    )
    assert final["priority"] == "critical"
    final, _ = simulate(DEFAULTS, "message_received", {**facts, "body": "How do I attach a file?"})
    assert (final["priority"], final["category"]) == ("high", "bug")


@settings(max_examples=150, deadline=None)
@given(
    subject=st.text(max_size=200),
    body=st.text(max_size=3000),
    tier=st.sampled_from(["standard", "business", "enterprise"]),
    vip=st.booleans(),
    frustrated=st.booleans(),
)
def test_default_rules_always_produce_a_valid_priority_and_category(
    subject: str, body: str, tier: str, vip: bool, frustrated: bool
) -> None:
    final, outcomes = simulate(
        DEFAULTS,
        "case_opened",
        {
            **DEFAULT_FACTS,
            "subject": subject,
            "body": body,
            "customer_tier": tier,
            "vip": vip,
            "frustrated": frustrated,
        },
    )
    assert not [o for o in outcomes if o.error]
    assert final["category"] in CATEGORIES
    assert final["priority"] in ("critical", "high", "medium", "low")
    if tier == "enterprise" or vip:
        assert final["priority"] in ("critical", "high")


# --- sentiment --------------------------------------------------------------------------------------------


def test_sentiment_scores_tone_and_ignores_quoted_lines() -> None:
    angry = "This is ridiculous. Third time I'm writing, your useless app is broken again. Terrible service."
    assert sentiment.score(angry) <= -0.5
    assert sentiment.is_frustrated(sentiment.score(angry))
    assert sentiment.score("Thanks so much, great help, really appreciated!") > 0.5
    assert sentiment.score("") == 0.0
    calm_reply = "Thanks, that fixed it.\n> " + angry.replace(". ", ".\n> ")
    assert sentiment.score(calm_reply) > 0


def test_sentiment_keeps_the_closing_of_a_long_message() -> None:
    padding = "We use the export every week for our reports. " * 200
    assert sentiment.score(padding + "Honestly this is awful, furious, I hate it, we will cancel.") < -0.5


def test_frustration_threshold() -> None:
    assert sentiment.is_frustrated(-0.5)
    assert not sentiment.is_frustrated(-0.49)
    assert sentiment.is_frustrated(-0.3, threshold=-0.2)
