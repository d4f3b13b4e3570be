"""Error analysis for learned triage on the TRAINING corpus only: out-of-fold confusion matrices and misses.

The same grouped 5-fold split as `bench/triage_selection.py` (`classifier.folds_for`, by `source`,
stratified on category): each message is predicted by a model that never saw its source. Prints the
category and priority confusion matrices (priority as the app applies it: critical from
`critical_threshold`, and by the plain argmax), the pairs confused most, and every misclassified message
(subject, opening of the body, truth → prediction with its probability), so the kinds of errors can be
read without looking at any held-out file. The held-out files are never read here.

    .venv/bin/python bench/triage_cv_errors.py > /tmp/cv_errors.txt
    .venv/bin/python bench/triage_cv_errors.py --sources new-tag-1,new-tag-2   # misses of those sources only

Not a `make bench` module (no `run()`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from casework.triage import classifier, corpus, sentiment
from casework.triage.examples import CATEGORIES, PRIORITIES


def out_of_fold(messages, params: classifier.Params, folds: int = 5, added=()):
    """Out-of-fold predictions of `messages`; `added` messages join every fold's training side and are never
    scored (so the folds, and the messages scored, are the same with and without them: like for like)."""
    groups = [m.source or "?" for m in messages]
    split, how = classifier.folds_for([m.example for m in messages], groups, folds=folds)
    predictions = [None] * len(messages)
    for train_idx, test_idx in split:
        examples = [messages[i].example for i in train_idx] + [m.example for m in added]
        model = classifier.fit(examples, params)
        for i in test_idx:
            e = messages[i].example
            predictions[i] = model.predict(e.subject, e.body, customer_tier=e.customer_tier, vip=e.vip)
    return predictions, how


def matrix(truth, predicted, labels, short) -> list[str]:
    counts = Counter(zip(truth, predicted, strict=True))
    head = " " * 16 + "".join(f"{s:>6}" for s in short)
    lines = [head]
    for t in labels:
        lines.append(f"{t:<16}" + "".join(f"{counts[(t, p)]:>6}" for p in labels))
    return lines


def tone(messages, predictions, at: float) -> str:
    """Angry recall / calm flagged with the tone head's probability `at` mapping to the default threshold."""
    shipped = sentiment.ANGRY_PROBABILITY_AT
    sentiment.ANGRY_PROBABILITY_AT = at
    try:
        flagged = [
            (
                m.angry,
                sentiment.assess(
                    f"{m.example.subject}\n{m.example.body}", angry_probability=p.angry
                ).frustrated_at(),
            )
            for m, p in zip(messages, predictions, strict=True)
            if m.angry is not None
        ]
    finally:
        sentiment.ANGRY_PROBABILITY_AT = shipped
    angry = [f for a, f in flagged if a]
    calm = [f for a, f in flagged if not a]
    return (
        f"p ≥ {at}: angry {sum(angry)}/{len(angry)} ({sum(angry) / max(1, len(angry)):.1%}), "
        f"calm flagged {sum(calm)}/{len(calm)} ({sum(calm) / max(1, len(calm)):.1%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sources", default="", help="comma-separated: print the misses of these only")
    parser.add_argument("--no-misses", action="store_true")
    parser.add_argument(
        "--score-first",
        type=int,
        default=0,
        help="score only the first N lines of train.jsonl; the rest join every fold's training side",
    )
    parser.add_argument("--params", default="{}", help="classifier.Params overrides as JSON")
    parser.add_argument(
        "--file", default=str(corpus.TRAIN_FILE), help="the training corpus (default: shipped)"
    )
    args = parser.parse_args()
    messages = corpus.load_jsonl(args.file)
    added = []
    if args.score_first:
        messages, added = messages[: args.score_first], messages[args.score_first :]
    params = dataclasses.replace(classifier.Params(), **json.loads(args.params))
    predictions, how = out_of_fold(messages, params, added=added)
    truth_c = [m.example.category for m in messages]
    truth_p = [m.example.priority for m in messages]
    pred_c = [p.category.label for p in predictions]
    pred_p = [p.priority.label for p in predictions]
    argmax_p = [max(p.priority.ranked, key=lambda kv: kv[1])[0] for p in predictions]
    n = len(messages)
    acc = lambda a, b: sum(x == y for x, y in zip(a, b, strict=True)) / n  # noqa: E731
    print(f"{n} training messages scored, {len(added)} more on every training side; {how}; {params}")
    print(
        f"category {acc(truth_c, pred_c):.3f}; priority argmax {acc(truth_p, argmax_p):.3f}, "
        f"critical-first {acc(truth_p, pred_p):.3f}"
    )
    print("\ncategory (rows truth)")
    print(
        "\n".join(
            matrix(
                truth_c, pred_c, CATEGORIES, ["auth", "bill", "bug", "data", "perf", "ques", "feat", "oth"]
            )
        )
    )
    levels = list(PRIORITIES)
    print("\npriority, critical-first as the model applies it (rows truth)")
    print("\n".join(matrix(truth_p, pred_p, levels, ["crit", "high", "med", "low"])))
    print("\npriority, argmax")
    print("\n".join(matrix(truth_p, argmax_p, levels, ["crit", "high", "med", "low"])))
    print("\nmost confused pairs (truth → predicted)")
    for (t, p), k in Counter((t, p) for t, p in zip(truth_c, pred_c, strict=True) if t != p).most_common(12):
        print(f"  category {t} → {p}: {k}")
    for (t, p), k in Counter((t, p) for t, p in zip(truth_p, pred_p, strict=True) if t != p).most_common(12):
        print(f"  priority {t} → {p}: {k}")
    print("\ntone, as the app flags it (sentiment.assess with the out-of-fold tone head, at -0.5)")
    print("  " + "; ".join(tone(messages, predictions, at) for at in (0.35, 0.4, 0.45, 0.5)))
    by_source = Counter(m.source for m in messages)
    wrong_source = Counter(m.source for m, t, p in zip(messages, truth_c, pred_c, strict=True) if t != p)
    print("\ncategory errors by source (worst share, ≥ 4 messages)")
    worst = sorted((wrong_source[s] / c, s) for s, c in by_source.items() if c >= 4)[::-1][:15]
    print("  " + ", ".join(f"{s} {wrong_source[s]}/{by_source[s]}" for _, s in worst))
    if args.no_misses:
        return
    only = set(filter(None, args.sources.split(",")))
    print("\nmisses")
    for m, p in zip(messages, predictions, strict=True):
        if only and m.source not in only:
            continue
        e = m.example
        cat_wrong = p.category.label != e.category
        pri_wrong = p.priority.label != e.priority
        if not (cat_wrong or pri_wrong):
            continue
        what = []
        if cat_wrong:
            what.append(f"category {e.category} → {p.category.label} ({p.category.confidence:.2f})")
        if pri_wrong:
            what.append(
                f"priority {e.priority} → {p.priority.label} ({p.priority.confidence:.2f}, "
                f"P(crit) {p.critical_probability:.2f})"
            )
        body = " ".join(e.body.split())[:260]
        print(f"- [{m.source}] {'; '.join(what)}\n    {e.subject!r}: {body}")


if __name__ == "__main__":
    main()
