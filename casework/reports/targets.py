"""The playbook targets (seed 004) and how a figure is judged against one: pure, no database.

Green meets the target; amber misses it by at most a tenth of the target (a warning to act before it
turns red); red misses it by more. A figure with no data is grey — never green by default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    label: str  # what the manager reads: "≥ 70 %", "< 1 h"
    value: float
    higher_is_better: bool
    # Strict targets ("< 1 h", "> 95 %") are missed by a figure equal to the value; "≥ 70 %" is met by it.
    inclusive: bool = False

    def status(self, figure: float | None) -> str:
        if figure is None:
            return "none"
        if self.higher_is_better:
            met = figure >= self.value if self.inclusive else figure > self.value
            near = figure >= self.value * 0.9
        else:
            met = figure <= self.value if self.inclusive else figure < self.value
            near = figure <= self.value * 1.1
        if met:
            return "good"
        return "warn" if near else "bad"


TIER1_RESOLUTION = Target("≥ 70 %", 70.0, higher_is_better=True, inclusive=True)
FIRST_RESPONSE = Target("< 1 h", 3600.0, higher_is_better=False)
RESOLUTION = Target("< 24 h", 24 * 3600.0, higher_is_better=False)
SLA_COMPLIANCE = Target("> 95 %", 95.0, higher_is_better=True)
CSAT = Target("> 4.5", 4.5, higher_is_better=True)
# Live counts: anything at risk is a warning, anything breached is a miss.
NOTHING_BREACHED = Target("0", 0.0, higher_is_better=False, inclusive=True)


def live_status(count: int | None, *, breach: bool) -> str:
    if count is None:
        return "none"
    if count == 0:
        return "good"
    return "bad" if breach else "warn"
