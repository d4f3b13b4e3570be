"""Feature and model variants for learned triage, scored by grouped CV on the TRAINING corpus only.

The same folds as `bench/triage_selection.py` and `bench/triage_cv_errors.py` (`classifier.folds_for`: 5
folds, grouped by `source`, stratified on category, seed 0; `--seed=N` for others) and the same model text
(`classifier.model_text` unmasked: subject + body + impact tokens; masking is a variant). Each variant is
a vectoriser, a text normalisation and a classifier for the category head and for the ordinal priority
steps; scored with scikit-learn's batch predict (the app's fast scorer computes the same numbers one
message at a time). Prints per variant the mean ± std over the 5 folds of category accuracy, priority
accuracy (plain argmax of the ordinal head) and critical recall (argmax), the pooled figures, and the
mean ± std of the per-fold differences from the baseline. The held-out files are never read.

    .venv/bin/python bench/triage_model_variants.py                    # every variant
    .venv/bin/python bench/triage_model_variants.py baseline lr-c10    # some of them

A throw-away selection harness, not a `make bench` module (no `run()`).
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.naive_bayes import ComplementNB
from sklearn.svm import LinearSVC

from casework.triage import classifier, corpus
from casework.triage.examples import PRIORITIES

LEVELS = list(reversed(PRIORITIES))  # lowest first
RESULTS: dict[str, np.ndarray] = {}


def vectorisers(
    word=(1, 2),
    char=(2, 5),
    min_df=1,
    sublinear=True,
    char_weight=1.0,
    max_df=1.0,
    word_min_df=None,
    accents=None,
):
    def build():
        return [
            (
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=word,
                    sublinear_tf=sublinear,
                    token_pattern=r"(?u)\b\w[\w']*\b",
                    min_df=word_min_df or min_df,
                    max_df=max_df,
                    strip_accents=accents,
                ),
                1.0,
            ),
            (
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=char,
                    sublinear_tf=sublinear,
                    min_df=min_df,
                    max_df=max_df,
                    strip_accents=accents,
                ),
                char_weight,
            ),
        ]

    return build


def svm(c=1.0, weight="balanced"):
    def build(labels):
        smallest = min(Counter(labels).values())
        return CalibratedClassifierCV(
            LinearSVC(C=c, class_weight=weight), method="sigmoid", cv=min(3, smallest)
        )

    return build


def logreg(c=10.0, weight="balanced"):
    return lambda labels: LogisticRegression(C=c, class_weight=weight, solver="saga", tol=1e-3, max_iter=300)


def sgd(alpha=1e-4, weight="balanced"):
    return lambda labels: SGDClassifier(
        loss="modified_huber", alpha=alpha, class_weight=weight, max_iter=50, tol=1e-3, random_state=0
    )


def cnb(alpha=0.3):
    return lambda labels: ComplementNB(alpha=alpha)


class Average:
    """Probabilities averaged over several classifiers fitted on the same rows."""

    def __init__(self, members):
        self.members = members

    def fit(self, x, y):
        for m in self.members:
            m.fit(x, y)
        self.classes_ = self.members[0].classes_
        return self

    def predict_proba(self, x):
        return np.mean([m.predict_proba(x) for m in self.members], axis=0)


def average(*builders):
    return lambda labels: Average([b(labels) for b in builders])


_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_URL = re.compile(r"\bhttps?://\S+|\bwww\.\S+", re.I)
_ID = re.compile(r"\b[A-Za-z]{1,6}[-_#]?\d{3,}\b|\b\d{5,}\b")
_MONEY = re.compile(r"[$€£]\s?\d[\d,.]*\d|[$€£]\s?\d|\b\d[\d,.]*\s?(?:EUR|USD|GBP|euros?|dollars?)\b", re.I)
_DIGIT = re.compile(r"\d")
_HEADER = re.compile(
    r"^(?:-{2,}.*(?:forwarded|original|weitergeleitet|transféré).*-*|"
    r"(?:from|sent|to|cc|subject|date|von|an|gesendet|betreff|de|envoyé|à|objet)\s*:.*)$",
    re.I | re.M,
)
_QUOTE = re.compile(r"^>.*$", re.M)


def mask(text, *, money=False, digits=False):
    text = _EMAIL.sub(" __email__ ", text)
    text = _URL.sub(" __url__ ", text)
    if money:
        text = _MONEY.sub(" __money__ ", text)
    text = _ID.sub(" __id__ ", text)
    if digits:
        text = _DIGIT.sub("0", text)
    return text


def strip_headers(text):
    return _HEADER.sub(" ", text)


VARIANTS = {
    "word_min_df2": {"vec": vectorisers(word_min_df=2)},
    "min_df2+char_x0.7": {"vec": vectorisers(min_df=2, char_weight=0.7)},
    "ordinal+flat": {"flat_mix": 0.5},
    "min_df2+ordinal+flat": {"vec": vectorisers(min_df=2), "flat_mix": 0.5},
    "digits": {"normalise": lambda t: _DIGIT.sub("0", t)},
    "mask+digits+min_df2": {"normalise": lambda t: mask(t, digits=True), "vec": vectorisers(min_df=2)},
    "mask+digits+ordinal+flat": {"normalise": lambda t: mask(t, digits=True), "flat_mix": 0.5},
    "mask+digits+accents": {
        "normalise": lambda t: mask(t, digits=True),
        "vec": vectorisers(accents="unicode"),
    },
    "mask": {"normalise": mask},
    "mask+money": {"normalise": lambda t: mask(t, money=True)},
    "mask+digits": {"normalise": lambda t: mask(t, digits=True)},
    "headers": {"normalise": strip_headers},
    "headers+quotes": {"normalise": lambda t: _QUOTE.sub(" ", strip_headers(t))},
    "mask+headers": {"normalise": lambda t: mask(strip_headers(t))},
    "baseline": {},
    "min_df2": {"vec": vectorisers(min_df=2)},
    "min_df3": {"vec": vectorisers(min_df=3)},
    "max_df0.5": {"vec": vectorisers(max_df=0.5)},
    "char1-5": {"vec": vectorisers(char=(1, 5))},
    "char3-5": {"vec": vectorisers(char=(3, 5))},
    "char2-6": {"vec": vectorisers(char=(2, 6))},
    "word1-3": {"vec": vectorisers(word=(1, 3))},
    "char_x0.7": {"vec": vectorisers(char_weight=0.7)},
    "char_x1.4": {"vec": vectorisers(char_weight=1.4)},
    "svm-c0.3": {"clf": svm(0.3)},
    "svm-c0.5": {"clf": svm(0.5)},
    "svm-c2": {"clf": svm(2.0)},
    "svm-noweight": {"clf": svm(1.0, None)},
    "lr-c3": {"clf": logreg(3.0)},
    "lr-c10": {"clf": logreg(10.0)},
    "lr-c30": {"clf": logreg(30.0)},
    "sgd-mh-1e-4": {"clf": sgd(1e-4)},
    "sgd-mh-3e-5": {"clf": sgd(3e-5)},
    "cnb-0.1": {"clf": cnb(0.1)},
    "cnb-0.3": {"clf": cnb(0.3)},
    "avg-svm-lr": {"clf": average(svm(1.0), logreg(10.0))},
    "avg-svm-cnb": {"clf": average(svm(1.0), cnb(0.3))},
    "avg-svm-lr-cnb": {"clf": average(svm(1.0), logreg(10.0), cnb(0.3))},
}


def vectorise(build, train_texts, test_texts):
    blocks_train, blocks_test = [], []
    for vec, weight in build():
        blocks_train.append(vec.fit_transform(train_texts) * weight)
        blocks_test.append(vec.transform(test_texts) * weight)
    return sparse.hstack(blocks_train).tocsr(), sparse.hstack(blocks_test).tocsr()


def ordinal_proba(build, x_train, y_train, x_test):
    rank = {p: i for i, p in enumerate(LEVELS)}
    at_least = []
    for level in LEVELS[1:]:
        y = np.array([int(rank[label] >= rank[level]) for label in y_train])
        clf = build(list(y)).fit(x_train, y)
        at_least.append(clf.predict_proba(x_test)[:, list(clf.classes_).index(1)])
    ge = np.stack(at_least, axis=1)
    ge = np.maximum.accumulate(ge[:, ::-1], axis=1)[:, ::-1]
    ge = np.concatenate([np.ones((len(ge), 1)), ge, np.zeros((len(ge), 1))], axis=1)
    return ge[:, :-1] - ge[:, 1:]  # columns in LEVELS order


def score(name, spec, messages, texts, split):
    build_vec = spec.get("vec", vectorisers())
    build_clf = spec.get("clf", svm())
    normalise = spec.get("normalise", lambda t: t)
    texts = [normalise(t) for t in texts]
    cat_truth = np.array([m.example.category for m in messages], dtype=object)
    pri_truth = np.array([m.example.priority for m in messages], dtype=object)
    cat_pred = np.empty(len(messages), dtype=object)
    pri_pred = np.empty(len(messages), dtype=object)
    per_fold = []
    t0 = time.perf_counter()
    for train_idx, test_idx in split:
        x_train, x_test = vectorise(build_vec, [texts[i] for i in train_idx], [texts[i] for i in test_idx])
        y_cat = list(cat_truth[train_idx])
        clf = build_clf(y_cat).fit(x_train, y_cat)
        cat_pred[test_idx] = np.asarray(clf.classes_, dtype=object)[clf.predict_proba(x_test).argmax(1)]
        proba = ordinal_proba(build_clf, x_train, list(pri_truth[train_idx]), x_test)
        if spec.get("flat_mix"):
            flat = build_clf(list(pri_truth[train_idx])).fit(x_train, list(pri_truth[train_idx]))
            order = [list(flat.classes_).index(level) for level in LEVELS]
            w = spec["flat_mix"]
            proba = (1 - w) * proba + w * flat.predict_proba(x_test)[:, order]
        pri_pred[test_idx] = np.array(LEVELS, dtype=object)[proba.argmax(1)]
        crit = pri_truth[test_idx] == "critical"
        per_fold.append(
            (
                (cat_pred[test_idx] == cat_truth[test_idx]).mean(),
                (pri_pred[test_idx] == pri_truth[test_idx]).mean(),
                (pri_pred[test_idx][crit] == "critical").mean() if crit.any() else np.nan,
            )
        )
    folds = np.array(per_fold)
    RESULTS[name] = folds
    paired = ""
    if name != "baseline" and "baseline" in RESULTS:
        d = (folds - RESULTS["baseline"]) * 100
        paired = (
            f"   vs baseline, paired over folds: category {np.mean(d[:, 0]):+.1f} ± {np.std(d[:, 0]):.1f}, "
            f"priority {np.mean(d[:, 1]):+.1f} ± {np.std(d[:, 1]):.1f}"
        )
    mean, std = np.nanmean(folds, axis=0) * 100, np.nanstd(folds, axis=0) * 100
    crit = pri_truth == "critical"
    pooled = (
        (cat_pred == cat_truth).mean() * 100,
        (pri_pred == pri_truth).mean() * 100,
        (pri_pred[crit] == "critical").mean() * 100,
    )
    print(
        f"{name:<18} category {mean[0]:5.1f} ± {std[0]:3.1f}  priority {mean[1]:5.1f} ± {std[1]:3.1f}  "
        f"critical {mean[2]:5.1f} ± {std[2]:3.1f}   pooled {pooled[0]:.1f} / {pooled[1]:.1f} / "
        f"{pooled[2]:.1f}   folds cat "
        + " ".join(f"{v * 100:.1f}" for v in folds[:, 0])
        + f"  ({time.perf_counter() - t0:.0f} s)"
        + paired,
        flush=True,
    )


def main(names: list[str], seed: int = 0) -> None:
    messages = corpus.load_jsonl(corpus.TRAIN_FILE)
    examples = [m.example for m in messages]
    split, how = classifier.folds_for(examples, [m.source or "?" for m in messages], folds=5, seed=seed)
    texts = [
        classifier.model_text(e.subject, e.body, customer_tier=e.customer_tier, vip=e.vip, mask_details=False)
        for e in examples
    ]
    print(f"{len(messages)} training messages; {how}")
    names = names or list(VARIANTS)
    if names[0] != "baseline":
        names = ["baseline", *names]
    for name in names:
        score(name, VARIANTS[name], messages, texts, split)


if __name__ == "__main__":
    args = sys.argv[1:]
    seed = int(args.pop(0).split("=")[1]) if args and args[0].startswith("--seed=") else 0
    main(args, seed)
