"""StepBudget: the first step always runs, another only while one as long as the longest so far fits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casework.core.budget import StepBudget


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run(budget: StepBudget, clock: FakeClock, durations: list[float]) -> int:
    """Steps taken from `durations` (one per step) until the budget says stop or they run out."""
    taken = 0
    for duration in durations:
        if not budget.fits():
            break
        with budget.step():
            clock.now += duration
        taken += 1
    return taken


def test_the_first_step_always_runs_whatever_the_budget():
    clock = FakeClock()
    budget = StepBudget(0.0, clock=clock)
    assert budget.fits()
    assert run(budget, clock, [5.0, 0.1]) == 1
    assert budget.steps == 1 and budget.longest == 5.0


def test_another_step_only_while_one_as_long_as_the_longest_fits():
    clock = FakeClock()
    budget = StepBudget(1.0, clock=clock)
    # 0.3, 0.3 (0.6 spent, + 0.3 = 0.9 fits), 0.3 (0.9 + 0.3 would not): three steps.
    assert run(budget, clock, [0.3] * 10) == 3
    assert budget.elapsed() == pytest.approx(0.9)


def test_a_long_step_raises_the_bar_for_the_next():
    clock = FakeClock()
    budget = StepBudget(1.0, clock=clock)
    # After 0.1 and 0.5 (0.6 spent), another 0.5 would end at 1.1: stop, although 0.1 would fit.
    assert run(budget, clock, [0.1, 0.5, 0.1, 0.1]) == 2


def test_time_before_the_first_step_spends_the_budget():
    clock = FakeClock()
    budget = StepBudget(1.0, started=clock.now - 0.8, clock=clock)
    assert run(budget, clock, [0.3, 0.1]) == 1


def test_a_skipped_step_is_not_counted():
    clock = FakeClock()
    budget = StepBudget(0.0, clock=clock)
    with budget.step() as step:
        clock.now += 0.01
        step.skip()  # e.g. a week already kept
    assert budget.steps == 0 and budget.longest == 0.0
    assert budget.fits()  # the first real step still runs


def test_a_step_that_raises_still_spent_its_time():
    clock = FakeClock()
    budget = StepBudget(1.0, clock=clock)
    with pytest.raises(RuntimeError), budget.step():
        clock.now += 0.7
        raise RuntimeError("boom")
    assert budget.steps == 1 and not budget.fits()


def test_no_budget_never_stops():
    clock = FakeClock()
    assert run(StepBudget(None, clock=clock), clock, [10.0] * 50) == 50


@given(
    budget=st.floats(min_value=0.0, max_value=10.0),
    durations=st.lists(st.floats(min_value=0.0, max_value=3.0), min_size=1, max_size=40),
)
def test_a_run_overshoots_only_by_a_step_longer_than_every_one_before(budget, durations):
    clock = FakeClock()
    steps = StepBudget(budget, clock=clock)
    taken = run(steps, clock, durations)
    assert taken >= 1  # progress every run
    done = durations[:taken]
    surprise = max((d - max(done[:i]) for i, d in enumerate(done) if i), default=0.0)
    assert steps.elapsed() <= max(budget, done[0]) + max(0.0, surprise) + 1e-9
    if taken < len(durations):
        # It stopped only because another step as long as the longest would not have fitted.
        assert steps.elapsed() + max(done) >= budget - 1e-9
