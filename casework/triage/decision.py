"""Rules and the model together: the rules keep precedence where they fire, the model fills the rest.

The model's confident guesses become the *starting* facts (instead of the default medium/other), then the
rules run as they always did: a `set_category`/`set_priority` overrides the model (a team's explicit policy
wins), a `raise_priority_to` raises it only if it is lower. A field the rules did not set and the model is
unsure about (confidence below the threshold) is **unsure**: the case stays New for a person, with the
model's top two guesses. Without a model, triage is the rules alone, exactly as before.

The same function decides for a real case (`services.run_triage`) and for `casework triage evaluate`, so
the figures measure what the application does. Pure: no Django.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import impact
from .engine import RuleOutcome, RuleSpec, simulate

if TYPE_CHECKING:  # the classifier imports scikit-learn: only code that predicts pays for it
    from .classifier import HeadPrediction, Prediction

FIELDS = ("category", "priority")

# A shipped keyword rule decides a field the model was unsure about only if the model ranks the rule's value
# among its first this-many guesses (0: the rule decides whatever the model thinks). See `decide`. Chosen by
# grouped CV on the training corpus (`bench/triage_selection.py`): 2 → category 76.8 → 77.2 % and right
# 81.6 → 82.6 % of the categories decided without a person, for 1.5 % more cases to a person; 1 → 77.5 /
# 84.3 % for 3.9 % more.
FALLBACK_AGREES_WITH_TOP = 2

SETTERS = {"category": ("set_category",), "priority": ("set_priority", "raise_priority_to")}


def to_fact(name: str, value: str | None) -> str | None:
    # The rule language names categories ("feature request"); cases store slugs ("feature-request").
    return value.replace("-", " ") if name == "category" and value else value


def from_fact(name: str, value: str | None) -> str | None:
    return value.replace(" ", "-") if name == "category" and value else value


@dataclass
class Decision:
    values: dict[str, str | None]  # field → slug/priority decided (None: left to a person)
    sources: dict[str, str]  # field → "rule", "model", "default" or "unsure"
    explanations: dict[str, str]  # field → "rule 'Outage' → critical", "model: billing (0.86); top terms…"
    unsure: list[str] = field(default_factory=list)
    prediction: Prediction | None = None
    outcomes: list[RuleOutcome] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, str] = field(default_factory=dict)  # facts the model set before the rules ran
    deciders: dict[str, RuleOutcome] = field(default_factory=dict)  # field → the rule that decided it

    def guess(self, name: str) -> str | None:
        """The decided value, or the model's top guess where it was unsure (what a triager sees first)."""
        if self.values.get(name) is not None:
            return self.values[name]
        head = self.prediction.head(name) if self.prediction else None
        return head.label if head else None

    def top_two(self, name: str) -> list[tuple[str, float]]:
        head = self.prediction.head(name) if self.prediction else None
        if not head:
            return []
        two = head.top_two()
        if name == "priority" and self.prediction.possible_critical and "critical" not in dict(two):
            # A possible critical: the triager's second key is "critical", whatever came second.
            two = [two[0], ("critical", self.prediction.critical_probability or 0.0)]
        return two


def model_explanation(name: str, head: HeadPrediction, signals: Sequence[impact.Signal] = ()) -> str:
    text = f"model: {head.label} ({head.confidence:.2f})"
    if head.top_terms:
        text += "; top terms: " + ", ".join(head.top_terms)
    if name == "priority" and signals:
        text += "; impact: " + impact.describe(list(signals))
    return text


def model_baseline(
    prediction: Prediction | None, threshold: float, *, skip: frozenset[str] = frozenset()
) -> dict[str, str]:
    """The model's guesses confident enough to start from, as facts (category names as rules use them)."""
    if prediction is None:
        return {}
    out = {}
    for name in FIELDS:
        head = prediction.head(name)
        # A likely critical is never left waiting for a person: it applies (and says its probability). A
        # possible critical (P(critical) at the safety-net threshold, below the one that applies it) is
        # never decided by the model: a person looks.
        sure = head is not None and (
            head.confidence >= threshold or (name == "priority" and head.label == "critical")
        )
        if name == "priority" and prediction.possible_critical:
            sure = False
        if name not in skip and sure:
            out[name] = to_fact(name, head.label)
    return out


def rule_setter(outcomes: Sequence[RuleOutcome], name: str) -> RuleOutcome | None:
    """The last matched rule with an action on `name` (the one whose value stands)."""
    found = None
    for outcome in outcomes:
        if outcome.matched and any(a.get("type") in SETTERS[name] for a in outcome.actions):
            found = outcome
    return found


def decide(
    rules: Sequence[RuleSpec],
    facts: Mapping[str, Any],
    prediction: Prediction | None,
    *,
    threshold: float,
    trigger: str = "case_opened",
    fallback: frozenset[str] = frozenset(),
    agree_top: int | None = None,
) -> Decision:
    """Who decides each of category and priority, and why.

    `fallback` holds the ids of rules that give way to a confident model (the shipped keyword rules: the
    floor, not the goal); every other rule is policy and wins where it fires. In order, per field:
    a policy rule that set it (run over the model's confident guesses, so `raise_priority_to` only raises
    them) → the model, when confident → a fallback rule (the rules alone, as without a model) → unsure
    (a model that is not confident) or the default (no model).
    """
    baseline = model_baseline(prediction, threshold)
    policy = [r for r in rules if r.id not in fallback]
    start = {**facts, **baseline}
    final, outcomes = simulate(policy, trigger, start)
    alone_final, alone_outcomes = simulate(rules, trigger, facts) if fallback else (final, outcomes)
    values: dict[str, str | None] = {}
    sources: dict[str, str] = {}
    explanations: dict[str, str] = {}
    unsure: list[str] = []
    deciders: dict[str, RuleOutcome] = {}
    for name in FIELDS:
        setter = rule_setter(outcomes, name)
        head = prediction.head(name) if prediction else None
        late = rule_setter(alone_outcomes, name) if fallback else None
        if (
            late is not None
            and name == "priority"
            and prediction is not None
            and prediction.possible_critical
            and alone_final.get(name) != "critical"
        ):
            late = None  # a keyword rule does not settle a possible critical below critical; a person does
        top = FALLBACK_AGREES_WITH_TOP if agree_top is None else agree_top
        # A keyword rule settles what the unsure model left open only when the model also ranks the rule's
        # value among its first `top` guesses; otherwise a person decides.
        if (
            late is not None
            and head is not None
            and top
            and from_fact(name, alone_final.get(name)) not in {label for label, _ in head.ranked[:top]}
        ):
            late = None
        if setter is not None and _decided_by(setter, name, start, final):
            values[name] = from_fact(name, final.get(name))
            sources[name] = "rule"
            deciders[name] = setter
            explanations[name] = f"rule {setter.rule_name!r} → {final.get(name)}"
        elif name in baseline and head is not None:
            values[name] = head.label
            sources[name] = "model"
            explanations[name] = model_explanation(name, head, prediction.signals if prediction else ())
        elif late is not None and _decided_by(late, name, facts, alone_final):
            values[name] = from_fact(name, alone_final.get(name))
            sources[name] = "rule"
            deciders[name] = late
            explanations[name] = f"rule {late.rule_name!r} → {alone_final.get(name)}"
        elif head is not None:
            values[name] = None
            sources[name] = "unsure"
            guesses = ", ".join(f"{label} ({p:.2f})" for label, p in head.top_two())
            if name == "priority" and prediction.possible_critical:
                p_critical = prediction.critical_probability or 0.0
                review_at = prediction.review_critical_at
                if review_at is not None and p_critical >= review_at:
                    why = f"model P(critical) {p_critical:.2f} ≥ {review_at:.2f}"
                else:
                    cues = impact.describe(prediction.critical_cues)
                    why = f"critical impact {cues} (model P(critical) {p_critical:.2f})"
                explanations[name] = f"possible critical: {why}, a person decides; guesses: {guesses}"
                if prediction.signals:
                    explanations[name] += "; impact: " + impact.describe(list(prediction.signals))
            else:
                explanations[name] = f"model unsure (below {threshold:.2f}): {guesses}"
            unsure.append(name)
        else:
            values[name] = from_fact(name, final.get(name))
            sources[name] = "default"
            explanations[name] = f"no rule and no model: default {final.get(name)}"
    all_outcomes = outcomes if not fallback else alone_outcomes
    return Decision(
        values=values,
        sources=sources,
        explanations=explanations,
        unsure=unsure,
        prediction=prediction,
        outcomes=all_outcomes,
        final=final,
        baseline=baseline,
        deciders=deciders,
    )


def _decided_by(setter: RuleOutcome, name: str, start: Mapping[str, Any], final: Mapping[str, Any]) -> bool:
    """A rule decided a field if it set it outright, or raised it (a raise that changed nothing did not)."""
    kinds = {a.get("type") for a in setter.actions if a.get("type") in SETTERS[name]}
    return kinds != {"raise_priority_to"} or final.get(name) != start.get(name)
