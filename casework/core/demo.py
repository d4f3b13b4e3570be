"""Realistic demo data: organisations, customers, L1/L2/L3 teams and ~200 cases with timelines.

Everything is created through the services, with history replayed under `clock.frozen`, so the demo
timeline looks exactly like production data would. Idempotent: people are found-or-created and cases are
only generated once (they carry `custom_fields["demo"]`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from casework.cases import services
from casework.cases.models import Case, MessageKind
from casework.cases.status import Channel, Priority, Status
from casework.core import clock
from casework.people.models import AgentProfile, AgentSkill, Organisation, OrganisationDomain, Skill, Team
from casework.people.roles import team_set_lead
from casework.people.services import customer_get_or_create

DEMO_PASSWORD = "casework-demo"
ADMIN_PASSWORD = "casework-admin"

ORGANISATIONS = [
    # name, tier, vip, domain, notes
    ("Northwind Traders", "enterprise", True, "northwind.example", "Strategic account; exec sponsor: COO."),
    ("Globex Corporation", "enterprise", False, "globex.example", "24×7 contract for critical incidents."),
    ("Initech", "business", False, "initech.example", ""),
    (
        "Umbrella Health",
        "business",
        True,
        "umbrella-health.example",
        "Regulated customer: data requests go to L2.",
    ),
    ("Acme Garden Supplies", "standard", False, "acme-garden.example", ""),
    ("Bluebird Bakery", "standard", False, "bluebird.example", ""),
    ("Hooli Analytics", "business", False, "hooli.example", "Heavy API user."),
]

FIRST_NAMES = [
    "Alice",
    "Bruno",
    "Chen",
    "Dana",
    "Emeka",
    "Farah",
    "Gustav",
    "Hana",
    "Ivan",
    "Jo",
    "Kemal",
    "Lena",
    "Marta",
    "Nils",
    "Olu",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tomasz",
    "Uma",
    "Victor",
]
LAST_NAMES = [
    "Okafor",
    "Schmidt",
    "Nakamura",
    "Rossi",
    "Dubois",
    "Kowalski",
    "Haddad",
    "Silva",
    "Novak",
    "Jensen",
    "Moreau",
    "Patel",
]

TEAMS = [
    ("L1 Support", 1, "First line: every new case lands here."),
    ("L2 Support", 2, "Product specialists: data, integrations, hard bugs."),
    ("L3 Engineering", 3, "Engineers on support rotation."),
    ("Billing", None, "Invoices, refunds, plan changes."),
]

SKILLS = ["authentication", "billing", "bug", "data", "performance", "question", "integrations"]


@dataclass(frozen=True)
class AgentSeed:
    username: str
    first: str
    last: str
    tier: int
    teams: tuple[str, ...]
    skills: tuple[tuple[str, float], ...]
    staff: bool = False


AGENTS = [
    # The administrator is an agent (to use the workspace) but in no team, so automatic assignment never
    # hands them cases; they can still take one.
    AgentSeed("admin", "Ada", "Admin", 3, (), (("data", 0.8),), staff=True),
    AgentSeed("ana", "Ana", "Lopez", 1, ("L1 Support",), (("authentication", 1.0), ("question", 0.8))),
    AgentSeed("ben", "Ben", "Carter", 1, ("L1 Support", "Billing"), (("billing", 1.0), ("question", 0.6))),
    AgentSeed("chloe", "Chloé", "Martin", 1, ("L1 Support",), (("bug", 0.6), ("performance", 0.5))),
    AgentSeed(
        "dev", "Dev", "Sharma", 2, ("L2 Support",), (("data", 1.0), ("integrations", 0.9), ("bug", 0.8))
    ),
    AgentSeed("eva", "Eva", "Lindqvist", 2, ("L2 Support",), (("performance", 1.0), ("bug", 0.9))),
    AgentSeed(
        "felix", "Felix", "Bauer", 3, ("L3 Engineering",), (("bug", 1.0), ("data", 1.0), ("performance", 1.0))
    ),
]

# (category, priority, subject, body) — phrased the way customers really write.
SCENARIOS = [
    (
        "authentication",
        "medium",
        "Can't log in after password reset",
        "Hi, I reset my password this morning but the login page keeps saying my credentials are invalid. "
        "I tried two browsers. Can you help?",
    ),
    (
        "authentication",
        "high",
        "2FA codes not accepted for the whole finance team",
        "Since yesterday none of the finance team can sign in: the 2FA codes from the authenticator app are "
        "rejected. We need access to close the month.",
    ),
    (
        "authentication",
        "low",
        "How do I turn on single sign-on?",
        "Is it possible to use our Google accounts to sign in?",
    ),
    (
        "billing",
        "medium",
        "Charged twice for November",
        "Our card was charged twice for the November invoice. Please refund the duplicate charge.",
    ),
    (
        "billing",
        "low",
        "Invoice needs our VAT number",
        "Could you reissue invoice INV-2291 with our VAT number on it?",
    ),
    (
        "billing",
        "medium",
        "Downgrade plan from Business to Standard",
        "We'd like to move to the Standard plan next month.",
    ),
    (
        "bug",
        "high",
        "Export to CSV crashes with an error",
        "Every time I export the orders report I get "
        "'Unexpected error 500'. This blocks our weekly reporting and there is no other way to get the data.",
    ),
    (
        "bug",
        "medium",
        "Dates show in US format",
        "The dashboard shows dates as MM/DD even though our locale is UK. "
        "We can read them but it confuses people.",
    ),
    (
        "bug",
        "low",
        "Typo on the settings page",
        "Small thing: 'Notifcations' is misspelled on the settings page.",
    ),
    (
        "data",
        "high",
        "Customer records missing after import",
        "After yesterday's import about 300 customer records "
        "are missing. The import said it succeeded. We need them back today.",
    ),
    (
        "data",
        "critical",
        "Data loss: all projects deleted",
        "All of our projects disappeared overnight. This is "
        "data loss for the whole company, nobody can work.",
    ),
    (
        "performance",
        "high",
        "Reports take minutes to load",
        "The reports page now takes 3-4 minutes to load and often times out. It used to be a few seconds.",
    ),
    (
        "performance",
        "critical",
        "System down - nobody can reach the app",
        "The whole app is down for everyone in "
        "our company since 09:10. We get a gateway timeout on every page.",
    ),
    ("question", "low", "How do I add a new user?", "How do I invite a colleague to our workspace?"),
    (
        "question",
        "low",
        "Is there an API for tickets?",
        "Is it possible to create records from our CRM through an API?",
    ),
    (
        "feature-request",
        "low",
        "Please add dark mode",
        "It would be great if the app had a dark mode for late shifts.",
    ),
    (
        "feature-request",
        "low",
        "Bulk edit for tags",
        "Feature request: let us change tags on many items at once.",
    ),
    (
        "other",
        "medium",
        "Question about your security certifications",
        "Our procurement team asks whether you are ISO 27001 certified. Could you send the certificate?",
    ),
]

REPLIES = [
    "Thanks for the details — I'm looking into this now and will update you shortly.",
    "I've reproduced the problem and passed it to our specialists with your examples.",
    "Could you send a screenshot and the time it happened, so we can check the logs?",
    "This is fixed on our side. Could you try again and let us know?",
]
CUSTOMER_FOLLOWUPS = [
    "Here is the screenshot you asked for. It happened at about 10:15.",
    "Any news on this? It's still happening.",
    "Thanks, that worked!",
    "This is really frustrating, we've been waiting for days and nothing works.",
]


def ensure_people() -> dict:
    user_model = get_user_model()
    teams = {}
    for name, tier, description in TEAMS:
        teams[name], _ = Team.objects.get_or_create(
            name=name, defaults={"tier_level": tier, "description": description}
        )
    skills = {name: Skill.objects.get_or_create(name=name)[0] for name in SKILLS}
    agents = {}
    for seed in AGENTS:
        user, created = user_model.objects.get_or_create(
            username=seed.username,
            defaults={
                "first_name": seed.first,
                "last_name": seed.last,
                "email": f"{seed.username}@casework.localhost",
            },
        )
        if created:
            user.set_password(ADMIN_PASSWORD if seed.staff else DEMO_PASSWORD)
            user.is_staff = seed.staff
            user.is_superuser = seed.staff
            user.save()
        profile, _ = AgentProfile.objects.get_or_create(user=user, defaults={"tier_level": seed.tier})
        profile.teams.set([teams[t] for t in seed.teams])
        for skill, level in seed.skills:
            AgentSkill.objects.get_or_create(agent=profile, skill=skills[skill], defaults={"level": level})
        agents[seed.username] = user
    for name, lead in (
        ("L1 Support", "ana"),
        ("L2 Support", "dev"),
        ("L3 Engineering", "felix"),
        ("Billing", "ben"),
    ):
        if teams[name].lead_id is None:
            # The door raises the lead's role to lead (dashboard, rule editor, CSAT reviews, problems).
            team_set_lead(team=teams[name], lead=agents[lead], actor="demo", reason="Demo data")
    orgs = []
    for name, tier, vip, domain, notes in ORGANISATIONS:
        org, _ = Organisation.objects.get_or_create(
            name=name, defaults={"tier": tier, "vip": vip, "notes": notes}
        )
        OrganisationDomain.objects.get_or_create(domain=domain, defaults={"organisation": org})
        orgs.append((org, domain))
    rng = random.Random(7)
    customers = []
    for i in range(42):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        if i < 34:
            org, domain = orgs[i % len(orgs)]
        else:
            domain = rng.choice(["gmail.example", "outlook.example", "proton.example"])
        email = f"{first.lower()}.{last.lower()}{i}@{domain}"
        customer, _ = customer_get_or_create(
            email=email, name=f"{first} {last}", phone=f"+44 20 7946 {1000 + i:04d}"
        )
        if i < len(orgs) and not customer.is_admin_contact:
            # One admin contact per organisation: sees all its cases in the customer portal.
            customer.is_admin_contact = True
            customer.save(update_fields=["is_admin_contact"])
        customers.append(customer)
    return {"teams": teams, "agents": agents, "customers": customers}


def _demo_cases_exist() -> bool:
    return Case.objects.filter(custom_fields__demo=True).exists()


def create_cases(people: dict, *, count: int = 200, seed: int = 11) -> int:
    rng = random.Random(seed)
    agents = people["agents"]
    l1 = [agents[u] for u in ("ana", "ben", "chloe")]
    l2 = [agents[u] for u in ("dev", "eva")]
    channels = [Channel.EMAIL] * 5 + [Channel.WEB] * 2 + [Channel.PHONE, Channel.CHAT, Channel.API]
    # Older cases are mostly finished; recent ones are still being worked, as in a real queue.
    now = timezone.now()
    created = 0
    for _ in range(count):
        category, priority, subject, body = rng.choice(SCENARIOS)
        customer = rng.choice(people["customers"])
        opened_at = now - timedelta(days=rng.uniform(0, 30), minutes=rng.randint(0, 600))
        channel = rng.choice(channels)
        # Each service is its own write, with its reactions (triage, SLA, routing) decided inside it, under
        # the frozen clock, so the replayed timeline reads in order.
        at = opened_at
        with clock.frozen(at):
            if channel == Channel.PHONE:
                case = services.case_log_call(
                    customer=customer,
                    summary=body,
                    subject=subject,
                    direction="inbound",
                    duration_seconds=rng.randint(60, 1500),
                    actor=rng.choice(l1),
                    priority=priority,
                    category=category,
                ).case
            else:
                case = services.case_open(
                    subject=subject,
                    description=body,
                    customer=customer,
                    channel=channel,
                    priority=priority,
                    category=category,
                    custom_fields={"demo": True},
                    team=people["teams"]["L1 Support"],
                )
            if channel == Channel.PHONE:
                services.case_update(
                    case=case, custom_fields={"demo": True}, team=people["teams"]["L1 Support"]
                )
        age_days = (now - opened_at).days
        target = _target_status(rng, age_days)
        at = _walk(case, target, at, now, rng, l1, l2)
        created += 1
    return created


def _target_status(rng: random.Random, age_days: int) -> str:
    if age_days > 10:
        return rng.choice([Status.CLOSED] * 5 + [Status.RESOLVED] * 2 + [Status.AWAITING_CLIENT])
    if age_days > 3:
        return rng.choice(
            [Status.RESOLVED, Status.CLOSED, Status.IN_PROGRESS, Status.AWAITING_CLIENT, Status.TRIAGED]
        )
    return rng.choice([Status.NEW, Status.NEW, Status.TRIAGED, Status.IN_PROGRESS, Status.AWAITING_CLIENT])


def _team_worker(case: Case, rng: random.Random, agents: list):
    """An agent of the team holding the case (roles: agents work their own teams' cases)."""
    from django.contrib.auth import get_user_model

    from casework.people.permissions import team_ids

    if case.team_id is None:
        return rng.choice(agents[:3])
    members = [a for a in agents if case.team_id in team_ids(a)]
    if not members:
        members = list(
            get_user_model().objects.filter(agent__teams=case.team_id, is_active=True).order_by("username")
        )
    return rng.choice(members or agents[:3])


def _walk(case: Case, target: str, at, now, rng: random.Random, l1: list, l2: list):
    """Drive a case through its lifecycle to `target`, with plausible gaps between steps."""

    def step(minutes_low: int, minutes_high: int):
        nonlocal at
        at = min(at + timedelta(minutes=rng.randint(minutes_low, minutes_high)), now - timedelta(minutes=1))
        return clock.frozen(at)

    if target == Status.NEW:
        return at
    case.refresh_from_db()
    agent = _team_worker(case, rng, l1 + l2)
    if case.status == Status.NEW:  # triage rules may already have classified it
        with step(3, 90):
            services.case_transition(
                case=case, to=Status.TRIAGED, actor=agent, reason="Checked category and priority"
            )
    if target == Status.TRIAGED:
        return at
    with step(5, 240):
        services.case_assign(case=case, assignee=agent, actor=agent, reason="Picked from the queue")
        services.case_transition(case=case, to=Status.IN_PROGRESS, actor=agent)
    with step(2, 60):
        services.case_add_message(case=case, kind=MessageKind.REPLY, body=rng.choice(REPLIES), actor=agent)
    case.refresh_from_db()
    if case.tier == 1 and case.priority in (Priority.CRITICAL, Priority.HIGH) and rng.random() < 0.5:
        with step(10, 120):
            services.case_escalate(
                case=case,
                to_tier=2,
                actor=agent,
                reason="Needs a specialist",
                handoff_note=(
                    "Reproduced with the customer's example; logs attached to the task. "
                    "Customer expects an update today."
                ),
            )
            agent = rng.choice(l2)
            services.case_assign(case=case, assignee=agent, actor=agent, reason="Took the escalation")
    if rng.random() < 0.3:
        with step(5, 60):
            services.case_add_task(
                case=case, title="Check the server logs for the customer's account", actor=agent, owner=agent
            )
    if target == Status.IN_PROGRESS:
        return at
    case.refresh_from_db()
    if case.assignee_id:
        agent = case.assignee
    with step(10, 300):
        services.case_transition(
            case=case, to=Status.AWAITING_CLIENT, actor=agent, reason="Asked for details"
        )
    if target == Status.AWAITING_CLIENT:
        return at
    with step(60, 1440):
        services.case_add_message(
            case=case, kind=MessageKind.CUSTOMER, body=rng.choice(CUSTOMER_FOLLOWUPS), customer=case.customer
        )
    with step(30, 600):
        services.case_add_message(
            case=case,
            kind=MessageKind.REPLY,
            body="Glad that's sorted. I'm resolving the case; reply if anything comes back.",
            actor=agent,
            set_status=Status.RESOLVED,
        )
    if target == Status.RESOLVED:
        return at
    with step(1440, 4320):
        services.case_transition(
            case=case, to=Status.CLOSED, actor="system", reason="No reply for 3 days after resolution"
        )
    return at


def mark_history_sent() -> int:
    """The demo's history is the past: its mail (replies, acknowledgements, SLA alerts) went out when it
    happened. Marked sent at the time it was written, with the message's delivery badge to match, so a
    worker started after `casework demo` has nothing to send but what agents write from now on."""
    from casework.cases.services.unit_of_work import unit_of_work
    from casework.notify.models import Outbox, OutboxStatus

    rows = list(
        Outbox.objects.filter(status=OutboxStatus.PENDING, case__custom_fields__demo=True).select_related(
            "message", "message__case"
        )
    )
    with unit_of_work("demo history sent"):
        for row in rows:
            if row.message_id is not None:
                with clock.frozen(row.created_at):
                    services.message_record_email(
                        message=row.message, delivery="sent", detail=", ".join(row.to)
                    )
    for row in rows:
        Outbox.objects.filter(pk=row.pk).update(status=OutboxStatus.SENT, sent_at=row.created_at, attempts=1)
    return len(rows)


def ensure_custom_fields() -> None:
    """Fields a support team commonly keeps on a case; `product` is also a routing skill."""
    from casework.cases.models import CustomFieldDefinition

    for order, (key, label, kind, choices, help_text) in enumerate(
        [
            (
                "product",
                "Product",
                "choice",
                ["Web app", "Mobile app", "API", "Reports"],
                "Routing uses it as a skill.",
            ),
            ("crm_account", "CRM account", "text", [], "The account id in the CRM."),
            ("seats", "Seats affected", "number", [], ""),
        ]
    ):
        CustomFieldDefinition.objects.get_or_create(
            key=key,
            defaults={
                "label": label,
                "kind": kind,
                "choices": choices,
                "help_text": help_text,
                "order": order,
            },
        )


def load_demo(*, count: int = 200) -> dict:
    ensure_custom_fields()
    people = ensure_people()
    created = 0 if _demo_cases_exist() else create_cases(people, count=count)
    mark_history_sent()
    return {"agents": list(people["agents"]), "cases_created": created, "cases_total": Case.objects.count()}
