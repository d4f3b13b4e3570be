"""Triage engine latency: 50 rules (the defaults plus generated variants) on a 5 KB customer message.

Each run uses a fresh message string (a counter appended), so the per-text normalisation cache cannot hide
the cost of case-folding and scanning the message. Run: ``.venv/bin/python bench/bench_triage.py``.
"""

from __future__ import annotations

import copy
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from casework.triage import sentiment
from casework.triage.default_rules import DEFAULT_FACTS, DEFAULT_RULES
from casework.triage.engine import RuleSpec, rules_from_dicts, simulate

RULE_COUNT = 50
RUNS = 2_000
TARGET_P95_MS = 2.0

_PARAGRAPH = (
    "Hi team, since this morning the export page shows an error when I try to download last month's report. "
    "I tried Chrome and Firefox, cleared the cache and logged out and in again, nothing helps. Our finance "
    "people need the numbers by Friday and I can't find another way to get them out of the system. "
    "We're on the business plan, account 4411. Could you have a look? It worked fine last week. "
)
_SIGNATURE = "\n\n--\nJordan Blake\nOperations Lead, Harbour Freight Ltd\n+44 161 496 0000\n"


def make_message(size: int = 5_000) -> str:
    body = (_PARAGRAPH * (size // len(_PARAGRAPH) + 1))[: size - len(_SIGNATURE)]
    return body + _SIGNATURE


def make_rules(count: int = RULE_COUNT) -> list[RuleSpec]:
    """Defaults plus variants whose phrase lists carry extra words, so every rule compiles its own regexes."""
    base = [d for d in DEFAULT_RULES if d["trigger"] == "case_opened"]
    definitions = list(base)
    n = 0
    while len(definitions) < count:
        template = copy.deepcopy(base[n % len(base)])
        n += 1
        template["key"] = f"{template['key']}-variant-{n}"
        template["order"] = 1_000 + n
        _add_words(template["conditions"], [f"variantword{n}", f"another phrase {n}"])
        definitions.append(template)
    return rules_from_dicts(definitions)


def _add_words(node: Any, words: list[str]) -> None:
    if isinstance(node, dict):
        if node.get("op") == "contains_any" and node.get("field") != "tags":
            node["value"] = [*node["value"], *words]
        for child in node.get("all", []) + node.get("any", []):
            _add_words(child, words)
        if "not" in node:
            _add_words(node["not"], words)


def _percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def run(runs: int = RUNS) -> dict[str, Any]:
    started = time.perf_counter()
    rules = make_rules()
    for rule in rules:
        rule.validate()  # compiles and caches, as the service does once per rule version
    compile_ms = (time.perf_counter() - started) * 1000

    message = make_message()
    facts = {**DEFAULT_FACTS, "subject": "Export page error", "customer_tier": "business", "vip": False}
    for i in range(50):  # warm-up
        simulate(rules, "case_opened", {**facts, "body": f"{message}{i}"})

    samples = []
    matched_counts = []
    for i in range(runs):
        run_facts = {**facts, "body": f"{message}#{i}"}
        t0 = time.perf_counter()
        _, outcomes = simulate(rules, "case_opened", run_facts)
        samples.append((time.perf_counter() - t0) * 1000)
        matched_counts.append(len(outcomes))

    sentiment_samples = []
    for i in range(200):
        t0 = time.perf_counter()
        sentiment.score(f"{message}{i}")
        sentiment_samples.append((time.perf_counter() - t0) * 1000)

    p95 = _percentile(samples, 95)
    return {
        "benchmark": "triage_rules",
        "rules": len(rules),
        "message_bytes": len(message.encode()),
        "runs": runs,
        "matched_rules_per_run": statistics.mean(matched_counts),
        "compile_all_rules_ms": round(compile_ms, 2),
        "p50_ms": round(_percentile(samples, 50), 4),
        "p95_ms": round(p95, 4),
        "max_ms": round(max(samples), 4),
        "target_p95_ms": TARGET_P95_MS,
        "meets_target": p95 < TARGET_P95_MS,
        "sentiment_p50_ms": round(_percentile(sentiment_samples, 50), 3),
        "sentiment_p95_ms": round(_percentile(sentiment_samples, 95), 3),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
