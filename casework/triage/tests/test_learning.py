"""The pure learning parts: impact signals, sentiment layer, classifier, decision, corpus files, evaluation.
Tiny models only (a few dozen messages): each fit takes well under a second."""

from __future__ import annotations

import json

import numpy as np
import pytest

from casework.triage import classifier, corpus, decision, evaluation, impact, normalisation, sentiment
from casework.triage.default_rules import DEFAULT_FACTS, DEFAULT_RULES, GIVES_WAY_TO_MODEL
from casework.triage.engine import RuleSpec, rules_from_dicts

TINY = [
    ("Invoice wrong", "We were charged twice on the last invoice", "billing", "medium"),
    ("Refund please", "Please refund the duplicate charge on my card", "billing", "medium"),
    ("Card declined", "Our card payment was declined at renewal, invoice attached", "billing", "high"),
    ("VAT number", "Can you add our VAT number to the invoices", "billing", "low"),
    ("Cannot sign in", "My password reset link never arrives", "authentication", "medium"),
    ("Locked out", "I am locked out after too many login attempts", "authentication", "high"),
    ("2FA codes", "The authenticator codes are rejected at login", "authentication", "high"),
    ("SSO", "Single sign-on with our identity provider fails for one user", "authentication", "medium"),
    ("Dark mode", "Would be great to have a dark mode in a future version", "feature-request", "low"),
    ("Export idea", "Suggestion: let us schedule exports every week", "feature-request", "low"),
    ("Calendar sync", "Any plans to sync with our calendar? No rush", "feature-request", "low"),
    ("Bulk edit", "It would help if we could bulk edit tags", "feature-request", "low"),
]


def examples(rows=TINY) -> list[classifier.Example]:
    return [classifier.Example(subject=s, body=b, category=c, priority=p) for s, b, c, p in rows]


@pytest.fixture(scope="module")
def tiny_model() -> classifier.TriageModel:
    return classifier.fit(examples())


# --- impact -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("All 45 agents are locked out since 9am", {"scope_all", "duration"}),
        ("Checkout is failing and we are losing orders", {"revenue_flow", "money_loss"}),
        ("Payroll runs tomorrow and nobody can log in", {"revenue_flow", "deadline", "scope_all"}),
        ("Small typo on the settings page, no rush", {"cosmetic", "no_rush"}),
        ("How do I export my contacts?", {"question"}),
        ("It would be great if you could add dark mode", {"feature_request"}),
    ],
)
def test_impact_signals_find_what_raises_and_lowers_priority(text, expected) -> None:
    assert expected <= {s.name for s in impact.signals(text)}


def test_negated_urgency_and_blocking_are_low_signals_not_high_ones() -> None:
    found = {s.name for s in impact.signals("This is not urgent and it is not blocking us at all.")}
    assert "no_rush" in found
    assert "urgent_words" not in found and "blocking" not in found
    assert "urgent_words" in {s.name for s in impact.signals("This is urgent, we are blocked")}


def test_key_accounts_are_a_signal_and_tokens_name_every_signal() -> None:
    found = impact.signals("hello", customer_tier="enterprise")
    assert [s.name for s in found] == ["key_account"]
    assert impact.tokens(found) == "__impact_key_account__"
    assert "scope all 'everyone'" in impact.describe(impact.signals("everyone is affected"))


# --- sentiment ----------------------------------------------------------------------------------------


def test_a_calm_problem_report_is_not_frustrated_though_vader_alone_reads_it_as_negative() -> None:
    calm = "The export failed with an error and two records are missing. Could you check? Thanks."
    assert sentiment.vader_score(calm) < 0
    assert not sentiment.assess(calm).frustrated_at(-0.5)


@pytest.mark.parametrize(
    "text",
    [
        "This is the third time I write. Still not fixed. Unacceptable.",
        "Thanks for nothing. If this isn't fixed today I will cancel my subscription.",
        "Two weeks waiting and NOBODY has answered. I want to speak to a manager!!",
    ],
)
def test_frustration_cues_flag_what_vader_misses(text) -> None:
    result = sentiment.assess(text)
    assert result.frustrated_at(-0.5), result
    assert result.cues and "VADER" in result.explanation()


def test_sentiment_threshold_is_a_parameter() -> None:
    text = "Still not fixed."
    assert sentiment.assess(text).frustrated_at(-0.3)
    assert not sentiment.assess(text).frustrated_at(-0.9)


# --- classifier ---------------------------------------------------------------------------------------


def test_a_tiny_model_learns_the_labels_with_probabilities_and_top_terms(tiny_model) -> None:
    p = tiny_model.predict("Charged twice", "the invoice shows a duplicate charge")
    assert p.category.label == "billing"
    assert 0 < p.category.confidence <= 1
    assert abs(sum(prob for _, prob in p.category.ranked) - 1) < 1e-6
    assert any(
        t in {"charged", "invoice", "charge", "duplicate", "charged twice"} for t in p.category.top_terms
    )
    assert p.priority is not None and p.priority.label in ("critical", "high", "medium", "low")


def test_a_head_with_one_label_predicts_it_with_certainty() -> None:
    model = classifier.fit(examples(TINY[:4]))  # billing only
    p = model.predict("anything", "at all")
    assert p.category.label == "billing" and p.category.confidence == 1.0


def test_cross_validation_folds_keep_each_group_on_one_side() -> None:
    rows = examples(TINY * 4)
    groups = [f"team{i % 6}" for i in range(len(rows))]
    split, how = classifier.folds_for(rows, groups, folds=3)
    assert len(split) == 3 and how.startswith("3-fold, grouped (6 groups)")
    for train_idx, test_idx in split:
        assert not {groups[i] for i in train_idx} & {groups[i] for i in test_idx}
    assert sorted(i for _, test_idx in split for i in test_idx) == list(range(len(rows)))
    # Too few groups to hold whole groups out: a plain stratified split, and it says so.
    _, how = classifier.folds_for(rows, ["a", "b"] * (len(rows) // 2), folds=3)
    assert "not grouped" in how
    result = classifier.cross_validate(rows, folds=3, groups=groups)
    assert result["folds"] == 3 and result["split"].startswith("3-fold, grouped")


def test_cross_validation_needs_enough_examples_and_reports_accuracy_and_calibration() -> None:
    assert classifier.cross_validate(examples()[:6])["folds"] == 0
    result = classifier.cross_validate(examples(TINY * 2), folds=2)
    assert result["folds"] == 2 and 0 <= result["category"]["accuracy"] <= 1
    assert "ece" in result["priority"]


@pytest.mark.parametrize("kind", ["logreg", "svm"])
def test_fast_scorer_matches_scikit_learn(kind) -> None:
    rows = [classifier.Example(s, b, c, p, angry=i % 3 == 0) for i, (s, b, c, p) in enumerate(TINY * 2)]
    # Temperature 1: the raw heads (the category temperature is checked on its own below).
    params = classifier.Params(classifier=kind, critical_threshold=1.1, category_temperature=1.0)
    model = classifier.fit(rows, params)
    for subject, body, *_ in [*TINY, ("totally new words", "zzz qqq")]:
        text = classifier.model_text(subject, body)
        x = model.vectoriser.transform([text])
        p = model.predict(subject, body)
        for name, head in (("category", p.category), ("priority", p.priority)):
            clf = model.heads[name]
            expected = dict(zip(clf.classes_, clf.predict_proba(x)[0], strict=True))
            assert dict(head.ranked) == pytest.approx(expected, abs=1e-9)
        tone = model.heads[classifier.ANGRY_HEAD]
        assert p.angry == pytest.approx(
            dict(zip(tone.classes_, tone.predict_proba(x)[0], strict=True))["angry"]
        )


def test_category_temperature_sharpens_without_changing_the_ranking() -> None:
    rows = [classifier.Example(s, b, c, p) for s, b, c, p in TINY * 2]
    raw = classifier.fit(rows, classifier.Params(category_temperature=1.0))
    sharp = classifier.fit(rows, classifier.Params(category_temperature=0.5))
    for subject, body, *_ in TINY:
        a, b = raw.predict(subject, body).category, sharp.predict(subject, body).category
        assert [label for label, _ in a.ranked] == [label for label, _ in b.ranked]
        assert sum(p for _, p in b.ranked) == pytest.approx(1.0)
        expected = np.array([p for _, p in a.ranked]) ** 2
        # Two fits of the same data (LinearSVC's solver shuffles): equal to a few decimals.
        assert b.confidence == pytest.approx(expected[0] / expected.sum(), abs=1e-3)


def test_fit_temperature_picks_the_lowest_log_loss() -> None:
    # Right 9 times in 10 at a confidence of 0.6: under-confident, so sharpening lowers the log-loss.
    rows = [("a", {"a": 0.6, "b": 0.4})] * 9 + [("b", {"a": 0.6, "b": 0.4})]
    assert classifier.fit_temperature(rows) < 1.0
    # Right half the time at 0.9: over-confident, so it is softened.
    rows = [("a", {"a": 0.9, "b": 0.1})] * 5 + [("b", {"a": 0.9, "b": 0.1})] * 5
    assert classifier.fit_temperature(rows) > 1.0


@pytest.mark.parametrize("kind", ["ordinal", "flat"])
def test_priority_head_gives_a_distribution_over_the_levels(kind) -> None:
    rows = [
        *examples(),
        classifier.Example("Down", "The whole system is down for everyone", "bug", "critical"),
        classifier.Example("Outage", "Nobody can work, everything is offline", "bug", "critical"),
        classifier.Example("All down", "All users blocked, checkout down", "bug", "critical"),
    ]
    model = classifier.fit(rows, classifier.Params(priority_model=kind))
    p = model.predict("Everything down", "nobody can work, the system is offline")
    assert set(dict(p.priority.ranked)) == {"critical", "high", "medium", "low"}
    assert sum(dict(p.priority.ranked).values()) == pytest.approx(1.0)
    assert all(prob >= 0 for _, prob in p.priority.ranked)
    assert p.critical_probability == pytest.approx(dict(p.priority.ranked)["critical"])
    if kind == "ordinal":
        head = model.heads["priority"]
        assert [level for level, _ in head.steps] == ["medium", "high", "critical"]


def test_ordinal_steps_combine_monotonically() -> None:
    classes = classifier._Ordinal(["low", "medium", "high", "critical"], []).classes_
    # P(at least high) above P(at least medium) is impossible: it is read as P(at least medium) too.
    proba = dict(zip(classes, classifier._Ordinal.combine(
        ["low", "medium", "high", "critical"], [0.4, 0.6, 0.1], classes), strict=True))  # fmt: skip
    assert proba == pytest.approx({"low": 0.4, "medium": 0.0, "high": 0.5, "critical": 0.1})


def test_params_round_trip() -> None:
    params = classifier.Params(classifier="svm", c=1.0, char_ngrams=(3, 5))
    assert classifier.Params.from_dict(json.loads(json.dumps(params.as_dict()))) == params


# --- decision -----------------------------------------------------------------------------------------


def _facts(subject: str, body: str) -> dict:
    return {**DEFAULT_FACTS, "subject": subject, "body": body, "text": f"{subject}\n{body}", "tags": []}


POLICY = RuleSpec(
    id="policy",
    name="Invoices are billing",
    trigger="case_opened",
    conditions={"field": "text", "op": "contains_any", "value": ["sso"]},
    actions=[{"type": "set_category", "value": "billing"}],
    order=10,
)


def test_a_policy_rule_wins_over_a_confident_model(tiny_model) -> None:
    facts = _facts("SSO", "single sign-on fails for one user")
    assert tiny_model.predict(facts["subject"], facts["body"]).category.label == "authentication"
    d = decision.decide([POLICY], facts, tiny_model.predict(facts["subject"], facts["body"]), threshold=0.0)
    assert d.values["category"] == "billing" and d.sources["category"] == "rule"
    assert d.explanations["category"] == "rule 'Invoices are billing' → billing"


def test_a_fallback_rule_gives_way_to_a_confident_model_and_applies_when_it_is_unsure(tiny_model) -> None:
    facts = _facts("SSO", "single sign-on fails for one user")
    prediction = tiny_model.predict(facts["subject"], facts["body"])
    confident = decision.decide([POLICY], facts, prediction, threshold=0.0, fallback=frozenset({"policy"}))
    assert confident.sources["category"] == "model"
    assert confident.explanations["category"].startswith("model: authentication (")
    unsure = decision.decide(
        [POLICY], facts, prediction, threshold=1.01, fallback=frozenset({"policy"}), agree_top=0
    )
    assert unsure.sources["category"] == "rule" and unsure.values["category"] == "billing"


def test_a_fallback_rule_settles_an_unsure_field_only_when_the_model_ranks_its_value_high_enough() -> None:
    facts = _facts("SSO", "single sign-on fails for one user")
    cat = classifier.HeadPrediction(
        "authentication", 0.4, [("authentication", 0.4), ("question", 0.35), ("billing", 0.25)]
    )
    pri = classifier.HeadPrediction("medium", 0.9, [("medium", 0.9), ("low", 0.1)])
    p = classifier.Prediction(category=cat, priority=pri, signals=[])
    fallback = frozenset({"policy"})
    # billing is the model's third guess: with agree_top=2 a person decides, with 3 (or 0) the rule does.
    top2 = decision.decide([POLICY], facts, p, threshold=0.5, fallback=fallback, agree_top=2)
    assert top2.unsure == ["category"] and top2.guess("category") == "authentication"
    top3 = decision.decide([POLICY], facts, p, threshold=0.5, fallback=fallback, agree_top=3)
    assert top3.values["category"] == "billing" and top3.sources["category"] == "rule"
    # The shipped default.
    assert decision.FALLBACK_AGREES_WITH_TOP == 2
    assert decision.decide([POLICY], facts, p, threshold=0.5, fallback=fallback).unsure == ["category"]


def test_below_the_threshold_a_field_no_rule_decided_is_unsure_with_two_guesses(tiny_model) -> None:
    facts = _facts("hello", "something happened")
    d = decision.decide([], facts, tiny_model.predict("hello", "something happened"), threshold=1.01)
    assert set(d.unsure) == {"category", "priority"} and d.values["category"] is None
    assert len(d.top_two("category")) == 2 and d.guess("category") == d.top_two("category")[0][0]
    assert "model unsure" in d.explanations["category"]


def _prediction(
    priority: list[tuple[str, float]], *, review_at: float = 0.1, text: str = "", on_impact: bool = False
) -> classifier.Prediction:
    cat = classifier.HeadPrediction("bug", 0.9, [("bug", 0.9), ("data", 0.1)])
    pri = classifier.HeadPrediction(priority[0][0], priority[0][1], priority)
    return classifier.Prediction(
        category=cat, priority=pri, signals=impact.signals(text),
        critical_probability=dict(priority).get("critical", 0.0), review_critical_at=review_at,
        review_on_impact=on_impact,
    )  # fmt: skip


@pytest.mark.parametrize(
    "text",
    [
        "Everyone in the office is locked out since 9",  # everyone blocked
        "Half of our warehouse staff can't log in to the scanners",
        "Production is down, the line has stopped",  # production down
        "Checkout is broken for all our customers",  # a revenue flow, for everyone
        "We are losing sales every hour this goes on",  # money lost
        "All customer records from last week were deleted",  # data loss
        "We think our admin account was hacked last night",  # security breach
        "Patients can see another patient's test results in the portal",  # privacy
        "Yesterday's statements were emailed to the wrong customers",
        "Alle Mitarbeiter: die Anmeldung funktioniert nicht",  # mixed-language business mail
    ],
)
def test_critical_impact_wording_is_a_possible_critical_whatever_the_model_says(text) -> None:
    assert impact.critical_cues(impact.signals(text)), text
    p = _prediction(
        [("medium", 0.8), ("low", 0.15), ("critical", 0.01), ("high", 0.04)], text=text, on_impact=True
    )
    assert p.possible_critical
    d = decision.decide([], _facts("", text), p, threshold=0.5)
    assert d.unsure == ["priority"]
    assert d.explanations["priority"].startswith("possible critical: critical impact ")
    assert "(model P(critical) 0.01), a person decides" in d.explanations["priority"]
    assert d.top_two("priority") == [("medium", 0.8), ("critical", 0.01)]
    # A model trained before the impact net (`review_on_impact` off) keeps the old behaviour.
    off = _prediction([("medium", 0.8), ("low", 0.15), ("critical", 0.01), ("high", 0.04)], text=text)
    assert not off.possible_critical


@pytest.mark.parametrize(
    "text",
    [
        "How do I export our customer list?",
        "One user can't log in, the others are fine",
        "The checkout button colour looks off",
        "Everyone here loves the new dashboard",
        "It's not down, just a bit slow for me",
        "Our data is not lost, it's only hidden by the filter",
        "would be great to have a dark mode for all users",
        "Two records are missing from the export",
        "The courier lost our parcel again",
        "Photos taken in offline mode are not attached",
    ],
)
def test_ordinary_wording_is_no_critical_cue(text) -> None:
    assert not impact.critical_cues(impact.signals(text)), [s.name for s in impact.signals(text)]


def test_a_possible_critical_goes_to_a_person_with_the_reason_and_critical_as_a_guess() -> None:
    facts = _facts("Tickets", "counter says 0 sold since the sale opened")
    p = _prediction([("high", 0.6), ("medium", 0.2), ("critical", 0.15), ("low", 0.05)])
    assert p.possible_critical
    d = decision.decide([], facts, p, threshold=0.5)
    assert d.unsure == ["priority"] and d.values["priority"] is None and d.values["category"] == "bug"
    assert d.explanations["priority"].startswith("possible critical: model P(critical) 0.15 ≥ 0.10")
    assert d.top_two("priority") == [("high", 0.6), ("critical", 0.15)]
    # Below the safety net, the confident model decides as before.
    calm = _prediction([("high", 0.7), ("medium", 0.22), ("critical", 0.05), ("low", 0.03)])
    assert not calm.possible_critical
    assert decision.decide([], facts, calm, threshold=0.5).values["priority"] == "high"


def test_a_keyword_rule_below_critical_does_not_settle_a_possible_critical_but_policy_does() -> None:
    low_rule = RuleSpec(
        id="kw", name="Questions are low", trigger="case_opened", conditions=None,
        actions=[{"type": "set_priority", "value": "low"}], order=1,
    )  # fmt: skip
    facts = _facts("How do we", "how do we get paid, the payout is missing for everyone")
    p = _prediction([("medium", 0.45), ("high", 0.3), ("critical", 0.2), ("low", 0.05)])
    fallback = decision.decide([low_rule], facts, p, threshold=0.5, fallback=frozenset({"kw"}))
    assert "priority" in fallback.unsure
    policy = decision.decide([low_rule], facts, p, threshold=0.5)
    assert policy.values["priority"] == "low" and policy.sources["priority"] == "rule"


def test_without_a_model_the_rules_alone_decide_as_before() -> None:
    rules = rules_from_dicts([r for r in DEFAULT_RULES if r["trigger"] == "case_opened"])
    d = decision.decide(rules, _facts("System down", "outage for all users"), None, threshold=0.5)
    assert d.values["priority"] == "critical" and d.sources["priority"] == "rule"
    assert d.values["category"] == "bug"
    quiet = decision.decide(rules, _facts("hello", "hi"), None, threshold=0.5)
    assert quiet.sources == {"category": "default", "priority": "default"}


def test_a_raise_only_rule_raises_the_models_priority_but_never_lowers_it(tiny_model) -> None:
    raise_rule = RuleSpec(
        id="r", name="Key account", trigger="case_opened", conditions=None,
        actions=[{"type": "raise_priority_to", "value": "high"}], order=1,
    )  # fmt: skip
    facts = _facts("Dark mode", "would be great to have a dark mode")
    d = decision.decide(
        [raise_rule], facts, tiny_model.predict(facts["subject"], facts["body"]), threshold=0.0
    )
    assert d.values["priority"] == "high" and d.sources["priority"] == "rule"


def test_shipped_safety_rules_keep_precedence() -> None:
    assert "outage" not in GIVES_WAY_TO_MODEL and "security" not in GIVES_WAY_TO_MODEL
    assert "billing" in GIVES_WAY_TO_MODEL and "question" in GIVES_WAY_TO_MODEL


# --- corpus files and evaluation ----------------------------------------------------------------------


def test_corpus_files_load_with_clear_errors(tmp_path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(
        json.dumps(
            {"subject": "a", "body": "b", "category": "Feature request", "priority": "low", "angry": False}
        )
        + "\n"
    )
    [row] = corpus.load(good)
    assert row.example.category == "feature-request" and row.angry is False
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"subject": "a", "body": "b", "category": "billing", "priority": "urgent"}\n')
    with pytest.raises(corpus.CorpusError, match=r"bad.jsonl:1: priority 'urgent'"):
        corpus.load(bad)
    csv_file = tmp_path / "export.csv"
    csv_file.write_text("Subject,Body,Category,Priority\nHi,charged twice,billing,high\n")
    assert corpus.load(csv_file, categories={"billing"})[0].example.priority == "high"
    with pytest.raises(corpus.CorpusError, match="unknown category"):
        corpus.load(csv_file, categories={"bug"})
    (tmp_path / "nohead.csv").write_text("subject,body\nx,y\n")
    with pytest.raises(corpus.CorpusError, match="missing column"):
        corpus.load(tmp_path / "nohead.csv")


def test_evaluation_reports_rules_model_and_combined_with_matrices(tiny_model) -> None:
    messages = [corpus.LabelledMessage(e, angry=i % 2 == 0) for i, e in enumerate(examples())]
    rules = rules_from_dicts([r for r in DEFAULT_RULES if r["trigger"] == "case_opened"])
    result = evaluation.evaluate(
        messages, rules=rules, model=tiny_model, threshold=0.3,
        categories=["authentication", "billing", "feature-request", "other"],
    )  # fmt: skip
    assert set(result) >= {"rules", "model", "combined", "sentiment"}
    matrix = result["model"]["category"]["matrix"]
    assert sum(map(sum, matrix)) == len(messages)
    assert result["model"]["category"]["accuracy"] == 1.0  # it was trained on these
    text = evaluation.report(result)
    assert "rules alone" in text and "confusion matrix" in text and "calibration" in text
    net = result["combined"]["critical_safety_net"]
    assert net["decided_critical"] + net["to_a_person"] + net["decided_lower"] == 0  # no critical here
    assert "possible-critical review" in text
    rules_only = evaluation.evaluate(messages, rules=rules, model=None, threshold=0.5, categories=["billing"])
    assert "model" not in rules_only and rules_only["rules"]["critical_recall"]["of"] == 0


# --- what the model reads -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mail j.ramirez@gmail.com about it", "Mail  __email__  about it"),
        ("see https://status.example.com/x?a=1 now", "see  __url__  now"),
        ("Invoice INV-20931 and ticket HW-88410", "Invoice  __id__  and ticket  __id__ "),
        ("order 5590231 shipped", "order  __id__  shipped"),
        ("€2,340.50 at 11:00 for 45 users", "€0,000.00 at 00:00 for 00 users"),
        ("pages take 200ms, 2FA fails", "pages take 000ms, 0FA fails"),
        ("nothing to mask here", "nothing to mask here"),
    ],
)
def test_mask_details_replaces_what_names_one_customers_case(text, expected) -> None:
    assert normalisation.mask_details(text) == expected


def test_masked_model_text_keeps_the_impact_signals_of_the_original_text() -> None:
    text = classifier.model_text("Drivers", "12 of our 40 drivers cannot log in", mask_details=True)
    assert "00 of our 00 drivers" in text
    assert text == classifier.model_text(
        "Drivers", "12 of our 40 drivers cannot log in", mask_details=False
    ).replace("12", "00").replace("40", "00")
    assert "__impact_" in text


def test_a_model_trained_on_masked_text_scores_masked_text() -> None:
    rows = [classifier.Example(s, b, c, p) for s, b, c, p in TINY * 2]
    model = classifier.fit(rows, classifier.Params(mask_details=True, category_temperature=1.0))
    vocabulary = model.vectoriser.transformer_list[0][1].vocabulary_
    assert not any(ch in "123456789" for term in vocabulary for ch in term)
    # One ID or another: the same features, so the same probabilities.
    a = model.predict("Invoice INV-20931", "We were charged twice, order 5590231")
    b = model.predict("Invoice INV-77777", "We were charged twice, order 1234567")
    assert dict(a.category.ranked) == pytest.approx(dict(b.category.ranked))
    x = model.vectoriser.transform([classifier.model_text("Invoice INV-20931", "charged", mask_details=True)])
    expected = dict(
        zip(model.heads["category"].classes_, model.heads["category"].predict_proba(x)[0], strict=True)
    )
    assert dict(model.predict("Invoice INV-20931", "charged").category.ranked) == pytest.approx(expected)


def test_top_terms_name_no_mask_or_impact_token() -> None:
    # Billing messages open with an invoice ID, so "__id__ we", "__id__ please" … push towards billing.
    rows = [
        classifier.Example(s, f"INV-{1000 + i} {b}" if c == "billing" else b, c, p)
        for i, (s, b, c, p) in enumerate(TINY * 2)
    ]
    model = classifier.fit(rows, classifier.Params())
    fast = classifier._FastScorer(model)
    klass = list(model.heads["category"].classes_).index("billing")
    row = fast.coefficients["category"][klass]
    idx = np.array([i for i in range(fast.n_word) if row[i] > 0])
    masked = [fast.names[i] for i in idx if fast.names[i].startswith("__id__ ")]
    assert masked
    # Weighted so that those come first: they must be skipped, not crowded out.
    vals = np.array([10.0 if "__" in fast.names[i] else 1.0 for i in idx])
    terms = fast.terms("category", idx, vals, klass, limit=len(idx))
    assert terms
    assert not any("__" in term for term in terms)


def test_a_model_saved_before_masking_existed_reads_text_unmasked() -> None:
    rows = [classifier.Example(s, b, c, p) for s, b, c, p in TINY * 2]
    model = classifier.fit(rows, classifier.Params(mask_details=False, category_temperature=1.0))
    model.meta["params"].pop("mask_details")  # as a model saved before this setting existed
    x = model.vectoriser.transform([classifier.model_text("2FA codes", "rejected", mask_details=False)])
    clf = model.heads["category"]
    expected = dict(zip(clf.classes_, clf.predict_proba(x)[0], strict=True))
    assert dict(model.predict("2FA codes", "rejected").category.ranked) == pytest.approx(expected)
