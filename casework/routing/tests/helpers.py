"""Routing test helpers: agents with skills and a workload."""

from __future__ import annotations

from casework.cases import services as case_services
from casework.people.models import AgentSkill, Skill
from casework.testing.factories import make_agent, open_case


def agent_with(username: str, *, team, tier: int = 1, skills: dict | None = None, **profile):
    user = make_agent(username, tier=tier, teams=[team], **profile)
    for name, level in (skills or {}).items():
        AgentSkill.objects.create(
            agent=user.agent, skill=Skill.objects.get_or_create(name=name)[0], level=level
        )
    return user


def give_load(user, count: int, *, priority: str = "medium", team=None) -> list:
    cases = []
    for i in range(count):
        case = open_case(subject=f"Load {user.username} {i}", priority=priority, team=team)
        case_services.case_assign(case=case, assignee=user, actor="test")
        cases.append(case)
    return cases
