"""Insights: duplicate detection quality on real labelled reports, and the cost of ranking and clustering.

1. Quality on the Apache Hadoop bug reports in ``../shared/data/bugreports/hadoop/`` (2,503 reports, the
   labelled duplicate pairs; read where they lie). The duplicate groups are split in two by a hash of
   their smallest id (`insights.evaluation`): thresholds are chosen on the *tune* half, figures reported
   on the *test* half (and both, for the size of the noise). Retrieval: recall@1/@5/@10 of a labelled
   partner among all other reports. Detection at the shipped `CASEWORK_DUPLICATE_THRESHOLD` and at the
   threshold the tune half picks for precision ≥ 0.6: precision/recall over the duplicate reports and
   the false-alarm rate over the others.
2. Latency of one duplicate ranking (`similarity.rank`) of a report against a candidate pool of the
   production size (`DUPLICATE_POOL`, 200), p50/p95 over 50 queries.
3. One clustering run: 500 new cases against 3,000 clustered ones (`similarity.assign_clusters`).

Run: ``.venv/bin/python bench/bench_insights.py`` (prints the report); `make bench` runs it too.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casework.settings")

SHIPPED_THRESHOLD = 0.35


def quality() -> dict:
    from casework.insights import evaluation as ev

    data = ev.load()
    started = time.perf_counter()
    scored = ev.score_all(data)
    elapsed = time.perf_counter() - started
    parts = ev.split(data, scored)
    out: dict = {"reports": len(data.docs), "duplicate_reports": len(data.partners), "score_all_s": elapsed}
    for name, part in (("tune", parts["tune"]), ("test", parts["test"]), ("all", scored)):
        out[name] = {
            "duplicates": sum(1 for s in part if s.is_duplicate),
            "others": sum(1 for s in part if not s.is_duplicate),
            **{f"recall@{k}": round(ev.recall_at(part, k), 3) for k in (1, 5, 10)},
        }
    chosen = ev.best_threshold(parts["tune"], min_precision=0.6)
    for label, threshold in (("shipped", SHIPPED_THRESHOLD), ("tuned_p60", chosen)):
        row = {"threshold": threshold}
        for name in ("tune", "test"):
            precision, recall, alarms = ev.detection(parts[name], threshold)
            row[name] = {
                "precision": round(precision, 3),
                "recall": round(recall, 3),
                "false_alarms": round(alarms, 3),
            }
        out[f"detection_{label}"] = row
    return out


def latency(n: int = 50, pool: int = 200) -> dict:
    from casework.insights import evaluation as ev
    from casework.insights.similarity import rank

    data = ev.load()
    rng = random.Random(7)
    times = []
    for _ in range(n):
        sample = rng.sample(data.docs, pool + 1)
        started = time.perf_counter()
        rank(sample[0], sample[1:], limit=3)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "pool": pool,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * len(times)) - 1], 1),
    }


def clustering(new: int = 500, clustered: int = 3000) -> dict:
    from casework.insights import evaluation as ev
    from casework.insights.similarity import Doc, assign_clusters

    data = ev.load()
    docs = data.docs
    while len(docs) < new + clustered:
        docs = docs + [Doc(f"{d.key}-{len(docs)}", d.subject, d.body) for d in data.docs]
    old = [(d, i % 400) for i, d in enumerate(docs[:clustered])]
    started = time.perf_counter()
    result = assign_clusters(old, docs[clustered : clustered + new], threshold=SHIPPED_THRESHOLD)
    seconds = time.perf_counter() - started
    return {
        "new": new,
        "clustered": clustered,
        "seconds": round(seconds, 2),
        "joined": sum(1 for a in result if a.matched is not None),
    }


def run() -> dict:
    return {"quality": quality(), "latency": latency(), "clustering": clustering()}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
