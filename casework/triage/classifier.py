"""The learned classifier beside the rules: category and priority with a probability and the words behind it.

One TF-IDF vectoriser (word 1–2-grams + character 2–5-grams within words, both sublinear) over the message
with its numbers, IDs and addresses masked (`normalisation.mask_details`) feeds two linear heads, one per
field, so a message is vectorised once. The priority head also sees the impact signals of
`impact.py` as tokens (``__impact_scope_all__``), and the customer's tier/VIP, so it learns on the team's
own history how much "everyone", "checkout" or "no rush" weigh. The classifier and its settings were chosen
by cross-validation on the training corpus only (`select_params`, run by ``casework triage train --search``;
the figures are in the issue note and `bench/bench_triage_quality.py`).

Pure: no Django. Training is plain functions over `Example`s; `TriageModel.predict` takes ~1 ms.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC

from . import impact, normalisation
from .decision import FIELDS
from .examples import PRIORITIES, Example

# The model reads the opening of a message: that is where customers say what is wrong (every corpus message
# fits: the longest body is under 1,000 characters), and it bounds the cost of a 5 KB mail's impact scan
# and character n-grams (`bench/bench_triage_latency.py`).
MAX_BODY_CHARS = 1000


ANGRY_HEAD = "angry"


@dataclass(frozen=True)
class Params:
    """What `select_params` chooses between. Defaults: the winner of the CV search on the shipped corpus."""

    classifier: str = "svm"  # "svm" (LinearSVC, sigmoid-calibrated) or "logreg"
    c: float = 1.0
    char_ngrams: tuple[int, int] = (2, 5)
    word_ngrams: tuple[int, int] = (1, 2)
    class_weight: str | None = "balanced"
    # Priority is "critical" whenever its probability reaches this, even if another level is likelier: a
    # missed outage costs more than a false alarm. Chosen by CV on the training corpus grouped by source
    # (1,204 messages, ordinal priority): 0.30 → critical recall 0.80 → 0.92 for 0.7 points of accuracy.
    critical_threshold: float = 0.3
    # The safety net below that: a case whose P(critical) reaches this (but not `critical_threshold`) is
    # not decided by the model; it goes to "needs human triage" as a possible critical. Chosen by CV on the
    # training corpus grouped by source (1,353 messages, `bench/triage_selection.py`, as the app decides):
    # 0.10 left 1 of 158 critical messages decided lower, 0.05 none, for 69 more non-critical messages
    # sent to a person (+4.1 % of all cases in the "needs human triage" queue). A missed critical costs
    # more than a one-key confirmation, so 0.05 (it was 0.10 on the 1,204-message corpus).
    review_critical_at: float = 0.05
    # The safety net also catches what the criteria call critical impact (`impact.critical_cues`: a security
    # or privacy incident, data loss, money being lost, an outage, many people blocked) whatever P(critical):
    # a missed critical costs more than a case a person confirms.
    review_on_impact: bool = True
    # "ordinal": priority from one binary head per step of the scale (see `_Ordinal`); "flat": one 4-way head.
    priority_model: str = "ordinal"
    # The category head's own classifier and C ("" / 0: the same as `classifier` / `c`).
    category_classifier: str = ""
    category_c: float = 0.0
    # Temperature of the category head's probabilities (p ** (1/T), renormalised): the sigmoid-calibrated
    # one-vs-rest SVM is under-confident (grouped CV on the shipped corpus: right 77 % of the time at a mean
    # confidence of 0.65, ECE 0.13; 0.02 at T = 0.7, which has the lowest log-loss; isotonic calibration
    # scored worse), so the "needs human triage" threshold sent many right guesses to a person. T < 1
    # sharpens; it never changes the ranking, only the confidence. `cross_validate` fits it on its
    # out-of-fold predictions and `casework triage train` uses that fit on a large enough history.
    category_temperature: float = 0.7
    # Smallest number of training messages an n-gram (word or character) must occur in to be a feature.
    min_df: int = 1
    # Numbers, IDs and addresses masked in the model's text (`normalisation.mask_details`). Grouped CV on the
    # training corpus (2,015 messages, `bench/triage_model_variants.py`, the same folds, paired): category
    # +0.5 ± 0.2, priority +0.6 ± 0.5 points (seed 0; +0.2 / +0.5 and +0.3 / +0.4 with two other fold
    # seeds); the whole decision: no critical decided lower, 8 fewer cases to a person. A model saved without
    # this key reads its text unmasked, as it was trained.
    mask_details: bool = True

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Params:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        return cls(**values)


def model_text(
    subject: str,
    body: str,
    *,
    customer_tier: str = "standard",
    vip: bool = False,
    mask_details: bool = True,
) -> str:
    text = f"{subject or ''}\n{(body or '')[:MAX_BODY_CHARS]}"
    found = impact.signals(text, customer_tier=customer_tier, vip=vip)
    return _vectoriser_text(text, found, mask_details)


def _vectoriser_text(text: str, found: list[impact.Signal], mask_details: bool) -> str:
    # The impact signals read the original text ("12 of our 40 drivers"); only the n-grams are masked.
    return f"{normalisation.mask_details(text) if mask_details else text}\n{impact.tokens(found)}"


def _sharpen(proba: np.ndarray, temperature: float) -> np.ndarray:
    if temperature == 1.0 or not len(proba):
        return proba
    powered = np.power(np.clip(proba, 1e-12, 1.0), 1.0 / temperature)
    return powered / powered.sum()


def _vectoriser(params: Params) -> FeatureUnion:
    return FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=params.word_ngrams,
                    sublinear_tf=True,
                    lowercase=True,
                    token_pattern=r"(?u)\b\w[\w']*\b",
                    min_df=params.min_df,
                ),
            ),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=params.char_ngrams,
                    sublinear_tf=True,
                    min_df=params.min_df,
                ),
            ),
        ]
    )


def _classifier(params: Params, labels: Sequence[str]):
    smallest = min(Counter(labels).values())
    if params.classifier == "svm" and smallest >= 3:
        return CalibratedClassifierCV(
            LinearSVC(C=params.c, class_weight=params.class_weight), method="sigmoid", cv=min(3, smallest)
        )
    # saga: 2 s on 900 messages where lbfgs took 25 s, for the same CV accuracy.
    return LogisticRegression(
        C=params.c, class_weight=params.class_weight, solver="saga", tol=1e-3, max_iter=300
    )


class _Ordinal:
    """Priority as an ordered scale: one binary head per step ("at least medium", "at least high", "at least
    critical"), combined into a distribution over the levels. A flat four-way head treats "high" as just
    as far from "critical" as "low" is; the steps share what the levels have in common (cross-validated on
    the training corpus, grouped by source: priority accuracy 0.79 → 0.83). `predict_proba` is what the
    fast scorer reproduces."""

    def __init__(self, levels: Sequence[str], steps: list[tuple[str, Any]]) -> None:
        self.levels = list(levels)  # lowest first
        self.steps = steps  # (level, binary head: P(priority at least level)), lowest step first
        self.classes_ = np.array(sorted(self.levels))

    @staticmethod
    def combine(levels: Sequence[str], at_least: Sequence[float], classes: np.ndarray) -> np.ndarray:
        ge = np.maximum.accumulate(np.asarray(at_least, dtype=float)[::-1])[::-1]  # monotone
        ge = np.concatenate([[1.0], np.clip(ge, 0.0, 1.0), [0.0]])
        by_level = dict(zip(levels, ge[:-1] - ge[1:], strict=True))
        return np.array([by_level[str(c)] for c in classes])

    def predict_proba(self, x) -> np.ndarray:
        at_least = [_positive(clf, clf.predict_proba(x)) for _, clf in self.steps]
        rows = np.stack(at_least, axis=1) if at_least else np.zeros((x.shape[0], 0))
        return np.array([self.combine(self.levels, row, self.classes_) for row in rows])


def _positive(clf, proba: np.ndarray) -> np.ndarray:
    classes = list(clf.classes_)
    return proba[:, classes.index(1)] if 1 in classes else np.zeros(proba.shape[0])


class _Constant:
    """A head trained on one label only (a brand-new install's first few confirmed cases)."""

    def __init__(self, label: str) -> None:
        self.classes_ = np.array([label])

    def predict_proba(self, x) -> np.ndarray:
        return np.ones((x.shape[0], 1))


@dataclass(frozen=True)
class HeadPrediction:
    label: str
    confidence: float
    ranked: list[tuple[str, float]]  # every label, most likely first
    top_terms: list[str] = field(default_factory=list)

    def top_two(self) -> list[tuple[str, float]]:
        return self.ranked[:2]


@dataclass(frozen=True)
class Prediction:
    category: HeadPrediction | None
    priority: HeadPrediction | None
    signals: list[impact.Signal]
    angry: float | None = None  # probability that the customer is frustrated (None: no tone head)
    critical_probability: float | None = None  # P(priority = critical), None without a priority head
    review_critical_at: float | None = None  # the model's safety-net threshold (see `Params`)
    review_on_impact: bool = False  # critical impact wording is a possible critical too (see `Params`)

    @property
    def critical_cues(self) -> list[impact.Signal]:
        return impact.critical_cues(self.signals) if self.review_on_impact else []

    @property
    def possible_critical(self) -> bool:
        """Not predicted critical, but likely enough, or told in critical impact words, that a person should
        look (the safety net)."""
        if self.priority is None or self.priority.label == "critical":
            return False
        likely = (
            self.review_critical_at is not None
            and (self.critical_probability or 0.0) >= self.review_critical_at
        )
        return likely or bool(self.critical_cues)

    def head(self, name: str) -> HeadPrediction | None:
        return getattr(self, name)


@dataclass
class TriageModel:
    vectoriser: FeatureUnion
    heads: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def labels(self, head: str) -> list[str]:
        return [str(c) for c in self.heads[head].classes_] if head in self.heads else []

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_fast", None)  # rebuilt after loading (holds analyser closures)
        return state

    def predict(
        self, subject: str, body: str, *, customer_tier: str = "standard", vip: bool = False
    ) -> Prediction:
        text = f"{subject or ''}\n{(body or '')[:MAX_BODY_CHARS]}"
        found = impact.signals(text, customer_tier=customer_tier, vip=vip)
        fast = self.__dict__.get("_fast") or self.__dict__.setdefault("_fast", _FastScorer(self))
        params = self.meta.get("params", {})
        idx, vals = fast.features(_vectoriser_text(text, found, bool(params.get("mask_details", False))))
        out: dict[str, HeadPrediction | None] = {}
        for name in FIELDS:
            if name not in self.heads:
                out[name] = None
                continue
            classes, proba = fast.proba(name, idx, vals)
            if name == "category":
                proba = _sharpen(proba, float(params.get("category_temperature", 1.0)))
            order = np.argsort(-proba)
            ranked = [(str(classes[i]), float(proba[i])) for i in order]
            out[name] = HeadPrediction(
                label=ranked[0][0],
                confidence=ranked[0][1],
                ranked=ranked,
                top_terms=fast.terms(name, idx, vals, int(order[0])),
            )
        critical_at = params.get("critical_threshold")
        p_critical = dict(out["priority"].ranked).get("critical", 0.0) if out["priority"] else None
        if out["priority"] is not None and critical_at is not None:
            out["priority"] = _critical_first(out["priority"], critical_at)
        angry = None
        if ANGRY_HEAD in self.heads:
            classes, proba = fast.proba(ANGRY_HEAD, idx, vals)
            angry = float(dict(zip(classes, proba, strict=True)).get("angry", 0.0))
        return Prediction(
            category=out["category"],
            priority=out["priority"],
            signals=found,
            angry=angry,
            critical_probability=p_critical,
            review_critical_at=params.get("review_critical_at"),
            review_on_impact=bool(params.get("review_on_impact", False)),
        )

    def predict_many(self, examples: Sequence[Example]) -> list[Prediction]:
        return [self.predict(e.subject, e.body, customer_tier=e.customer_tier, vip=e.vip) for e in examples]


class _FastScorer:
    """The fitted model's arithmetic for one message, in plain numpy.

    scikit-learn's `transform` + `predict_proba` on a single document spent ~25 ms (measured on this
    machine under load) in input validation and per-class calibrator calls; the sums themselves take
    microseconds. This computes the same numbers — TF-IDF (sublinear tf, idf, l2 per vectoriser), the
    linear scores, softmax or Platt sigmoids averaged over the calibration folds — from the fitted
    attributes; `test_fast_scorer_matches_scikit_learn` checks it against `predict_proba`."""

    def __init__(self, model: TriageModel) -> None:
        self.parts = []
        offset = 0
        for _, vec in model.vectoriser.transformer_list:
            self.parts.append((vec.build_analyzer(), vec.vocabulary_, vec.idf_, offset, vec.sublinear_tf))
            offset += len(vec.vocabulary_)
        self.n_word = len(model.vectoriser.transformer_list[0][1].vocabulary_)
        self.names = _feature_names(model.vectoriser.transformer_list[0][1])
        self.heads = {name: clf for name, clf in model.heads.items()}
        self.coefficients = {name: _coefficients(clf) for name, clf in model.heads.items()}

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        all_idx, all_vals = [], []
        for analyse, vocabulary, idf, offset, sublinear in self.parts:
            # Count every n-gram in C, then keep the known ones (fewer lookups than filtering each one).
            counts = {t: n for t, n in Counter(analyse(text)).items() if t in vocabulary}
            if not counts:
                continue
            idx = np.fromiter((vocabulary[t] for t in counts), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            vals = ((np.log(tf) + 1.0) if sublinear else tf) * idf[idx]
            norm = np.sqrt(np.dot(vals, vals))
            all_idx.append(idx + offset)
            all_vals.append(vals / norm if norm else vals)
        if not all_idx:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.concatenate(all_idx), np.concatenate(all_vals)

    def proba(self, name: str, idx: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        clf = self.heads[name]
        if isinstance(clf, _Ordinal):
            at_least = []
            for _, step in clf.steps:
                classes, proba = self._proba(step, idx, vals)
                at_least.append(float(proba[list(classes).index(1)]) if 1 in list(classes) else 0.0)
            return clf.classes_, _Ordinal.combine(clf.levels, at_least, clf.classes_)
        return self._proba(clf, idx, vals)

    def _proba(self, clf, idx: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        classes = clf.classes_
        if isinstance(clf, _Constant):
            return classes, np.ones(1)
        if hasattr(clf, "calibrated_classifiers_"):
            n = len(classes)
            total = np.zeros(n)
            for cc in clf.calibrated_classifiers_:
                est = cc.estimator
                scores = est.coef_[:, idx] @ vals + est.intercept_
                proba = np.zeros(n)
                positions = np.searchsorted(classes, est.classes_)
                for j, (position, score) in enumerate(zip(positions, scores, strict=False)):
                    cal = cc.calibrators[j]
                    proba[position + 1 if n == 2 else position] = _expit(-(cal.a_ * score + cal.b_))
                if n == 2:
                    proba[0] = 1.0 - proba[1]
                else:
                    denominator = proba.sum()
                    proba = proba / denominator if denominator else np.full(n, 1.0 / n)
                total += proba
            return classes, total / len(clf.calibrated_classifiers_)
        scores = clf.coef_[:, idx] @ vals + clf.intercept_
        if len(classes) == 2:
            p1 = _expit(scores[0])
            return classes, np.array([1.0 - p1, p1])
        exp = np.exp(scores - scores.max())
        return classes, exp / exp.sum()

    def terms(self, name: str, idx: np.ndarray, vals: np.ndarray, klass: int, limit: int = 3) -> list[str]:
        """The words that pushed the message towards `klass` most (word features only: readable)."""
        coef = self.coefficients[name]
        if coef is None:
            return []
        row = coef[0] if coef.shape[0] == 1 else coef[klass]
        if coef.shape[0] == 1 and klass == 0:
            row = -row  # binary: the one row scores class 1
        word = idx < self.n_word
        contributions = vals[word] * row[idx[word]]
        terms: list[str] = []
        for k in np.argsort(-contributions):
            if contributions[k] <= 0 or len(terms) >= limit:
                break
            term = self.names[idx[word][k]]
            # Impact tokens and masks ("__id__", "invoice __id__") are not words an agent would recognise.
            if "__" in term or any(term in t or t in term for t in terms):
                continue
            terms.append(term)
        return terms


def _expit(value: float) -> float:
    return float(1.0 / (1.0 + np.exp(-value)))


def _critical_first(head: HeadPrediction, threshold: float) -> HeadPrediction:
    p = dict(head.ranked).get("critical", 0.0)
    if head.label == "critical" or p < threshold:
        return head
    ranked = [("critical", p)] + [(label, q) for label, q in head.ranked if label != "critical"]
    return HeadPrediction(label="critical", confidence=p, ranked=ranked, top_terms=head.top_terms)


def _feature_names(vectoriser: TfidfVectorizer) -> list[str]:
    cached = getattr(vectoriser, "_casework_names", None)
    if cached is None:
        cached = [str(n) for n in vectoriser.get_feature_names_out()]
        vectoriser._casework_names = cached
    return cached


def _coefficients(clf) -> np.ndarray | None:
    if isinstance(clf, _Ordinal):
        # What pushed the message up to a level is its step's weights; what kept it at the lowest level is
        # the first step's weights turned round. One row per class, in `classes_` order.
        steps = {level: _coefficients(step) for level, step in clf.steps}
        if not steps or any(c is None for c in steps.values()):
            return None
        rows = {level: c[0] for level, c in steps.items()}
        rows[clf.levels[0]] = -steps[clf.steps[0][0]][0]
        return np.array([rows[str(c)] for c in clf.classes_])
    if hasattr(clf, "coef_"):
        return clf.coef_
    calibrated = getattr(clf, "calibrated_classifiers_", None)
    if calibrated:
        return np.mean([c.estimator.coef_ for c in calibrated], axis=0)
    return None


# --------------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------------


def _texts(examples: Sequence[Example], params: Params) -> list[str]:
    return [
        model_text(
            e.subject, e.body, customer_tier=e.customer_tier, vip=e.vip, mask_details=params.mask_details
        )
        for e in examples
    ]


def fit(examples: Sequence[Example], params: Params | None = None) -> TriageModel:
    """Train on every example; a head is trained on the examples that carry its label."""
    params = params or Params()
    if not examples:
        raise ValueError("no labelled examples to train on")
    texts = _texts(examples, params)
    vectoriser = _vectoriser(params)
    x = vectoriser.fit(texts).transform(texts)
    heads: dict[str, Any] = {}
    for name in (*FIELDS, ANGRY_HEAD):
        if name == ANGRY_HEAD:
            rows = [i for i, e in enumerate(examples) if e.angry is not None]
            labels = ["angry" if examples[i].angry else "calm" for i in rows]
        else:
            rows = [i for i, e in enumerate(examples) if getattr(e, name)]
            labels = [getattr(examples[i], name) for i in rows]
        if not labels:
            continue
        if len(set(labels)) == 1:
            heads[name] = _Constant(labels[0])
            continue
        if name == "priority" and params.priority_model == "ordinal":
            heads[name] = _fit_ordinal(params, x[rows], labels)
            continue
        head_params = params
        if name == "category" and (params.category_classifier or params.category_c):
            head_params = dataclasses.replace(
                params,
                classifier=params.category_classifier or params.classifier,
                c=params.category_c or params.c,
            )
        clf = _classifier(head_params, labels)
        clf.fit(x[rows], labels)
        heads[name] = clf
    return TriageModel(vectoriser=vectoriser, heads=heads, meta={"params": params.as_dict()})


def _fit_ordinal(params: Params, x, labels: Sequence[str]) -> _Ordinal:
    order = [p for p in reversed(PRIORITIES) if p in set(labels)]  # lowest first
    rank = {p: i for i, p in enumerate(order)}
    steps: list[tuple[str, Any]] = []
    for level in order[1:]:
        y = [int(rank[label] >= rank[level]) for label in labels]
        clf = _classifier(params, y)
        clf.fit(x, y)
        steps.append((level, clf))
    return _Ordinal(order, steps)


def folds_for(
    examples: Sequence[Example], groups: Sequence[str] | None, *, folds: int = 5, seed: int = 0
) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """The CV folds: stratified on category and, when `groups` are given (the corpus's `source`, an imported
    file, an organisation), grouped so that one group's messages are never on both sides of a split. Near
    duplicates (the same customer writing twice, one team's phrasing) then cannot leak from training into
    scoring, which made a random split score 1–2 points higher than a new team's mail. Falls back to a
    plain stratified split when there are too few groups. Returns the folds and how they were made."""
    strata = [e.category or "?" for e in examples]
    smallest = min(Counter(strata).values()) if strata else 0
    if len(examples) < 10:
        return [], "too few examples"
    x = np.zeros(len(examples))
    if groups is not None and len(set(groups)) >= max(folds, 2) * 2:
        if len(groups) != len(examples):
            raise ValueError("one group per example")
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        split = [(a, b) for a, b in splitter.split(x, strata, groups=list(groups)) if len(a) and len(b)]
        if len(split) >= 2:
            return split, f"{len(split)}-fold, grouped ({len(set(groups))} groups), stratified on category"
    k = min(folds, smallest)
    if k < 2:
        return [], "too few examples per category"
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(splitter.split(x, strata)), f"{k}-fold, stratified on category (not grouped)"


def cross_validate(
    examples: Sequence[Example],
    params: Params | None = None,
    *,
    folds: int = 5,
    seed: int = 0,
    groups: Sequence[str] | None = None,
) -> dict[str, Any]:
    """k-fold accuracy per head (see `folds_for`: grouped by `groups` when given, stratified on category),
    plus the out-of-fold predictions' critical recall and calibration error. None for a head when there are
    too few examples to fold."""
    params = params or Params()
    split, how = folds_for(examples, groups, folds=folds, seed=seed)
    if not split:
        return {"folds": 0, "n": len(examples), "category": None, "priority": None, "split": how}
    predicted: dict[str, list[tuple[str, str, float]]] = {name: [] for name in FIELDS}
    category_proba: list[tuple[str, dict[str, float]]] = []  # truth, unsharpened probabilities
    raw = dataclasses.replace(params, category_temperature=1.0)
    for train_idx, test_idx in split:
        model = fit([examples[i] for i in train_idx], raw)
        for i in test_idx:
            e = examples[i]
            p = model.predict(e.subject, e.body, customer_tier=e.customer_tier, vip=e.vip)
            for name in FIELDS:
                head, truth = p.head(name), getattr(e, name)
                if head is not None and truth:
                    predicted[name].append((truth, head.label, head.confidence))
                    if name == "category":
                        category_proba.append((truth, dict(head.ranked)))
    result: dict[str, Any] = {"folds": len(split), "n": len(examples), "split": how}
    for name in FIELDS:
        rows = predicted[name]
        if not rows:
            result[name] = None
            continue
        accuracy = sum(t == p for t, p, _ in rows) / len(rows)
        result[name] = {"accuracy": round(accuracy, 4), "ece": round(expected_calibration_error(rows), 4)}
    if category_proba and result["category"]:
        fitted = fit_temperature(category_proba)
        result["category"]["ece_unsharpened"] = result["category"]["ece"]
        result["category"]["ece"] = round(_ece_at(category_proba, params.category_temperature), 4)
        result["category"]["temperature"] = params.category_temperature
        result["category"]["fitted_temperature"] = fitted
        result["category"]["ece_at_fitted"] = round(_ece_at(category_proba, fitted), 4)
    crit = [(t, p) for t, p, _ in predicted["priority"] if t == "critical"]
    result["critical_recall"] = round(sum(p == "critical" for _, p in crit) / len(crit), 4) if crit else None
    return result


TEMPERATURES = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5)


def _sharpened_rows(
    rows: Sequence[tuple[str, dict[str, float]]], temperature: float
) -> list[tuple[str, str, float, float]]:
    """(truth, predicted, confidence, probability of the truth) after sharpening."""
    out = []
    for truth, proba in rows:
        labels = list(proba)
        q = _sharpen(np.array([proba[label] for label in labels]), temperature)
        k = int(np.argmax(q))
        p_truth = float(q[labels.index(truth)]) if truth in labels else 0.0
        out.append((truth, labels[k], float(q[k]), p_truth))
    return out


def _ece_at(rows: Sequence[tuple[str, dict[str, float]]], temperature: float) -> float:
    return expected_calibration_error([r[:3] for r in _sharpened_rows(rows, temperature)])


def fit_temperature(rows: Sequence[tuple[str, dict[str, float]]]) -> float:
    """The category temperature with the lowest log-loss on out-of-fold probabilities (truth, {label: p})."""

    def log_loss(temperature: float) -> float:
        scored = _sharpened_rows(rows, temperature)
        return -float(np.mean([np.log(max(r[3], 1e-12)) for r in scored]))

    return min(TEMPERATURES, key=log_loss)


def expected_calibration_error(rows: Sequence[tuple[str, str, float]], bins: int = 10) -> float:
    """Mean |accuracy − confidence| over confidence bins, weighted by how many predictions fall in each."""
    if not rows:
        return 0.0
    total, n = 0.0, len(rows)
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(t == p, c) for t, p, c in rows if lo < c <= hi or (b == 0 and c == 0)]
        if inside:
            acc = sum(ok for ok, _ in inside) / len(inside)
            conf = sum(c for _, c in inside) / len(inside)
            total += len(inside) / n * abs(acc - conf)
    return total


SEARCH_SPACE: dict[str, list[Any]] = {
    "classifier": ["logreg", "svm"],
    "c": [1.0, 3.0, 10.0, 30.0],
    "char_ngrams": [(2, 5), (3, 5)],
}


def select_params(
    examples: Sequence[Example],
    *,
    folds: int = 5,
    space: dict[str, list[Any]] | None = None,
    groups: Sequence[str] | None = None,
    log=print,
) -> tuple[Params, list[dict[str, Any]]]:
    """Grid search by cross-validation on the examples given (the training corpus, never the evaluation
    split), grouped by `groups` when given (see `folds_for`). Score: mean of category and priority
    accuracy, critical recall breaking ties."""
    space = space or SEARCH_SPACE
    keys = list(space)
    tried: list[dict[str, Any]] = []
    best: tuple[tuple[float, float], Params] | None = None
    for values in itertools.product(*(space[k] for k in keys)):
        candidate = Params(**dict(zip(keys, values, strict=True)))
        if candidate.classifier == "svm" and candidate.c > 3:
            continue  # LinearSVC's C is on another scale; 1 and 3 cover it
        t0 = time.perf_counter()
        cv = cross_validate(examples, candidate, folds=folds, groups=groups)
        cat = (cv["category"] or {}).get("accuracy", 0.0)
        pri = (cv["priority"] or {}).get("accuracy", 0.0)
        score = ((cat + pri) / 2, cv.get("critical_recall") or 0.0)
        row = {"params": candidate.as_dict(), "cv": cv, "seconds": round(time.perf_counter() - t0, 1)}
        tried.append(row)
        log(f"  {candidate.as_dict()} → category {cat:.3f}, priority {pri:.3f}, critical {score[1]:.3f}")
        if best is None or score > best[0]:
            best = (score, candidate)
    assert best is not None
    return best[1], tried
