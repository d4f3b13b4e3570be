"""Per-tier accountability selectors on a small fixture with exact expected numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from casework.cases import services as case_services
from casework.routing import selectors

from .helpers import agent_with

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
PERIOD = {"start": T0 - timedelta(days=1), "end": T0 + timedelta(days=1)}


def at(hours: float):
    return time_machine.travel(T0 + timedelta(hours=hours), tick=False)


def _resolve(case, actor):
    case_services.case_transition(case=case, to="in_progress", actor=actor)
    case_services.case_transition(case=case, to="resolved", actor=actor)


@pytest.fixture
def fixture_cases(teams, new_case, django_capture_on_commit_callbacks):
    ana = agent_with("ana", team=teams[1])
    ben = agent_with("ben", team=teams[1])
    with django_capture_on_commit_callbacks(execute=True):
        with at(0):
            c1, c2, c3 = new_case(), new_case(), new_case(category="billing")
            c4 = new_case(category="billing")
            case_services.case_assign(case=c1, assignee=ana, actor="test")
            case_services.case_assign(case=c2, assignee=ana, actor="test")
            case_services.case_assign(case=c3, assignee=ben, actor="test")
        with at(0.5):
            _resolve(c1, ana)  # resolved at L1
        with at(1):
            case_services.case_escalate(case=c2, to_tier=2, actor="test", reason="needs L2")
            case_services.case_escalate(case=c4, to_tier=2, actor="test", reason="needs L2")
        with at(2):
            _resolve(c3, ben)  # resolved at L1
            case_services.case_escalate(case=c4, to_tier=3, actor="test", reason="needs engineering")
        with at(3):
            _resolve(c2, "test")  # resolved at L2
    return c1, c2, c3, c4


def test_time_in_tier_per_case_and_aggregated(fixture_cases):
    c1, c2, _, c4 = fixture_cases
    now = T0 + timedelta(hours=4)
    assert selectors.time_in_tiers(c1, now=now) == {1: 1800.0}
    assert selectors.time_in_tiers(c2, now=now) == {1: 3600.0, 2: 7200.0}
    assert selectors.time_in_tiers(c4, now=now) == {1: 3600.0, 2: 3600.0, 3: 7200.0}
    assert selectors.time_in_tier_summary(**PERIOD, now=now) == [
        {"tier": 1, "cases": 4, "total_seconds": 16200.0, "average_seconds": 4050.0},
        {"tier": 2, "cases": 2, "total_seconds": 10800.0, "average_seconds": 5400.0},
        {"tier": 3, "cases": 1, "total_seconds": 7200.0, "average_seconds": 7200.0},
    ]


def test_escalation_rates(fixture_cases):
    assert selectors.escalation_rates(**PERIOD, by="tier") == {
        1: {"cases": 4, "escalated": 2, "rate": 0.5},
        2: {"cases": 2, "escalated": 1, "rate": 0.5},
        3: {"cases": 1, "escalated": 0, "rate": 0.0},
    }
    assert selectors.escalation_rates(**PERIOD, by="agent") == {
        "ana": {"cases": 2, "escalated": 1, "rate": 0.5},
        "ben": {"cases": 1, "escalated": 0, "rate": 0.0},
    }
    assert selectors.escalation_rates(**PERIOD, by="category") == {
        "billing": {"cases": 2, "escalated": 1, "rate": 0.5},
        None: {"cases": 2, "escalated": 1, "rate": 0.5},
    }
    outside = {"start": T0 + timedelta(days=2), "end": T0 + timedelta(days=3)}
    assert selectors.escalation_rates(**outside, by="tier") == {}


def test_resolved_at_tier1_share(fixture_cases):
    result = selectors.resolved_at_tier1(**PERIOD)
    assert result == {
        "resolved": 3,
        "resolved_at_tier1": 2,
        "share": pytest.approx(2 / 3),
        "target": 0.70,
        "meets_target": False,
    }
