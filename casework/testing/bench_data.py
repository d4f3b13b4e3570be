"""Synthetic history for measuring reports: `casework bench-data --cases N` (or `generate(n)`).

Two years of cases with what the report selectors read — status events (closings, reopenings),
agent replies, both SLA clocks (met, breached, stopped, still running), breaches with their ledger line,
tier history with escalations — written with bulk inserts in batches, because opening a million cases
through the services (every reaction, one write each) would take hours. This is measuring data only: it
bypasses the one door on purpose, like a migration would, and refuses a database that already has cases.

The shape (seeded, so two runs give the same data): channels email 60 % / web 25 % / chat, phone, API
5 % each; priorities critical 3 % / high 17 % / medium 50 % / low 30 %; 20 % escalated to L2 and a
quarter of those to L3; first responses lognormal around 40 min business time, 4 % never answered;
resolutions lognormal around 10 business hours; 6 % reopened once; cases younger than two weeks partly
still open.
"""

from __future__ import annotations

import math
import random
import secrets
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

BATCH = 5000
TOPICS = ["export", "login", "invoice", "report", "sync"]
CHANNELS = [("email", 60), ("web", 25), ("chat", 5), ("phone", 5), ("api", 5)]
PRIORITIES = [("critical", 3), ("high", 17), ("medium", 50), ("low", 30)]
TARGETS = {  # the seeded Standard policy: first response, resolution
    "critical": (timedelta(minutes=15), timedelta(hours=4)),
    "high": (timedelta(hours=1), timedelta(hours=8)),
    "medium": (timedelta(hours=4), timedelta(hours=24)),
    "low": (timedelta(hours=8), timedelta(hours=72)),
}


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def _lognormal(rng: random.Random, median_seconds: float, sigma: float) -> timedelta:
    return timedelta(seconds=median_seconds * math.exp(rng.gauss(0, sigma)))


def _wall(business: timedelta) -> timedelta:
    # Business hours are about a third of the week: wall time runs roughly 2–4× the business time.
    return business * 2.8


def generate(
    n: int, *, seed: int = 16, years: float = 2.0, progress: Callable[[int], None] | None = None
) -> dict:
    from django.contrib.auth import get_user_model

    from casework.cases.models import Case, CaseEvent, Category, Message
    from casework.core.models import Counter
    from casework.people.models import AgentProfile, Customer, Organisation, Team
    from casework.routing.models import TierHistory
    from casework.sla.models import Breach, CaseClock, ClockLedgerEntry, Policy

    if Case.objects.exists():
        raise RuntimeError("bench-data writes synthetic history: run it on an empty database")
    started = time.perf_counter()
    rng = random.Random(seed)
    now = timezone.now()
    span = timedelta(days=365 * years)
    User = get_user_model()

    teams = {
        tier: Team.objects.get_or_create(name=name, defaults={"tier_level": tier})[0]
        for tier, name in ((1, "L1 Support"), (2, "L2 Support"), (3, "L3 Engineering"))
    }
    agents: dict[int, list] = {1: [], 2: [], 3: []}
    for tier, count in ((1, 12), (2, 5), (3, 3)):
        for i in range(count):
            user, _ = User.objects.get_or_create(
                username=f"bench-l{tier}-{i}",
                defaults={"first_name": f"Agent{tier}{i}", "email": f"l{tier}{i}@bench.test"},
            )
            profile, _ = AgentProfile.objects.get_or_create(user=user, defaults={"tier_level": tier})
            profile.teams.add(teams[tier])
            agents[tier].append(user)
    orgs = [
        Organisation(name=f"Bench org {i}", tier="enterprise" if i % 10 == 0 else "standard")
        for i in range(200)
    ]
    Organisation.objects.bulk_create(orgs, batch_size=BATCH)
    orgs = list(Organisation.objects.filter(name__startswith="Bench org "))
    n_customers = max(50, n // 8)
    Customer.objects.bulk_create(
        [
            Customer(
                name=f"Customer {i}",
                email=f"c{i}@bench.test",
                organisation=orgs[i % len(orgs)] if i % 5 else None,
            )
            for i in range(n_customers)
        ],
        batch_size=BATCH,
    )
    customers = list(
        Customer.objects.filter(email__endswith="@bench.test").values_list("id", "organisation_id")
    )
    categories = list(Category.objects.values_list("id", flat=True)) or [None]
    standard = Policy.objects.filter(name="Standard").first()
    numbers = Counter.next_values("case", n)
    prefix = settings.CASEWORK["REFERENCE_PREFIX"]
    offsets = sorted(rng.random() for _ in range(n))
    totals = dict.fromkeys(("cases", "events", "messages", "clocks", "breaches", "tier_history"), 0)

    for first in range(0, n, BATCH):
        with transaction.atomic():
            cases, plans = [], []
            for i in range(first, min(n, first + BATCH)):
                created = now - span + span * offsets[i]
                priority = _pick(rng, PRIORITIES)
                customer_id, org_id = customers[rng.randrange(len(customers))]
                age = now - created
                frt_target, res_target = TARGETS[priority]
                fr_business = None if rng.random() < 0.04 else _lognormal(rng, 2400, 1.0)
                res_business = _lognormal(rng, 36000, 1.1)
                tier = 1
                if rng.random() < 0.2:
                    tier = 3 if rng.random() < 0.25 else 2
                fr_at = created + _wall(fr_business) if fr_business is not None else None
                res_at = created + _wall(res_business)
                if fr_at and fr_at > res_at:
                    fr_at = res_at
                    fr_business = res_business
                closed_unresolved = rng.random() < 0.03
                reopened = rng.random() < 0.06
                if res_at > now or (age < timedelta(days=14) and rng.random() < 0.1):
                    status, resolved_at, closed_at = (
                        rng.choice(["triaged", "in_progress", "awaiting_client"]),
                        None,
                        None,
                    )
                    fr_at = fr_at if fr_at and fr_at < now else None
                    reopened = False
                elif closed_unresolved:
                    status, resolved_at, closed_at, fr_at, reopened = "closed", None, res_at, None, False
                else:
                    status, resolved_at = (
                        ("closed", res_at) if age > timedelta(days=7) else ("resolved", res_at)
                    )
                    closed_at = res_at + timedelta(days=7) if status == "closed" else None
                assignee = rng.choice(agents[tier])
                number = numbers[i]
                cases.append(
                    Case(
                        number=number,
                        reference=f"{prefix}-{number:06d}",
                        public_token=secrets.token_urlsafe(18),
                        subject=f"Bench case {number} about the {rng.choice(TOPICS)}",
                        customer_id=customer_id,
                        organisation_id=org_id,
                        channel=_pick(rng, CHANNELS),
                        category_id=rng.choice(categories),
                        priority=priority,
                        status=status,
                        tier=tier,
                        team=teams[tier],
                        assignee=assignee,
                        created_at=created,
                        first_response_at=fr_at,
                        resolved_at=resolved_at,
                        closed_at=closed_at,
                        reopen_count=1 if reopened else 0,
                    )
                )
                plans.append((fr_business, res_business, frt_target, res_target, reopened, closed_unresolved))
            Case.objects.bulk_create(cases, batch_size=BATCH)
            ids = dict(Case.objects.filter(number__in=[c.number for c in cases]).values_list("number", "id"))
            events, messages, clocks, tiers = [], [], [], []
            for case, (fr_b, res_b, fr_t, res_t, reopened, unresolved) in zip(cases, plans, strict=True):
                case.pk = ids[case.number]
                done_at = case.resolved_at or (case.closed_at if unresolved else None)
                if reopened and case.resolved_at:
                    first_done = case.created_at + (case.resolved_at - case.created_at) / 2
                    back = first_done + (case.resolved_at - first_done) / 3
                    events += [
                        CaseEvent(
                            case_id=case.pk,
                            kind="status_changed",
                            old="in_progress",
                            new="resolved",
                            created_at=first_done,
                            actor_label="bench",
                        ),
                        CaseEvent(
                            case_id=case.pk,
                            kind="status_changed",
                            old="resolved",
                            new="in_progress",
                            created_at=back,
                            actor_label="bench",
                        ),
                    ]
                if done_at:
                    events.append(
                        CaseEvent(
                            case_id=case.pk,
                            kind="status_changed",
                            old="in_progress",
                            new="resolved" if case.resolved_at else "closed",
                            created_at=done_at,
                            actor_label="bench",
                        )
                    )
                if case.first_response_at:
                    replies = 1 if rng.random() < 0.72 else 2 + int(rng.random() < 0.3)
                    for r in range(replies):
                        at = case.first_response_at + (
                            ((done_at or now) - case.first_response_at) * r / replies
                        )
                        messages.append(
                            Message(
                                case_id=case.pk,
                                kind="reply",
                                channel=case.channel,
                                direction="outbound",
                                author_user=case.assignee,
                                body="Bench reply",
                                created_at=at,
                            )
                        )
                for metric, business, target, happened in (
                    ("first_response", fr_b, fr_t, case.first_response_at),
                    ("resolution", res_b, res_t, case.resolved_at),
                ):
                    due = case.created_at + _wall(target)
                    clock = CaseClock(
                        case_id=case.pk,
                        metric=metric,
                        policy=standard,
                        policy_name="Standard",
                        priority=case.priority,
                        target=target,
                        at_risk_lead=min(timedelta(minutes=30), target / 4),
                        started_at=case.created_at,
                    )
                    if happened is not None:
                        clock.consumed, clock.stopped_at = business, happened
                        clock.state = "met" if business <= target else "breached"
                        clock.breached_at = due if business > target else None
                    elif done_at is not None:
                        clock.state, clock.stopped_at = "stopped", done_at
                        clock.consumed = min(business or target, target)
                    else:
                        clock.state = "paused" if case.status == "awaiting_client" else "running"
                        clock.running_since = None if clock.state == "paused" else case.created_at
                        clock.paused_since = case.created_at if clock.state == "paused" else None
                        clock.due_at, clock.at_risk_at = due, due - clock.at_risk_lead
                    clocks.append(clock)
                entered = case.created_at
                left_l1 = (
                    case.created_at + ((done_at or now) - case.created_at) / 4 if case.tier > 1 else done_at
                )
                tiers.append(
                    TierHistory(
                        case_id=case.pk,
                        tier=1,
                        team=teams[1],
                        owner=None,
                        entered_at=entered,
                        left_at=left_l1,
                        entered_by="opened",
                        left_by="bench" if left_l1 else "",
                    )
                )
                if case.tier > 1:
                    tiers.append(
                        TierHistory(
                            case_id=case.pk,
                            tier=case.tier,
                            team=teams[case.tier],
                            owner=case.assignee,
                            entered_at=left_l1,
                            left_at=done_at,
                            entered_by="escalated",
                            left_by="bench" if done_at else "",
                        )
                    )
            CaseEvent.objects.bulk_create(events, batch_size=BATCH)
            Message.objects.bulk_create(messages, batch_size=BATCH)
            CaseClock.objects.bulk_create(clocks, batch_size=BATCH)
            breached = [
                c
                for c in CaseClock.objects.filter(
                    case_id__in=ids.values(), breached_at__isnull=False
                ).select_related("case")
            ]
            Breach.objects.bulk_create(
                [
                    Breach(
                        clock=c,
                        case_id=c.case_id,
                        metric=c.metric,
                        policy_name=c.policy_name,
                        priority=c.priority,
                        target=c.target,
                        due_at=c.breached_at,
                        breached_at=c.breached_at,
                        detected_at=c.breached_at,
                        stopped_at=c.stopped_at,
                        duration=c.consumed - c.target,
                    )
                    for c in breached
                ],
                batch_size=BATCH,
            )
            ClockLedgerEntry.objects.bulk_create(
                [
                    ClockLedgerEntry(
                        clock=c,
                        kind="breached",
                        at=c.breached_at,
                        due_before=c.breached_at,
                        reason=f"{c.metric} target of {c.target} ran out (bench data)",
                        actor_label="bench",
                    )
                    for c in breached
                ],
                batch_size=BATCH,
            )
            TierHistory.objects.bulk_create(tiers, batch_size=BATCH)
            for key, rows in (
                ("cases", cases),
                ("events", events),
                ("messages", messages),
                ("clocks", clocks),
                ("breaches", breached),
                ("tier_history", tiers),
            ):
                totals[key] += len(rows)
        if progress:
            progress(len(cases))
    totals["seconds"] = round(time.perf_counter() - started, 1)
    return totals
