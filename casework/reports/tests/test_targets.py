"""Judging a figure against a playbook target (pure)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casework.reports import targets


@pytest.mark.parametrize(
    ("target", "figure", "status"),
    [
        (targets.TIER1_RESOLUTION, 70.0, "good"),  # ≥ 70 %: equal meets it
        (targets.TIER1_RESOLUTION, 63.0, "warn"),  # within a tenth of the target
        (targets.TIER1_RESOLUTION, 62.9, "bad"),
        (targets.FIRST_RESPONSE, 3599.0, "good"),
        (targets.FIRST_RESPONSE, 3600.0, "warn"),  # < 1 h: exactly one hour misses it
        (targets.FIRST_RESPONSE, 3960.0, "warn"),
        (targets.FIRST_RESPONSE, 3961.0, "bad"),
        (targets.SLA_COMPLIANCE, 95.0, "warn"),  # > 95 %
        (targets.SLA_COMPLIANCE, 95.1, "good"),
        (targets.SLA_COMPLIANCE, 85.0, "bad"),
        (targets.CSAT, 4.6, "good"),
        (targets.CSAT, None, "none"),  # no data is never green
    ],
)
def test_status(target, figure, status):
    assert target.status(figure) == status


def test_live_counts():
    assert targets.live_status(0, breach=True) == "good"
    assert targets.live_status(2, breach=False) == "warn"
    assert targets.live_status(1, breach=True) == "bad"


@given(
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
def test_better_is_never_judged_worse(a, b):
    rank = {"good": 2, "warn": 1, "bad": 0}
    for target in (targets.FIRST_RESPONSE, targets.RESOLUTION):
        lo, hi = sorted((a, b))
        assert rank[target.status(lo)] >= rank[target.status(hi)]
    for target in (targets.TIER1_RESOLUTION, targets.SLA_COMPLIANCE, targets.CSAT):
        lo, hi = sorted((a, b))
        assert rank[target.status(hi)] >= rank[target.status(lo)]
