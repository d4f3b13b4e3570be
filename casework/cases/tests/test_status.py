"""The transition table, exhaustively: every (from, to) pair is either allowed by the table or refused."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casework.cases.status import (
    DONE_STATUSES,
    OPEN_STATUSES,
    TRANSITIONS,
    Status,
    allowed_targets,
    transition_for,
)

EXPECTED = {
    ("new", "triaged"),
    ("new", "in_progress"),
    ("new", "closed"),
    ("triaged", "in_progress"),
    ("triaged", "closed"),
    ("in_progress", "awaiting_client"),
    ("in_progress", "resolved"),
    ("awaiting_client", "in_progress"),
    ("awaiting_client", "resolved"),
    ("resolved", "closed"),
    ("resolved", "in_progress"),
}


@pytest.mark.parametrize("source,target", list(itertools.product(Status.values, Status.values)))
def test_every_pair_matches_the_documented_table(source, target):
    assert (transition_for(source, target) is not None) == ((source, target) in EXPECTED)


def test_closed_is_final_and_reopen_only_from_resolved():
    assert allowed_targets(Status.CLOSED) == []
    reopens = [t for t in TRANSITIONS.values() if t.is_reopen]
    assert [(t.source, t.target) for t in reopens] == [("resolved", "in_progress")]


def test_closing_without_resolution_needs_a_reason():
    assert transition_for("new", "closed").reason_required
    assert transition_for("triaged", "closed").reason_required
    assert not transition_for("resolved", "closed").reason_required


def test_open_and_done_partition_the_statuses():
    assert set(Status.values) == OPEN_STATUSES | DONE_STATUSES
    assert not OPEN_STATUSES & DONE_STATUSES


@given(st.lists(st.sampled_from(Status.values), min_size=1, max_size=30))
def test_any_walk_through_the_table_never_leaves_closed(path):
    state = Status.NEW
    for target in path:
        if transition_for(state, target):
            assert state != Status.CLOSED
            state = target
    assert state in Status.values
