import re
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casework.triage.conditions import (
    ALL_OPERATORS,
    CATEGORIES,
    CHANNELS,
    CUSTOMER_TIERS,
    FIELDS,
    MAX_TEXT_CHARS,
    PRIORITIES,
    REGEX_TIMEOUT_SECONDS,
    ConditionResult,
    PhraseMatcher,
    RuleDefinitionError,
    compile_conditions,
    normalise_text,
    words_in,
)


def leaf(field: str, op: str, value: Any = None) -> dict[str, Any]:
    node: dict[str, Any] = {"field": field, "op": op}
    if value is not None:
        node["value"] = value
    return node


def check(definition: Any, facts: dict[str, Any]) -> ConditionResult:
    return compile_conditions(definition).evaluate(facts)


# --- phrase operators -------------------------------------------------------------------------------------


def test_contains_any_reports_the_phrase_that_matched() -> None:
    result = check(
        leaf("subject", "contains_any", ["system down", "outage"]), {"subject": "Major OUTAGE now"}
    )
    assert result == ConditionResult(True, ["subject contains 'outage'"])


def test_contains_any_respects_word_boundaries() -> None:
    cond = compile_conditions(leaf("body", "contains_any", ["login"]))
    assert not cond.evaluate({"body": "I was blogging about loginless apps"}).matched
    assert cond.evaluate({"body": "login."}).matched
    assert cond.evaluate({"body": "(login)"}).matched


def test_multi_word_phrase_tolerates_any_whitespace_and_hyphens() -> None:
    cond = compile_conditions(leaf("text", "contains_any", ["system down"]))
    assert cond.evaluate({"text": "the SYSTEM\n\t  Down since 9"}).matched
    assert (
        compile_conditions(leaf("text", "contains_any", ["sign in"]))
        .evaluate({"text": "Sign-in fails"})
        .matched
    )
    assert not cond.evaluate({"text": "systemdown"}).matched


def test_apostrophe_variants_match_each_other() -> None:
    straight = compile_conditions(leaf("body", "contains_any", ["can't sign in"]))
    curly = compile_conditions(leaf("body", "contains_any", ["can’t sign in"]))
    for text in ("I can't sign in", "I can’t sign in", "I CAN‘T SIGN IN"):
        assert straight.evaluate({"body": text}).matched, text
        assert curly.evaluate({"body": text}).matched, text


def test_phrases_with_punctuation_at_the_edges_still_match() -> None:
    cond = compile_conditions(leaf("text", "contains_any", ["c++", ".net"]))
    assert cond.evaluate({"text": "our C++ client"}).matched
    assert cond.evaluate({"text": "the .NET sdk"}).matched


def test_contains_any_prefers_longer_phrase_when_listed_first() -> None:
    result = check(leaf("text", "contains_any", ["data loss", "data"]), {"text": "serious data loss"})
    assert result.reasons == ["text contains 'data loss'"]


def test_left_boundary_retries_after_an_embedded_occurrence() -> None:
    # "login" first appears inside "blogin"; the search must move on and find the real word later.
    assert PhraseMatcher(["login"]).first("blogin then login") == "login"
    assert PhraseMatcher(["login"]).first("blogin loginx") is None


def test_phrases_without_word_characters_are_still_searched() -> None:
    matcher = PhraseMatcher(["???", "refund"])
    assert matcher.first("what happened ???") == "???"
    # boundaries apply to punctuation too: a word character right before the phrase is not a boundary
    assert matcher.first("what happened???") is None


def test_contains_all_needs_every_phrase() -> None:
    cond = compile_conditions(leaf("text", "contains_all", ["invoice", "twice"]))
    assert cond.evaluate({"text": "Invoice charged twice"}).reasons == ["text contains 'invoice', 'twice'"]
    miss = cond.evaluate({"text": "invoice charged once"})
    assert not miss.matched
    assert miss.reasons == ["text does not contain all of ['invoice', 'twice']"]


def test_contains_all_with_overlapping_phrases() -> None:
    cond = compile_conditions(leaf("text", "contains_all", ["log in", "in"]))
    assert cond.evaluate({"text": "cannot log in"}).matched


def test_text_field_is_subject_plus_body() -> None:
    cond = compile_conditions(leaf("text", "contains_all", ["urgent", "invoice"]))
    assert cond.evaluate({"subject": "URGENT", "body": "wrong invoice"}).matched
    assert cond.evaluate({"subject": "URGENT", "body": None}).matched is False
    assert not cond.evaluate({}).matched


def test_phrase_text_is_capped() -> None:
    cond = compile_conditions(leaf("body", "contains_any", ["needle"]))
    assert cond.evaluate({"body": "x " * 100 + "needle"}).matched
    assert not cond.evaluate({"body": "x" * MAX_TEXT_CHARS + " needle"}).matched


def test_contains_on_tags_is_membership() -> None:
    cond = compile_conditions(leaf("tags", "contains_any", ["VIP", "press"]))
    assert cond.evaluate({"tags": ["vip"]}).reasons == ["tags has 'vip'"]
    assert not cond.evaluate({"tags": ["vipers"]}).matched
    both = compile_conditions(leaf("tags", "contains_all", ["a", "b"]))
    assert both.evaluate({"tags": ["b", "a", "c"]}).matched
    assert not both.evaluate({"tags": ["a"]}).matched


# --- comparisons ------------------------------------------------------------------------------------------


def test_eq_and_ne() -> None:
    assert check(leaf("customer_tier", "eq", "enterprise"), {"customer_tier": "enterprise"}).reasons == [
        "customer_tier = 'enterprise'"
    ]
    assert check(leaf("customer_tier", "eq", "Enterprise"), {"customer_tier": "ENTERPRISE"}).matched
    assert not check(leaf("customer_tier", "eq", "enterprise"), {"customer_tier": "standard"}).matched
    assert check(leaf("channel", "ne", "email"), {"channel": "chat"}).reasons == [
        "channel = 'chat', not 'email'"
    ]
    assert not check(leaf("channel", "ne", "email"), {"channel": "email"}).matched
    assert check(leaf("vip", "eq", True), {"vip": True}).matched
    assert check(leaf("tier", "eq", 2), {"tier": 2}).matched


def test_in_and_not_in() -> None:
    cond = compile_conditions(leaf("category", "in", ["billing", "data"]))
    assert cond.evaluate({"category": "data"}).reasons == ["category = 'data' (one of ['billing', 'data'])"]
    assert not cond.evaluate({"category": "bug"}).matched
    cond = compile_conditions(leaf("category", "not_in", ["billing", "data"]))
    assert cond.evaluate({"category": "bug"}).matched
    assert not cond.evaluate({"category": "billing"}).matched
    assert check(leaf("age_minutes", "in", [5, 10]), {"age_minutes": 10}).matched


@pytest.mark.parametrize(
    ("op", "fact", "expected"),
    [
        ("lt", 29, True), ("lt", 30, False), ("lte", 30, True), ("lte", 31, False),
        ("gt", 31, True), ("gt", 30, False), ("gte", 30, True), ("gte", 29.5, False),
    ],
)  # fmt: skip
def test_numeric_comparisons(op: str, fact: float, expected: bool) -> None:
    assert check(leaf("age_minutes", op, 30), {"age_minutes": fact}).matched is expected


def test_numeric_reason_shows_actual_value() -> None:
    assert check(leaf("sentiment", "lte", -0.5), {"sentiment": -0.8}).reasons == ["sentiment <= -0.5 (-0.8)"]


def test_is_true_and_is_false() -> None:
    assert check(leaf("vip", "is_true"), {"vip": True}).reasons == ["vip is true"]
    assert not check(leaf("vip", "is_true"), {"vip": False}).matched
    assert check(leaf("frustrated", "is_false"), {"frustrated": False}).matched
    assert not check(leaf("frustrated", "is_false"), {}).matched


def test_priority_ordering() -> None:
    at_least_high = compile_conditions(leaf("priority", "priority_at_least", "high"))
    assert [at_least_high.evaluate({"priority": p}).matched for p in PRIORITIES] == [False, False, True, True]
    at_most_medium = compile_conditions(leaf("priority", "priority_at_most", "medium"))
    assert [at_most_medium.evaluate({"priority": p}).matched for p in PRIORITIES] == [
        True,
        True,
        False,
        False,
    ]
    assert at_least_high.evaluate({"priority": "critical"}).reasons == [
        "priority 'critical' is at least 'high'"
    ]
    assert not at_least_high.evaluate({"priority": "urgent"}).matched


def test_has_tag() -> None:
    cond = compile_conditions(leaf("tags", "has_tag", "VIP"))
    assert cond.evaluate({"tags": ["press", "vip"]}).reasons == ["tags has 'VIP'"]
    assert not cond.evaluate({"tags": []}).matched


def test_matches_regex() -> None:
    cond = compile_conditions(leaf("subject", "matches", r"CW-\d{6}"))
    assert cond.evaluate({"subject": "Re: cw-000123 still broken"}).reasons == [
        r"subject matches /CW-\d{6}/ ('cw-000123')"
    ]
    assert not cond.evaluate({"subject": "no reference"}).matched


def test_every_operator_is_exercised_by_this_module() -> None:
    with open(__file__, encoding="utf-8") as fh:
        source = fh.read()
    assert all(f'"{op}"' in source for op in ALL_OPERATORS)


# --- nesting ----------------------------------------------------------------------------------------------


def test_all_collects_reasons_of_every_child() -> None:
    definition = {
        "all": [leaf("subject", "contains_any", ["system down"]), leaf("customer_tier", "eq", "enterprise")]
    }
    result = check(definition, {"subject": "System down!", "customer_tier": "enterprise"})
    assert result == ConditionResult(True, ["subject contains 'system down'", "customer_tier = 'enterprise'"])
    miss = check(definition, {"subject": "System down!", "customer_tier": "standard"})
    assert miss == ConditionResult(False, ["customer_tier is not 'enterprise'"])


def test_any_reports_first_matching_child() -> None:
    definition = {"any": [leaf("vip", "is_true"), leaf("customer_tier", "eq", "enterprise")]}
    assert check(definition, {"vip": False, "customer_tier": "enterprise"}).reasons == [
        "customer_tier = 'enterprise'"
    ]
    assert not check(definition, {"vip": False, "customer_tier": "business"}).matched


def test_not_inverts_and_keeps_evidence() -> None:
    definition = {"not": leaf("text", "contains_any", ["refund"])}
    result = check(definition, {"text": "hello"})
    assert result == ConditionResult(True, ["text contains none of ['refund']"])
    assert not check(definition, {"text": "refund please"}).matched


def test_deep_nesting() -> None:
    definition = {
        "all": [
            {"any": [leaf("vip", "is_true"), leaf("customer_tier", "in", ["business", "enterprise"])]},
            {"not": {"any": [leaf("category", "eq", "question"), leaf("tags", "has_tag", "spam")]}},
            leaf("priority", "priority_at_least", "medium"),
        ]
    }
    facts = {"vip": False, "customer_tier": "business", "category": "bug", "tags": [], "priority": "high"}
    assert check(definition, facts).matched
    assert not check(definition, {**facts, "tags": ["spam"]}).matched
    assert not check(definition, {**facts, "priority": "low"}).matched


def test_empty_all_and_no_conditions_always_match() -> None:
    assert check({"all": []}, {}).matched
    assert check(None, {}) == ConditionResult(True, ["no conditions"])
    assert check({}, {}).matched


def test_missing_facts_do_not_match_even_for_negative_operators() -> None:
    for definition in (
        leaf("channel", "ne", "email"),
        leaf("category", "not_in", ["bug"]),
        leaf("tier", "lt", 3),
    ):
        result = check(definition, {"channel": None})
        assert not result.matched
        assert result.reasons[0].endswith("is missing")


def test_wrong_fact_types_do_not_match() -> None:
    assert not check(leaf("age_minutes", "gt", 1), {"age_minutes": "45"}).matched
    assert not check(leaf("age_minutes", "gt", 1), {"age_minutes": True}).matched
    assert not check(leaf("age_minutes", "gt", 1), {"age_minutes": float("nan")}).matched
    assert not check(leaf("vip", "is_true"), {"vip": 1}).matched
    assert not check(leaf("subject", "contains_any", ["x"]), {"subject": ["x"]}).matched


def test_compiled_condition_is_reusable_and_records_fields() -> None:
    cond = compile_conditions({"all": [leaf("vip", "is_true"), {"not": leaf("tags", "has_tag", "x")}]})
    assert cond.fields == {"vip", "tags"}
    assert [cond.evaluate({"vip": v, "tags": []}).matched for v in (True, False, True)] == [True, False, True]


# --- validation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"all": [leaf("vip", "is_true"), leaf("vip", "is_true"), leaf("text", "containz", ["x"])]},
         "all[2].op: unknown operator 'containz'"),
        ({"any": [{"not": leaf("colour", "eq", "red")}]}, "any[0].not.field: unknown field 'colour'"),
        (leaf("vip", "contains_any", ["x"]), "op: operator 'contains_any' does not apply to field 'vip'"),
        (leaf("category", "priority_at_least", "high"), "op: operator 'priority_at_least' does not apply"),
        (leaf("priority", "eq", "urgent"), "value: 'urgent' is not a valid priority"),
        (leaf("customer_tier", "in", ["gold"]), "value[0]: 'gold' is not a valid customer_tier"),
        (leaf("tier", "eq", 4), "value: 4 is not a valid tier"),
        (leaf("age_minutes", "gt", "10"), "value: age_minutes compares with a number"),
        (leaf("age_minutes", "gt", True), "value: age_minutes compares with a number"),
        (leaf("vip", "eq", "yes"), "value: vip compares with true/false"),
        (leaf("text", "contains_any", []), "value: needs a non-empty list of phrases"),
        (leaf("text", "contains_any", ["ok", "  "]), "value[1]: a phrase must be a non-blank string"),
        (leaf("category", "in", []), "value: needs a non-empty list of values"),
        (leaf("text", "matches", "(unclosed"), "value: invalid regular expression"),
        (leaf("text", "matches", r"(\w+\s?)+$"), "value: regular expression"),
        (leaf("text", "matches", r"(a|b*)*"), "nests quantifiers"),
        (leaf("vip", "is_true", False), "value: operator 'is_true' takes no value"),
        ({"field": "vip"}, "op: missing 'op'"),
        ({"op": "eq", "value": 1}, "field: missing 'field'"),
        ({"field": "subject", "op": "eq"}, "value: operator 'eq' needs a value"),
        ({"field": "subject", "op": "eq", "value": "x", "extra": 1}, "(root): unknown key(s) ['extra']"),
        ({"all": [], "any": []}, "(root): 'all' must be the only key"),
        ({"all": leaf("vip", "is_true")}, "all: 'all' needs a list"),
        ({"any": []}, "any: 'any' needs at least one condition"),
        ({"all": ["vip"]}, "all[0]: a condition must be an object, got str"),
        ([leaf("vip", "is_true")], "(root): a condition must be an object"),
    ],
)  # fmt: skip
def test_bad_definitions_are_rejected_with_a_path(definition: Any, message: str) -> None:
    with pytest.raises(RuleDefinitionError) as info:
        compile_conditions(definition)
    assert message in str(info.value)


def test_error_exposes_path_and_detail() -> None:
    with pytest.raises(RuleDefinitionError) as info:
        compile_conditions({"all": [{"any": [leaf("vip", "is_true"), leaf("nope", "eq", 1)]}]})
    assert info.value.path == "all[0].any[1].field"
    assert info.value.detail.startswith("unknown field 'nope'")


def test_safe_regexes_are_accepted() -> None:
    for pattern in (
        r"lost (?:about )?\d[\d,]* (?:\w+ )?records",
        r"\bCW-\d+\b",
        r"(?:foo|bar)+",
        r"a{2,5}b*",
    ):
        compile_conditions(leaf("text", "matches", pattern))


def test_quadratic_regex_is_fast_on_long_input() -> None:
    cond = compile_conditions(leaf("body", "matches", r"a*b"))
    started = time.perf_counter()
    assert not cond.evaluate({"body": "a" * 1_000_000}).matched
    assert time.perf_counter() - started < 0.5


def test_exponential_regex_that_slips_past_validation_times_out() -> None:
    # An overlapping alternation under a star is not a nested quantifier, so only the timeout stops it.
    cond = compile_conditions(leaf("body", "matches", r"(a|aa)*c"))
    started = time.perf_counter()
    result = cond.evaluate({"body": "a" * 40 + "!c"})
    assert time.perf_counter() - started < 1.0
    assert result == ConditionResult(
        False, [f"body /(a|aa)*c/ timed out after {REGEX_TIMEOUT_SECONDS * 1000:.0f} ms"]
    )


# --- properties -------------------------------------------------------------------------------------------

_TEXT_FIELDS = [name for name, (kind, _) in FIELDS.items() if kind == "text"]
_PHRASES = st.lists(
    st.text(min_size=1, max_size=12).filter(lambda s: bool(s.split())), min_size=1, max_size=5
)

_facts = st.fixed_dictionaries(
    {},
    optional={
        "subject": st.text(max_size=300),
        "body": st.text(max_size=2000),
        "text": st.text(max_size=300),
        "organisation": st.text(max_size=40),
        "channel": st.one_of(st.sampled_from(CHANNELS), st.text(max_size=10)),
        "customer_tier": st.one_of(st.sampled_from(CUSTOMER_TIERS), st.text(max_size=10)),
        "priority": st.one_of(st.sampled_from(PRIORITIES), st.text(max_size=10)),
        "category": st.one_of(st.sampled_from(CATEGORIES), st.text(max_size=10)),
        "status": st.text(max_size=12),
        "vip": st.booleans(),
        "frustrated": st.booleans(),
        "age_minutes": st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True)),
        "sentiment": st.floats(min_value=-1, max_value=1),
        "tags": st.lists(st.text(max_size=10), max_size=5),
        "tier": st.sampled_from([1, 2, 3]),
    },
)

_BIG_DEFINITION = {
    "any": [
        {"all": [leaf(f, "contains_any", ["system down", "can't", "ümlaut", "日本"]) for f in _TEXT_FIELDS]},
        leaf("text", "contains_all", ["a", "b"]),
        leaf("body", "matches", r"\d{3,}"),
        leaf("channel", "in", ["email", "chat"]),
        leaf("customer_tier", "ne", "standard"),
        leaf("priority", "priority_at_least", "high"),
        leaf("priority", "priority_at_most", "low"),
        leaf("category", "not_in", ["bug"]),
        leaf("status", "eq", "new"),
        {"not": leaf("vip", "is_true")},
        leaf("frustrated", "is_false"),
        leaf("age_minutes", "gte", 30),
        leaf("sentiment", "lt", -0.5),
        leaf("tags", "has_tag", "vip"),
        leaf("tags", "contains_any", ["x"]),
        leaf("tier", "eq", 2),
    ]
}
_BIG = compile_conditions(_BIG_DEFINITION)


@settings(max_examples=300, deadline=None)
@given(_facts)
def test_evaluation_never_raises_on_arbitrary_facts(facts: dict[str, Any]) -> None:
    result = _BIG.evaluate(facts)
    assert isinstance(result.matched, bool)
    assert all(isinstance(r, str) for r in result.reasons)
    # each child on its own must not raise either
    for child in _BIG_DEFINITION["any"]:
        compile_conditions(child).evaluate(facts)


@settings(max_examples=200, deadline=None)
@given(phrases=_PHRASES, text=st.text(max_size=500))
def test_arbitrary_phrases_and_text_never_raise(phrases: list[str], text: str) -> None:
    any_cond = compile_conditions(leaf("text", "contains_any", phrases))
    all_cond = compile_conditions(leaf("text", "contains_all", phrases))
    matched_any = any_cond.evaluate({"text": text}).matched
    matched_all = all_cond.evaluate({"text": text}).matched
    assert not matched_all or matched_any  # all ⇒ any


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_word_set_equals_regex_word_runs(text: str) -> None:
    assert words_in(text) == frozenset(re.findall(r"\w+", text))


@settings(max_examples=300, deadline=None)
@given(phrases=_PHRASES, text=st.text(max_size=300))
def test_prefilter_never_changes_the_answer(phrases: list[str], text: str) -> None:
    """The word-set shortcut and narrowed regex must agree with one plain regex over every phrase."""
    plain = "|".join(
        "(?:" + r"(?:\s+|\s*-\s*)".join(map(re.escape, normalise_text(p).split())) + ")" for p in phrases
    )
    folded = normalise_text(text)
    expected = re.search(rf"(?<!\w)(?:{plain})(?!\w)", folded) is not None
    assert (PhraseMatcher(phrases).first(text) is not None) == expected


@settings(max_examples=200, deadline=None)
@given(phrase=st.from_regex(r"[a-z]{2,8}( [a-z]{2,8}){0,2}", fullmatch=True), before=st.text(max_size=40))
def test_a_phrase_is_found_wherever_it_is_separated_by_spaces(phrase: str, before: str) -> None:
    cond = compile_conditions(leaf("body", "contains_any", [phrase]))
    assert cond.evaluate({"body": f"{before} {phrase.upper()} ."}).matched
