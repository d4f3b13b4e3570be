"""A periodic job's time budget, spent in steps (batches, weeks, indexes, fit steps).

The first step of a run always happens, so every run makes progress whatever its budget; another step
starts only while one as long as the longest so far still fits, so a run ends near its budget rather
than a whole step past it. The job then returns `{"backlog": True}` and the scheduler runs it again
within seconds (see `core/scheduler.py`). Measured steps, not a guess: a step that did nothing (a week
already kept) is not counted.

    budget = StepBudget(0.5)
    while work_left and budget.fits():
        with budget.step() as step:
            if not do_one():
                step.skip()
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Step:
    counted: bool = True

    def skip(self) -> None:
        """Nothing was done in this step: neither its time nor the step itself counts."""
        self.counted = False


class StepBudget:
    def __init__(
        self,
        seconds: float | None,
        *,
        started: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`seconds`: the budget (None: no limit). `started`: when the run began on `clock`, if earlier
        than now (work before the first step spends the budget too)."""
        self.seconds = seconds
        self.clock = clock
        self.started = clock() if started is None else started
        self.longest = 0.0
        self.steps = 0

    def elapsed(self) -> float:
        return self.clock() - self.started

    def fits(self) -> bool:
        """May another step start? Always before the first one."""
        if self.seconds is None or self.steps == 0:
            return True
        return self.elapsed() + self.longest < self.seconds

    @contextmanager
    def step(self) -> Iterator[Step]:
        """Time one step (counted even when it raises: it spent the time)."""
        began = self.clock()
        step = Step()
        try:
            yield step
        finally:
            if step.counted:
                self.steps += 1
                self.longest = max(self.longest, self.clock() - began)
