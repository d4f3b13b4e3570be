"""The pure scoring engine: hard rules, the documented weight bounds, fairness rotation, seniority."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casework.routing import scoring
from casework.routing.scoring import Candidate, CaseNeeds, rank

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
BILLING = CaseNeeds(skills={"billing": 1.0})


def agent(id_: int, name: str, **kw) -> Candidate:
    kw.setdefault("capacity", 10)
    if "open_cases" in kw and "load" not in kw:
        kw["load"] = float(kw["open_cases"])
    return Candidate(id=id_, name=name, **kw)


def chosen(candidates, needs=BILLING, **kw) -> str | None:
    result = rank(candidates, needs, now=NOW, **kw).chosen
    return result.candidate.name if result else None


def test_weighted_load_counts_priorities():
    assert scoring.weighted_load({"critical": 1, "high": 1, "medium": 1, "low": 2}) == 4 + 2 + 1 + 1


def test_explanation_names_skills_load_and_last_assignment_and_runners_up():
    ana = agent(1, "Ana", skills={"billing": 1.0}, open_cases=3, last_assigned_at=NOW - timedelta(hours=2))
    ben = agent(2, "Ben", skills={"billing": 0.5}, open_cases=3)
    ranking = rank([ben, ana], BILLING, now=NOW)
    assert ranking.explain() == (
        "assigned to Ana: skills billing 1.0, load 3/10, last assigned 2 h ago; "
        f"runners-up Ben {ranking.ranked[1].score:.2f} (skills billing 0.5, load 3/10, last assigned never)"
    )
    top = ranking.top(3)
    assert [t["agent"] for t in top] == ["Ana", "Ben"]
    assert set(top[0]["parts"]) == {"skills", "load", "fairness"}
    assert top[0]["score"] == pytest.approx(sum(top[0]["parts"].values()), abs=1e-3)


def test_unavailable_and_full_agents_are_excluded_with_reasons():
    away = agent(1, "Away", skills={"billing": 1.0}, available=False, unavailable_reason="is out of office")
    full = agent(2, "Full", skills={"billing": 1.0}, open_cases=10)
    junior = agent(3, "Junior", skills={"billing": 1.0}, tier=1)
    weak = agent(4, "Weak", skills={"billing": 0.1}, open_cases=9, tier=2)
    ranking = rank([away, full, junior, weak], replace(BILLING, tier=2), now=NOW)
    assert ranking.chosen.candidate.name == "Weak"
    reasons = {e.candidate.name: e.reason for e in ranking.excluded}
    assert reasons == {
        "Away": "is out of office",
        "Full": "is at capacity (10/10)",
        "Junior": "is L1, the case needs L2",
    }


def test_nobody_eligible_explains_why():
    ranking = rank([agent(1, "Full", open_cases=10)], BILLING, now=NOW)
    assert ranking.chosen is None
    assert ranking.explain() == "no agent available (Full is at capacity (10/10))"


def test_small_skill_gap_beats_small_load_gap():
    expert = agent(1, "Expert", skills={"billing": 1.0}, open_cases=5)
    good = agent(2, "Good", skills={"billing": 0.8}, open_cases=4)
    assert chosen([expert, good]) == "Expert"


def test_big_load_gap_beats_small_skill_gap():
    expert = agent(1, "Expert", skills={"billing": 1.0}, open_cases=8)
    good = agent(2, "Good", skills={"billing": 0.8}, open_cases=1)
    assert chosen([expert, good]) == "Good"


def test_the_documented_bound_is_where_the_decision_flips():
    # Δs = 0.2 is worth 0.11; a load gap of 3/10 (0.105) still loses, 4/10 (0.14) wins.
    expert_busy = agent(1, "Expert", skills={"billing": 1.0}, open_cases=4)
    assert chosen([expert_busy, agent(2, "Good", skills={"billing": 0.8}, open_cases=1)]) == "Expert"
    assert chosen([expert_busy, agent(2, "Good", skills={"billing": 0.8}, open_cases=0)]) == "Good"


def test_missing_skill_loses_even_to_a_busy_expert_with_room():
    expert = agent(1, "Expert", skills={"billing": 1.0}, open_cases=9)
    idle = agent(2, "Idle", skills={}, open_cases=0)
    assert chosen([expert, idle]) == "Expert"


def test_priority_weighted_load_matters():
    # Two critical cases are eight medium ones' worth of attention.
    firefighter = agent(1, "Fire", open_cases=2, load=8.0)
    steady = agent(2, "Steady", open_cases=4, load=4.0)
    assert chosen([firefighter, steady], CaseNeeds()) == "Steady"


def test_fairness_rotates_equal_candidates():
    team = [agent(i, name) for i, name in enumerate(["Ana", "Ben", "Cy"], start=1)]
    picks = []
    clock = NOW
    for _ in range(6):
        winner = rank(team, CaseNeeds(), now=clock).chosen.candidate
        picks.append(winner.name)
        team = [replace(c, last_assigned_at=clock) if c.id == winner.id else c for c in team]
        clock += timedelta(minutes=5)
    assert picks == ["Ana", "Ben", "Cy", "Ana", "Ben", "Cy"]


def test_round_robin_ignores_skills_and_load_but_not_hard_rules():
    old = agent(1, "Old", skills={}, open_cases=9, last_assigned_at=NOW - timedelta(hours=1))
    fresh = agent(2, "Fresh", skills={"billing": 1.0}, open_cases=0, last_assigned_at=NOW)
    full = agent(3, "Full", open_cases=10, last_assigned_at=None)
    assert chosen([old, fresh, full], mode=scoring.ROUND_ROBIN) == "Old"
    never = agent(4, "Never", open_cases=2)
    assert chosen([old, fresh, full, never], mode=scoring.ROUND_ROBIN) == "Never"


def test_manual_mode_chooses_nobody():
    ranking = rank([agent(1, "Ana")], BILLING, now=NOW, mode=scoring.MANUAL)
    assert ranking.chosen is None
    assert ranking.excluded[0].reason == "not chosen: the team assigns by hand"


def test_vip_and_enterprise_prefer_senior_agents():
    junior = agent(1, "Junior", seniority=0.0)
    senior = agent(2, "Senior", seniority=1.0, open_cases=2)
    assert chosen([junior, senior], CaseNeeds()) == "Junior"
    assert chosen([junior, senior], CaseNeeds(vip=True)) == "Senior"
    assert chosen([junior, senior], CaseNeeds(enterprise=True)) == "Senior"
    text = rank([junior, senior], CaseNeeds(vip=True), now=NOW).explain()
    assert "seniority 1.0 (L1)" in text


def test_no_wanted_skill_is_neutral():
    assert scoring.skill_match(agent(1, "A"), CaseNeeds()) == (1.0, {})


def test_tag_skills_are_weighted():
    needs = CaseNeeds(skills={"billing": 1.0, "sso": 0.5})
    value, levels = scoring.skill_match(agent(1, "A", skills={"billing": 1.0}), needs)
    assert value == pytest.approx(1.0 / 1.5)
    assert levels == {"billing": 1.0, "sso": 0.0}


@pytest.mark.parametrize(
    ("minutes", "text"),
    [(None, "never"), (0.5, "just now"), (30, "30 min ago"), (150, "2 h ago"), (4000, "2 d ago")],
)
def test_ago(minutes, text):
    when = None if minutes is None else NOW - timedelta(minutes=minutes)
    assert scoring.ago(when, NOW) == text


# ---------------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------------

SKILL_NAMES = ["billing", "sso", "api"]
candidates_st = st.lists(
    st.builds(
        lambda i, skills, cap, open_, heavy, avail, minutes, tier, senior: Candidate(
            id=i,
            name=f"a{i}",
            skills=skills,
            capacity=cap,
            open_cases=min(open_, cap + 2),
            load=min(open_, cap + 2) * (2.0 if heavy else 1.0),
            available=avail,
            last_assigned_at=None if minutes is None else NOW - timedelta(minutes=minutes),
            tier=tier,
            seniority=senior,
        ),
        st.integers(1, 10_000),
        st.dictionaries(st.sampled_from(SKILL_NAMES), st.floats(0.1, 1.0)),
        st.integers(0, 15),
        st.integers(0, 17),
        st.booleans(),
        st.booleans(),
        st.none() | st.floats(0, 1000),
        st.integers(1, 3),
        st.floats(0, 1),
    ),
    max_size=12,
    unique_by=lambda c: c.id,
)
needs_st = st.builds(
    CaseNeeds,
    skills=st.dictionaries(st.sampled_from(SKILL_NAMES), st.sampled_from([0.5, 1.0])),
    vip=st.booleans(),
    enterprise=st.booleans(),
    tier=st.integers(1, 3),
)
modes = st.sampled_from([scoring.SKILLS_LOAD, scoring.ROUND_ROBIN])


@settings(max_examples=300, deadline=None)
@given(candidates_st, needs_st, modes)
def test_never_picks_an_unavailable_full_or_junior_agent(candidates, needs, mode):
    result = rank(candidates, needs, now=NOW, mode=mode)
    for scored in result.ranked:
        c = scored.candidate
        assert c.available and c.open_cases < c.capacity and c.tier >= needs.tier
    eligible = [c for c in candidates if scoring.exclusion_reason(c, needs) is None]
    assert (result.chosen is None) == (not eligible)
    assert len(result.ranked) + len(result.excluded) == len(candidates)


@settings(max_examples=200, deadline=None)
@given(candidates_st, needs_st, modes, st.randoms(use_true_random=False))
def test_deterministic_whatever_the_input_order(candidates, needs, mode, rnd: random.Random):
    first = rank(candidates, needs, now=NOW, mode=mode)
    shuffled = list(candidates)
    rnd.shuffle(shuffled)
    second = rank(shuffled, needs, now=NOW, mode=mode)
    assert [s.candidate.id for s in first.ranked] == [s.candidate.id for s in second.ranked]
    assert first.explain() == second.explain()


@settings(max_examples=300, deadline=None)
@given(
    st.floats(0.0, 0.9),
    st.floats(0.01, 0.1),
    st.integers(1, 8),
    st.floats(1, 200),
    st.floats(0, 0.9),
    needs_st,
    st.booleans(),
)
def test_a_candidate_better_on_every_axis_wins(level, skill_gap, open_, minutes, senior, needs, worse_first):
    needs = replace(needs, skills={"billing": 1.0}, tier=1)
    worse = Candidate(
        id=1 if worse_first else 2,
        name="worse",
        skills={"billing": level},
        capacity=10,
        open_cases=open_,
        load=float(open_),
        last_assigned_at=NOW - timedelta(minutes=minutes),
        seniority=senior,
    )
    better = replace(
        worse,
        id=2 if worse_first else 1,
        name="better",
        skills={"billing": level + skill_gap},
        open_cases=open_ - 1,
        load=float(open_ - 1),
        last_assigned_at=NOW - timedelta(minutes=minutes + 10),
        seniority=senior + 0.1,
    )
    assert rank([worse, better], needs, now=NOW).chosen.candidate.name == "better"
