"""Model selection for learned triage: cross-validation on the TRAINING corpus only, grouped by source.

Each of 5 folds holds out whole `source` tags (industries; `classifier.folds_for`, stratified on
category), so a fold's model is scored on customers whose
wording it never saw — closer to a new team's mail than a random split. The evaluation split
(`corpus/eval.jsonl`) is never read here.

    .venv/bin/python bench/triage_selection.py                      # shipped Params() vs a flat priority head
    .venv/bin/python bench/triage_selection.py '{"c": 3.0}' '{"priority_model": "flat"}'

For each variant: category and priority accuracy (priority by the plain argmax), critical recall by the
argmax, and the out-of-fold P(critical) table used to choose `critical_threshold` and
`review_critical_at`: the share of critical messages and of the others at or above each threshold, and the
priority accuracy if everything at or above it were called critical. Not a `make bench` module (no `run()`).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from casework.triage import classifier, corpus, evaluation, impact
from casework.triage.decision import decide
from casework.triage.default_rules import DEFAULT_RULES, GIVES_WAY_TO_MODEL
from casework.triage.engine import rules_from_dicts

# The "needs human triage" confidence: the model alone decides a field at or above it.
CONFIDENCES = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


def grouped_cv(messages: list[corpus.LabelledMessage], params: classifier.Params, folds: int = 5) -> dict:
    """Out-of-fold predictions of `params` (folds grouped by source), scored three ways: the plain argmax
    of each head, the P(critical) thresholds, and the whole decision as the app makes it (`decide` with the
    shipped rules) under each way of combining rules and model in `COMBINATIONS`."""
    n = len(messages)
    category = np.empty(n, dtype=object)
    priority = np.empty(n, dtype=object)
    p_critical = np.zeros(n)
    confidence = {"category": np.zeros(n), "priority": np.zeros(n)}
    applied = {"category": np.empty(n, dtype=object), "priority": np.empty(n, dtype=object)}
    cues = np.zeros(n, dtype=bool)
    predictions: list = [None] * n
    groups = [m.source or "?" for m in messages]
    split, how = classifier.folds_for([m.example for m in messages], groups, folds=folds)
    for train_idx, test_idx in split:
        model = classifier.fit([messages[i].example for i in train_idx], params)
        for i in test_idx:
            e = messages[i].example
            p = model.predict(e.subject, e.body, customer_tier=e.customer_tier, vip=e.vip)
            predictions[i] = p
            # The plain argmax (no critical-first rule, no review band) for the accuracy figures.
            category[i] = p.category.label
            priority[i] = max(p.priority.ranked, key=lambda kv: kv[1])[0]
            p_critical[i] = p.critical_probability or 0.0
            for name in confidence:
                confidence[name][i] = p.head(name).confidence
                applied[name][i] = p.head(name).label
            cues[i] = bool(impact.critical_cues(p.signals))
    truth_cat = np.array([m.example.category for m in messages], dtype=object)
    truth_pri = np.array([m.example.priority for m in messages], dtype=object)
    critical = truth_pri == "critical"
    table = []
    for t in THRESHOLDS:
        called = np.where(p_critical >= t, "critical", priority)
        table.append(
            {
                "threshold": t,
                "critical_share": round(float((p_critical[critical] >= t).mean()), 4),
                "others_share": round(float((p_critical[~critical] >= t).mean()), 4),
                "others_with_impact_cue_below": round(float((cues & (p_critical < t))[~critical].mean()), 4),
                "critical_with_impact_cue_below": round(float((cues & (p_critical < t))[critical].mean()), 4),
                "priority_accuracy_if_applied": round(float((called == truth_pri).mean()), 4),
            }
        )
    coverage = {}
    for name, truth in (("category", truth_cat), ("priority", truth_pri)):
        rows = []
        for t in CONFIDENCES:
            kept = confidence[name] >= t
            right = applied[name][kept] == truth[kept]
            rows.append(
                (t, round(float(kept.mean()), 4), round(float(right.mean()) if kept.any() else 0.0, 4))
            )
        coverage[name] = rows
    return {
        "n": n,
        "split": how,
        "coverage": coverage,
        "category_accuracy": round(float((category == truth_cat).mean()), 4),
        "priority_accuracy": round(float((priority == truth_pri).mean()), 4),
        "critical_recall_argmax": round(float((priority[critical] == "critical").mean()), 4),
        "p_critical_table": table,
        "as_the_app_decides": {
            name: combined(messages, predictions, **options) for name, options in COMBINATIONS.items()
        },
    }


# Ways of combining the shipped rules and the model, scored on the same out-of-fold predictions.
COMBINATIONS = {
    "keyword rule settles an unsure field": {"agree_top": 0},
    "keyword rule settles it if among the model's top 2": {"agree_top": 2},
    "keyword rule settles it if the model's top guess": {"agree_top": 1},
    "top 2, without the impact safety net": {"agree_top": 2, "on_impact": False},
    # The "needs human triage" confidence (CASEWORK_TRIAGE_CONFIDENCE) once the category head is recalibrated.
    "top 2, confidence 0.4": {"agree_top": 2, "threshold": 0.4},
    "top 2, confidence 0.6": {"agree_top": 2, "threshold": 0.6},
    "top 2, confidence 0.7": {"agree_top": 2, "threshold": 0.7},
}


def combined(
    messages, predictions, *, agree_top: int, on_impact: bool = True, threshold: float = 0.5
) -> dict:
    rules = rules_from_dicts([r for r in DEFAULT_RULES if r["trigger"] == "case_opened"])
    fallback = frozenset(GIVES_WAY_TO_MODEL)
    right = {"category": 0, "priority": 0}
    decided_right = {"category": 0, "priority": 0}
    decided = {"category": 0, "priority": 0}
    unsure_cases = 0
    fate = {"decided_critical": 0, "to_a_person": 0, "decided_lower": 0}
    others = {"decided_critical": 0, "possible_critical_to_a_person": 0}
    for message, prediction in zip(messages, predictions, strict=True):
        prediction = dataclasses.replace(
            prediction, review_on_impact=on_impact and prediction.review_on_impact
        )
        d = decide(
            rules,
            evaluation.facts_for(message),
            prediction,
            threshold=threshold,
            fallback=fallback,
            agree_top=agree_top,
        )
        unsure_cases += bool(d.unsure)
        for name in ("category", "priority"):
            ok = d.guess(name) == getattr(message.example, name)
            right[name] += ok
            if name not in d.unsure:
                decided[name] += 1
                decided_right[name] += ok
        is_critical = message.example.priority == "critical"
        if is_critical:
            if "priority" in d.unsure:
                fate["to_a_person"] += 1
            elif d.values.get("priority") == "critical":
                fate["decided_critical"] += 1
            else:
                fate["decided_lower"] += 1
        else:
            others["decided_critical"] += d.values.get("priority") == "critical"
            others["possible_critical_to_a_person"] += prediction.possible_critical and "priority" in d.unsure
    n = len(messages)
    return {
        "category": round(right["category"] / n, 4),
        "priority": round(right["priority"] / n, 4),
        "category_decided_right": round(decided_right["category"] / max(1, decided["category"]), 4),
        "priority_decided_right": round(decided_right["priority"] / max(1, decided["priority"]), 4),
        "needs_human_triage": unsure_cases,
        "critical": fate,
        "non_critical": others,
    }


def main(argv: list[str]) -> None:
    messages = corpus.load_jsonl(corpus.TRAIN_FILE)
    variants = [json.loads(a) for a in argv] or [{}]
    for overrides in variants:
        params = dataclasses.replace(classifier.Params(), **overrides)
        t0 = time.perf_counter()
        result = grouped_cv(messages, params)
        seconds = time.perf_counter() - t0
        print(
            f"{overrides or 'Params()'} ({seconds:.0f} s): category {result['category_accuracy']:.3f}, "
            f"priority {result['priority_accuracy']:.3f}, "
            f"critical recall {result['critical_recall_argmax']:.3f}"
        )
        for name, figures in result["as_the_app_decides"].items():
            print(f"  as the app decides, {name}: {figures}")
        for name, rows in result["coverage"].items():
            print(
                f"  model alone, {name} confidence ≥ t: coverage / accuracy where decided: "
                + ", ".join(f"{t:.1f}: {cov:.1%} / {acc:.1%}" for t, cov, acc in rows)
            )
        for row in result["p_critical_table"]:
            applied = row["priority_accuracy_if_applied"]
            print(
                f"  P(critical) ≥ {row['threshold']:.2f}: critical {row['critical_share']:.1%}, "
                f"others {row['others_share']:.1%}, priority accuracy if applied {applied:.1%}; below it "
                f"with a critical impact cue: critical {row['critical_with_impact_cue_below']:.1%}, others "
                f"{row['others_with_impact_cue_below']:.1%}"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
