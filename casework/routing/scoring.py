"""Who should take this case: a pure, explainable ranking of agents (no Django, no database).

Inputs are plain values gathered by `routing.services`: each `Candidate` (skills with levels, open cases
and their priority-weighted load, capacity, last assignment, tier, seniority, availability) and the case's
`CaseNeeds` (skills wanted, with weights, priority, VIP/enterprise, tier). `rank()` returns every
candidate either ranked with a score breakdown or excluded with a reason, and a sentence for the timeline.

Hard rules (never broken, whatever the weights):
  * an unavailable agent (away, out of office, inactive) is never chosen;
  * an agent with `open_cases >= capacity` is never chosen;
  * an agent below the case's tier is never chosen (an L1 agent does not take an L2 case).

Score (each part in [0, 1], higher is better):
    score = 0.55·skills + 0.35·free_capacity + 0.10·fairness  (+ 0.20·seniority on VIP/enterprise cases)
  * skills: weighted mean of the agent's level in each wanted skill (0 when they lack it); 1 when the case
    wants no particular skill, so it never separates anyone.
  * free_capacity: 1 - weighted_load / capacity, where open cases count critical 4, high 2, medium 1,
    low 0.5 (a critical case is four medium ones' worth of attention); clamped to [0, 1].
  * fairness: minutes since the agent's last assignment / 240, capped at 1 (never assigned = 1). Four
    hours without a case makes anyone "fully rested"; within that window the least recently assigned
    agent wins among equals, so equal candidates rotate.
  * seniority: 0 (new L1) .. 1 (long-serving L3), only for VIP/enterprise customers.

Why these weights — skills beat load only within bounds: a skill gap Δs outweighs a load gap Δl when
0.55·Δs > 0.35·Δl, i.e. Δl < 1.57·Δs. A small skill gap (expert 1.0 vs good 0.8, Δs = 0.2) wins only
while the load gap stays under 31 % of capacity (3 medium cases of 10); a bigger load gap wins.
A missing skill (Δs = 1) outweighs any load gap: an idle agent who does not know billing still loses a
billing case to a busy expert who has room. Fairness (at most 0.10) only separates near-equals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

W_SKILLS = 0.55
W_LOAD = 0.35
W_FAIRNESS = 0.10
W_SENIORITY = 0.20
FAIRNESS_HORIZON_MINUTES = 240.0
PRIORITY_LOAD: dict[str, float] = {"critical": 4.0, "high": 2.0, "medium": 1.0, "low": 0.5}

SKILLS_LOAD = "skills_load"
ROUND_ROBIN = "round_robin"
MANUAL = "manual"


def weighted_load(open_by_priority: Mapping[str, int]) -> float:
    """Open cases weighted by priority (unknown priorities count as medium)."""
    return sum(PRIORITY_LOAD.get(priority, 1.0) * count for priority, count in open_by_priority.items())


@dataclass(frozen=True)
class Candidate:
    id: int
    name: str
    skills: Mapping[str, float] = field(default_factory=dict)
    open_cases: int = 0
    load: float = 0.0
    capacity: int = 20
    last_assigned_at: datetime | None = None
    tier: int = 1
    seniority: float = 0.0
    available: bool = True
    unavailable_reason: str = ""


@dataclass(frozen=True)
class CaseNeeds:
    skills: Mapping[str, float] = field(default_factory=dict)
    priority: str = "medium"
    vip: bool = False
    enterprise: bool = False
    tier: int = 1

    @property
    def wants_senior(self) -> bool:
        return self.vip or self.enterprise


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    score: float
    parts: dict[str, float]
    skill_levels: dict[str, float]

    def as_dict(self) -> dict:
        c = self.candidate
        return {
            "agent": c.name,
            "agent_id": c.id,
            "score": round(self.score, 4),
            "parts": {k: round(v, 4) for k, v in self.parts.items()},
            "skills": {k: round(v, 2) for k, v in self.skill_levels.items()},
            "open_cases": c.open_cases,
            "load": round(c.load, 2),
            "capacity": c.capacity,
            "last_assigned_at": c.last_assigned_at.isoformat() if c.last_assigned_at else None,
        }


@dataclass(frozen=True)
class Excluded:
    candidate: Candidate
    reason: str

    def as_dict(self) -> dict:
        return {"agent": self.candidate.name, "agent_id": self.candidate.id, "reason": self.reason}


@dataclass(frozen=True)
class Ranking:
    mode: str
    ranked: list[Scored]
    excluded: list[Excluded]
    now: datetime

    @property
    def chosen(self) -> Scored | None:
        return self.ranked[0] if self.ranked else None

    def explain(self, scored: Scored | None = None) -> str:
        """One sentence for the timeline: who and why, then the runners-up."""
        scored = scored or self.chosen
        if scored is None:
            why = "; ".join(f"{e.candidate.name} {e.reason}" for e in self.excluded) or "nobody in the team"
            return f"no agent available ({why})"
        text = f"assigned to {scored.candidate.name}: {describe(scored, self.now, mode=self.mode)}"
        others = [s for s in self.ranked if s is not scored][:2]
        if others:
            text += "; runners-up " + ", ".join(
                f"{s.candidate.name} {s.score:.2f} ({describe(s, self.now, mode=self.mode)})" for s in others
            )
        return text

    def top(self, n: int = 3) -> list[dict]:
        return [s.as_dict() for s in self.ranked[:n]]


def describe(scored: Scored, now: datetime, *, mode: str = SKILLS_LOAD) -> str:
    c = scored.candidate
    bits = []
    if mode != ROUND_ROBIN and scored.skill_levels:
        bits.append("skills " + ", ".join(f"{k} {v:.1f}" for k, v in scored.skill_levels.items()))
    bits.append(f"load {c.open_cases}/{c.capacity}")
    bits.append(f"last assigned {ago(c.last_assigned_at, now)}")
    if "seniority" in scored.parts:
        bits.append(f"seniority {c.seniority:.1f} (L{c.tier})")
    return ", ".join(bits)


def ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    minutes = max(0.0, (now - when).total_seconds() / 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{int(minutes)} min ago"
    if minutes < 48 * 60:
        return f"{int(minutes // 60)} h ago"
    return f"{int(minutes // 1440)} d ago"


def exclusion_reason(candidate: Candidate, needs: CaseNeeds) -> str | None:
    if not candidate.available:
        return candidate.unavailable_reason or "is unavailable"
    if candidate.capacity <= 0 or candidate.open_cases >= candidate.capacity:
        return f"is at capacity ({candidate.open_cases}/{candidate.capacity})"
    if candidate.tier < needs.tier:
        return f"is L{candidate.tier}, the case needs L{needs.tier}"
    return None


def skill_match(candidate: Candidate, needs: CaseNeeds) -> tuple[float, dict[str, float]]:
    wanted = {k: w for k, w in needs.skills.items() if w > 0}
    if not wanted:
        return 1.0, {}
    levels = {k: _clamp(candidate.skills.get(k, 0.0)) for k in sorted(wanted)}
    total = sum(wanted.values())
    return sum(levels[k] * wanted[k] for k in wanted) / total, levels


def fairness(last_assigned_at: datetime | None, now: datetime) -> float:
    if last_assigned_at is None:
        return 1.0
    minutes = (now - last_assigned_at).total_seconds() / 60
    return _clamp(minutes / FAIRNESS_HORIZON_MINUTES)


def score(candidate: Candidate, needs: CaseNeeds, now: datetime) -> Scored:
    skills, levels = skill_match(candidate, needs)
    free = _clamp(1 - candidate.load / candidate.capacity) if candidate.capacity > 0 else 0.0
    parts = {
        "skills": W_SKILLS * skills,
        "load": W_LOAD * free,
        "fairness": W_FAIRNESS * fairness(candidate.last_assigned_at, now),
    }
    if needs.wants_senior:
        parts["seniority"] = W_SENIORITY * _clamp(candidate.seniority)
    return Scored(candidate=candidate, score=sum(parts.values()), parts=parts, skill_levels=levels)


def _never_first(when: datetime | None) -> tuple[int, float]:
    return (0, 0.0) if when is None else (1, when.timestamp())


def rank(
    candidates: Iterable[Candidate], needs: CaseNeeds, *, now: datetime, mode: str = SKILLS_LOAD
) -> Ranking:
    """Rank eligible candidates best first; the order never depends on the input order.

    skills_load: by score (rounded to 1e-9 so float noise cannot split equals), then least recently
    assigned, then id. round_robin: least recently assigned (never assigned first), then id — skills and
    load are ignored beyond the hard rules. manual: nobody is chosen; everyone is listed as excluded."""
    pool: Sequence[Candidate] = sorted(candidates, key=lambda c: c.id)
    excluded: list[Excluded] = []
    eligible: list[Scored] = []
    for candidate in pool:
        if mode == MANUAL:
            excluded.append(Excluded(candidate, "not chosen: the team assigns by hand"))
            continue
        reason = exclusion_reason(candidate, needs)
        if reason:
            excluded.append(Excluded(candidate, reason))
        else:
            eligible.append(score(candidate, needs, now))
    if mode == ROUND_ROBIN:
        eligible.sort(key=lambda s: (_never_first(s.candidate.last_assigned_at), s.candidate.id))
    else:
        eligible.sort(
            key=lambda s: (-round(s.score, 9), _never_first(s.candidate.last_assigned_at), s.candidate.id)
        )
    return Ranking(mode=mode, ranked=eligible, excluded=excluded, now=now)


def _clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return max(low, min(high, value))
