"""Model selection for learned triage: cross-validation on the TRAINING corpus only, grouped by source.

Each of 5 folds holds out whole `source` tags (industries), so a fold's model is scored on customers whose
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
from sklearn.model_selection import GroupKFold

from casework.triage import classifier, corpus

THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


def grouped_cv(messages: list[corpus.LabelledMessage], params: classifier.Params, folds: int = 5) -> dict:
    # Score the plain argmax: no critical-first rule and no review band while measuring.
    params = dataclasses.replace(params, critical_threshold=1.1, review_critical_at=1.1)
    n = len(messages)
    category = np.empty(n, dtype=object)
    priority = np.empty(n, dtype=object)
    p_critical = np.zeros(n)
    groups = [m.source or "?" for m in messages]
    for train_idx, test_idx in GroupKFold(folds).split(np.zeros(n), groups=groups):
        model = classifier.fit([messages[i].example for i in train_idx], params)
        for i in test_idx:
            e = messages[i].example
            p = model.predict(e.subject, e.body, customer_tier=e.customer_tier, vip=e.vip)
            category[i], priority[i] = p.category.label, p.priority.label
            p_critical[i] = p.critical_probability or 0.0
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
                "priority_accuracy_if_applied": round(float((called == truth_pri).mean()), 4),
            }
        )
    return {
        "n": n,
        "category_accuracy": round(float((category == truth_cat).mean()), 4),
        "priority_accuracy": round(float((priority == truth_pri).mean()), 4),
        "critical_recall_argmax": round(float((priority[critical] == "critical").mean()), 4),
        "p_critical_table": table,
    }


def main(argv: list[str]) -> None:
    messages = corpus.load_jsonl(corpus.TRAIN_FILE)
    variants = [json.loads(a) for a in argv] or [{}, {"priority_model": "flat"}]
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
        for row in result["p_critical_table"]:
            applied = row["priority_accuracy_if_applied"]
            print(
                f"  P(critical) ≥ {row['threshold']:.2f}: critical {row['critical_share']:.1%}, "
                f"others {row['others_share']:.1%}, priority accuracy if applied {applied:.1%}"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
