"""Latency of learned triage per message, with the model loaded: classification alone and the whole triage.

Trains the shipped model once (`classifier.Params()` on ``casework/triage/corpus/train.jsonl``), then times,
per message, over the subjects and bodies of both corpus files (texts only; no label is read) and a 5 KB
mail:

* ``classify`` — `TriageModel.predict`: impact signals, TF-IDF, the category, priority (ordinal) and tone
  heads, top terms;
* ``triage`` — what the application computes for one new case once the model is in memory: the
  prediction, the shipped `case_opened` rules, `decision.decide` and the sentiment score.

Each figure is nearest-rank p50/p95/p99 of wall time and of this thread's CPU time: on a shared 2-core
machine a preempted run inflates the wall time of anything, so both are recorded. Goal: p95 < 5 ms.

Run: ``.venv/bin/python bench/bench_triage_latency.py [--out FILE]`` (prints the JSON, with the machine);
`make bench` runs it as a micro-benchmark (`run()`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

TARGET_P95_MS = 5.0
ROUNDS = 3


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def _measure(fn: Callable[[str, str], Any], messages: list[tuple[str, str]], rounds: int) -> dict[str, Any]:
    for subject, body in messages[:20]:
        fn(subject, body)  # warm-up
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(rounds):
        for subject, body in messages:
            t, c = time.perf_counter(), time.thread_time()
            fn(subject, body)
            wall.append((time.perf_counter() - t) * 1000)
            cpu.append((time.thread_time() - c) * 1000)
    return {
        "n": len(wall),
        "p50_ms": _pct(wall, 0.5),
        "p95_ms": _pct(wall, 0.95),
        "p99_ms": _pct(wall, 0.99),
        "mean_ms": round(statistics.fmean(wall), 3),
        "cpu_p50_ms": _pct(cpu, 0.5),
        "cpu_p95_ms": _pct(cpu, 0.95),
        "cpu_p99_ms": _pct(cpu, 0.99),
    }


def run(rounds: int = ROUNDS) -> dict[str, Any]:
    from bench_triage import make_message

    from casework.triage import classifier, corpus, evaluation, sentiment
    from casework.triage.decision import decide
    from casework.triage.default_rules import DEFAULT_RULES, GIVES_WAY_TO_MODEL
    from casework.triage.engine import rules_from_dicts
    from casework.triage.examples import Example

    train = corpus.load_jsonl(corpus.TRAIN_FILE)
    t0 = time.perf_counter()
    model = classifier.fit([m.example for m in train], classifier.Params())
    fit_s = round(time.perf_counter() - t0, 1)
    texts = [(m.example.subject, m.example.body) for m in train]
    if corpus.EVAL_FILE.exists():
        texts += [(m.example.subject, m.example.body) for m in corpus.load_jsonl(corpus.EVAL_FILE)]
    rules = rules_from_dicts([r for r in DEFAULT_RULES if r["trigger"] == "case_opened"])
    fallback = frozenset(GIVES_WAY_TO_MODEL)

    def classify(subject: str, body: str) -> None:
        model.predict(subject, body)

    def triage(subject: str, body: str) -> None:
        prediction = model.predict(subject, body)
        facts = evaluation.facts_for(corpus.LabelledMessage(Example(subject, body)))
        decide(rules, facts, prediction, threshold=0.5, fallback=fallback)
        sentiment.assess(f"{subject}\n{body}", angry_probability=prediction.angry)

    big = make_message()
    five_kb = [("Export page error", f"{big} {i}") for i in range(300)]
    lengths = sorted(len(s) + len(b) for s, b in texts)
    result: dict[str, Any] = {
        "messages": len(texts),
        "message_chars": {"p50": lengths[len(lengths) // 2], "max": lengths[-1]},
        "rounds": rounds,
        "fit_seconds": fit_s,
        "params": classifier.Params().as_dict(),
        "classify": _measure(classify, texts, rounds),
        "classify_5kb": _measure(classify, five_kb, 1),
        "triage": _measure(triage, texts, rounds),
        "triage_5kb": _measure(triage, five_kb, 1),
        "target_p95_ms": TARGET_P95_MS,
    }
    result["meets_target"] = {
        name: result[name]["p95_ms"] < TARGET_P95_MS for name in ("classify", "classify_5kb", "triage")
    }
    return result


def summary_lines(res: dict[str, Any]) -> list[str]:
    """For bench/run.py's summary."""
    lines = [
        f"Triage latency per message, model loaded ({res['messages']} corpus messages × {res['rounds']}, "
        f"and a 5 KB mail; target p95 < {res['target_p95_ms']} ms): wall p50 / p95 (CPU p50 / p95)"
    ]
    for name, label in (
        ("classify", "classify (model)"),
        ("classify_5kb", "classify, 5 KB"),
        ("triage", "whole triage"),
        ("triage_5kb", "whole triage, 5 KB"),
    ):
        r = res[name]
        lines.append(
            f"  {label:<20} {r['p50_ms']} / {r['p95_ms']} ms ({r['cpu_p50_ms']} / {r['cpu_p95_ms']} ms)"
        )
    return lines


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="passes over the corpus messages")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    from run import loadavg, machine_info  # bench/run.py: the same machine record as `make bench`

    before = loadavg()
    result = {
        "machine": machine_info(),
        "loadavg_before": before,
        **run(args.rounds),
        "loadavg_after": loadavg(),
    }
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


if __name__ == "__main__":
    out = main()
    print(json.dumps(out, indent=2, default=str))
    print("\n".join(summary_lines(out)))
