"""Scores the default rules against hand-labelled customer messages.

The labels follow ``PRIORITY_CRITERIA`` and the playbook (enterprise/VIP → at least high) and were written
before the rules; a miss here means the rules are wrong, not the label.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from casework.triage import sentiment
from casework.triage.conditions import CATEGORIES, CUSTOMER_TIERS, PRIORITIES
from casework.triage.default_rules import DEFAULT_FACTS, DEFAULT_RULES
from casework.triage.engine import rules_from_dicts, simulate

DATA = Path(__file__).parent / "data" / "labelled_messages.jsonl"


def load() -> list[dict[str, Any]]:
    with DATA.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def triage(message: dict[str, Any]) -> dict[str, Any]:
    mood = sentiment.score(message["body"])
    facts = {
        **DEFAULT_FACTS,
        "subject": message["subject"],
        "body": message["body"],
        "customer_tier": message["customer_tier"],
        "vip": message["vip"],
        "channel": "email",
        "sentiment": mood,
        "frustrated": sentiment.is_frustrated(mood),
    }
    final, outcomes = simulate(RULES, "case_opened", facts)
    assert not [o.error for o in outcomes if o.error]
    return final


RULES = rules_from_dicts(DEFAULT_RULES)


def test_labelled_set_is_well_formed() -> None:
    messages = load()
    assert len(messages) >= 70
    for m in messages:
        assert set(m) == {"subject", "body", "customer_tier", "vip", "expected_category", "expected_priority"}
        assert m["expected_category"] in CATEGORIES
        assert m["expected_priority"] in PRIORITIES
        assert m["customer_tier"] in CUSTOMER_TIERS
        assert isinstance(m["vip"], bool)
    assert {m["expected_category"] for m in messages} == set(CATEGORIES)


def test_default_rules_score_on_labelled_set(capsys: pytest.CaptureFixture[str]) -> None:
    messages = load()
    category_hits = priority_hits = critical_total = critical_hits = 0
    misses = []
    for m in messages:
        final = triage(m)
        category_ok = final["category"] == m["expected_category"]
        priority_ok = final["priority"] == m["expected_priority"]
        category_hits += category_ok
        priority_hits += priority_ok
        if m["expected_priority"] == "critical":
            critical_total += 1
            critical_hits += final["priority"] == "critical"
        if not (category_ok and priority_ok):
            misses.append(
                f"  {m['subject'][:45]!r}: got {final['category']}/{final['priority']}, "
                f"expected {m['expected_category']}/{m['expected_priority']}"
            )
    category_accuracy = category_hits / len(messages)
    priority_accuracy = priority_hits / len(messages)
    critical_recall = critical_hits / critical_total
    with capsys.disabled():
        print(
            f"\nlabelled set: n={len(messages)} category accuracy {category_accuracy:.1%}, "
            f"priority accuracy {priority_accuracy:.1%}, critical recall {critical_recall:.0%} "
            f"({critical_hits}/{critical_total})"
        )
        print("\n".join(misses))
    assert category_accuracy >= 0.90
    assert priority_accuracy >= 0.85
    assert critical_recall == 1.0
