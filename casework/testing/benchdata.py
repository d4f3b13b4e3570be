"""`casework bench-data --cases N`: a realistic data set, fast, for benchmarks and capacity planning.

Two years of a growing support desk: organisations (with domains, a few enterprise and VIP), customers
(most at their organisation's domain), agents in three tier teams, and cases whose volume grows over
the period, each with its messages, timeline events, SLA clocks (met, breached, stopped or still
running), clock ledger starts, breaches and escalations (tier history) — plus whatever other apps
register (see `register`). Old cases are resolved or closed; the last weeks hold the open queue.

Speed comes from writing rows directly, in the database's own bulk path (SQLite: one prepared INSERT
run for each batch with `executemany`, with journalling relaxed for the load; PostgreSQL: `COPY`), with
explicit primary keys so children need no round trip. It is generated history, not live traffic:
nothing runs through the door functions or the reaction pipeline (that would take hours for a million
cases; `bench/seed_cases.py` does it for the smaller "every reaction ran" install). So the rows must
stay in step with the models: every NOT NULL column without a default has to be given, and
`RowWriter` refuses to start when a model gained one the generator does not fill.

Extending it (the CSAT branch, any new app): in `<app>/benchdata.py`,

    from casework.testing.benchdata import register

    @register("csat", order=50)
    def csat(batch):
        batch.write(SurveyResponse, [...], ["case_id", "score", "created_at", ...])

`batch.cases` are the batch's `GeneratedCase` rows (ids, times, status, people); `batch.ids(Model, n)`
reserves primary keys; `batch.fmt` turns datetimes, durations and JSON into what the database takes.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, models, transaction

from casework.testing import benchdata_load as load

# --------------------------------------------------------------------------------------------------
# plugins
# --------------------------------------------------------------------------------------------------


@dataclass
class Generator:
    name: str
    func: Callable[[Batch], None]
    order: int


_generators: dict[str, Generator] = {}


# Generators ordered at or below this run before the case rows are written (and may fill their fields).
CASES_ORDER = 15


def register(name: str, *, order: int = 100) -> Callable[[Callable[[Batch], None]], Callable[[Batch], None]]:
    """Add a generator that writes rows for each batch of cases (after the cases themselves, in
    `order`: the built-in ones are 10 messages, 20 events, 30 SLA clocks, 40 escalations)."""

    def decorate(func: Callable[[Batch], None]) -> Callable[[Batch], None]:
        _generators[name] = Generator(name, func, order)
        return func

    return decorate


def generators() -> list[Generator]:
    from django.utils.module_loading import autodiscover_modules

    from . import benchdata_history  # noqa: F401  (the built-in generators register themselves)

    autodiscover_modules("benchdata")
    return sorted(_generators.values(), key=lambda g: (g.order, g.name))


# --------------------------------------------------------------------------------------------------
# writing rows fast on either database
# --------------------------------------------------------------------------------------------------


class Fmt:
    """Python values as the backend's bulk path takes them (what Django's field adapters would send)."""

    def __init__(self, vendor: str) -> None:
        self.sqlite = vendor == "sqlite"

    def dt(self, value: datetime | None) -> Any:
        if value is None or not self.sqlite:
            return value
        # Every generated time is an aware UTC datetime: its ISO form less "+00:00" is what Django
        # stores on SQLite (naive UTC), without a conversion per value.
        return value.isoformat(" ")[:-6]

    def dur(self, value: timedelta | None) -> Any:
        if value is None or not self.sqlite:
            return value
        return (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds

    def js(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value)

    def b(self, value: bool) -> Any:
        return int(value) if self.sqlite else bool(value)


class RowWriter:
    """Rows of one model with a fixed column list, written by the backend's bulk path."""

    def __init__(self, model: type[models.Model], names: Sequence[str], fmt: Fmt) -> None:
        self.model = model
        opts = model._meta
        by_name = {}
        for f in opts.concrete_fields:
            by_name[f.name] = f
            by_name[f.attname] = f
        fields = [by_name[name] for name in names]
        given = {f.attname for f in fields}
        # Every column we do not give gets its field default, once, formatted for the backend.
        self.extra: list[tuple[models.Field, Any]] = []
        for f in opts.concrete_fields:
            if f.attname in given or f.generated or (f.primary_key and f.attname not in given):
                continue
            # Django's own default: the field's, else "" for text columns, else NULL.
            default = f.get_default()
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                default = datetime.now(UTC)
            elif default is None and not f.null:
                raise RuntimeError(
                    f"bench-data: {opts.label}.{f.name} is NOT NULL without a default and the generator "
                    "does not fill it; add it to the generator (casework/testing/benchdata.py)"
                )
            self.extra.append((f, _format_default(f, default, fmt)))
        self.columns = [f.column for f in fields] + [f.column for f, _ in self.extra]
        self.tail = tuple(value for _, value in self.extra)
        quote = connection.ops.quote_name
        self.table = quote(opts.db_table)
        self.column_sql = ", ".join(quote(c) for c in self.columns)
        self.vendor = connection.vendor

    def write(self, rows: Iterable[Sequence[Any]]) -> int:
        tail = self.tail
        full = [(*row, *tail) for row in rows] if tail else list(rows)
        if not full:
            return 0
        if self.vendor == "postgresql":
            with connection.cursor() as cursor:
                copy_sql = f"COPY {self.table} ({self.column_sql}) FROM STDIN"
                with cursor.cursor.copy(copy_sql) as copy:
                    for row in full:
                        copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(self.columns))
            with connection.cursor() as cursor:
                cursor.executemany(f"INSERT INTO {self.table} ({self.column_sql}) VALUES ({marks})", full)
        return len(full)


def _format_default(f: models.Field, value: Any, fmt: Fmt) -> Any:
    if isinstance(f, models.JSONField):
        return fmt.js(value)
    if isinstance(f, models.DateTimeField):
        return fmt.dt(value)
    if isinstance(f, models.DurationField):
        return fmt.dur(value)
    if isinstance(f, models.BooleanField):
        return fmt.b(value)
    return value


# --------------------------------------------------------------------------------------------------
# the data set
# --------------------------------------------------------------------------------------------------

DAYS = 730  # the default span of the history (`--days`)
OPEN_DAYS = 21  # cases younger than this may still be open
REOPEN_SHARE = 0.06  # resolved cases that were reopened once before their last resolution
SUBJECTS = [
    "Cannot log in to the portal",
    "Invoice charged twice",
    "Export to CSV fails",
    "Dashboard is very slow this morning",
    "How do I add a new user?",
    "Password reset mail never arrives",
    "Data missing after import",
    "Feature request: dark mode",
    "API returns error 500",
    "Printer driver does not install",
    "Refund for last month",
    "Sync with the mobile app stopped",
    "Report totals look wrong",
    "Single sign-on broken for our team",
    "Attachment upload times out",
    "zxqvault backup did not run",
]
_WORDS = (
    "account order invoice report export import screen button error page user team customer delivery "
    "payment update settings browser mobile network server login password sync file upload download "
    "chart total month week yesterday morning again still please urgent thanks"
)
WORDS = _WORDS.split()
CATEGORY_BY_WORD = {
    "log in": "authentication",
    "Password": "authentication",
    "sign-on": "authentication",
    "Invoice": "billing",
    "Refund": "billing",
    "slow": "performance",
    "How do I": "question",
    "Feature": "feature-request",
    "missing": "data",
    "totals": "data",
    "error": "bug",
    "fails": "bug",
}
PRIORITIES = ["critical", "high", "medium", "low"]
PRIORITY_WEIGHTS = [2, 13, 60, 25]
CHANNELS = ["email", "web", "api", "chat", "phone"]
CHANNEL_WEIGHTS = [60, 20, 10, 6, 4]
OPEN_MIX = ["new", "triaged", "in_progress", "awaiting_client"]
OPEN_WEIGHTS = [10, 25, 45, 20]
SLA_TARGETS = {  # first response, resolution (wall time; the seeded policies' orders of magnitude)
    "critical": (timedelta(hours=1), timedelta(hours=8)),
    "high": (timedelta(hours=4), timedelta(days=1)),
    "medium": (timedelta(hours=8), timedelta(days=3)),
    "low": (timedelta(days=1), timedelta(days=7)),
}


@dataclass
class GeneratedCase:
    id: int
    number: int
    created_at: datetime
    status: str
    priority: str
    tier: int
    customer_id: int
    organisation_id: int | None
    team_id: int | None
    assignee_id: int | None
    category_id: int | None
    subject: str
    description: str
    channel: str
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    last_customer_message_at: datetime | None = None
    last_agent_message_at: datetime | None = None
    reopen_count: int = 0


@dataclass
class World:
    """What the cases refer to: made once, read by every batch."""

    organisations: list[tuple[int, str]]  # id, tier
    customers: list[tuple[int, int | None, str]]  # id, organisation id, email
    agents_by_tier: dict[int, list[int]]
    teams_by_tier: dict[int, int]
    categories: dict[str, int]
    policy: tuple[int, str, int] | None  # id, name, calendar id
    customer_tier: dict[int, str]
    days: int = DAYS


@dataclass
class Batch:
    rng: random.Random
    fmt: Fmt
    world: World
    now: datetime
    cases: list[GeneratedCase]
    _writers: dict[tuple, RowWriter]
    _next_ids: dict[type, int]
    rows: dict[str, int] = field(default_factory=dict)
    # What one generator leaves for the next within a batch (the messages' ids for the events).
    scratch: dict[str, Any] = field(default_factory=dict)

    def write(self, model: type[models.Model], rows: Iterable[Sequence[Any]], names: Sequence[str]) -> int:
        key = (model, tuple(names))
        writer = self._writers.get(key)
        if writer is None:
            writer = self._writers[key] = RowWriter(model, names, self.fmt)
        written = writer.write(rows)
        label = model._meta.label
        self.rows[label] = self.rows.get(label, 0) + written
        return written

    def ids(self, model: type[models.Model], count: int) -> range:
        """Reserve `count` primary keys of `model` (explicit keys: children need no RETURNING)."""
        start = self._next_ids.get(model)
        if start is None:
            start = (model.objects.aggregate(m=models.Max("pk"))["m"] or 0) + 1
        self._next_ids[model] = start + count
        return range(start, start + count)


def _text(rng: random.Random, subject: str) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 40)))
    printer = " The printer is involved." if rng.random() < 0.1 else ""
    return f"Hello, {subject.lower()}. {words.capitalize()}.{printer} Thanks."


def _category(subject: str, categories: dict[str, int]) -> int | None:
    for word, slug in CATEGORY_BY_WORD.items():
        if word in subject:
            return categories.get(slug)
    return categories.get("other")


def build_world(
    n_cases: int, rng: random.Random, fmt: Fmt, now: datetime, days: int = DAYS
) -> tuple[World, dict]:
    """Organisations, domains, customers, teams, agents (ORM for the few, bulk for the many)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from casework.cases.models import Category
    from casework.people.models import AgentProfile, Customer, Organisation, OrganisationDomain, Team

    counts: dict[str, int] = {}
    started = now - timedelta(days=days)
    teams = {}
    for tier, name in ((1, "L1 Support"), (2, "L2 Support"), (3, "L3 Engineering")):
        teams[tier] = Team.objects.get_or_create(name=name, defaults={"tier_level": tier})[0].pk
    user_model = get_user_model()
    n_agents = max(12, n_cases // 10_000)
    password = make_password(None)
    agents_by_tier: dict[int, list[int]] = {1: [], 2: [], 3: []}
    existing = set(
        user_model.objects.filter(username__startswith="bench-agent-").values_list("username", flat=True)
    )
    new_users = [
        user_model(
            username=f"bench-agent-{i:04d}",
            first_name="Agent",
            last_name=f"{i:04d}",
            email=f"bench-agent-{i:04d}@casework.localhost",
            password=password,
        )
        for i in range(n_agents)
        if f"bench-agent-{i:04d}" not in existing
    ]
    user_model.objects.bulk_create(new_users, batch_size=500)
    users = dict(user_model.objects.filter(username__startswith="bench-agent-").values_list("username", "pk"))
    profiles = []
    have_profile = set(
        AgentProfile.objects.filter(user_id__in=users.values()).values_list("user_id", flat=True)
    )
    for i in range(n_agents):
        tier = 1 if i % 10 < 6 else 2 if i % 10 < 9 else 3
        uid = users[f"bench-agent-{i:04d}"]
        agents_by_tier[tier].append(uid)
        if uid not in have_profile:
            profiles.append(AgentProfile(user_id=uid, tier_level=tier, max_open_cases=40))
    AgentProfile.objects.bulk_create(profiles, batch_size=500)
    through = AgentProfile.teams.through
    by_user = dict(AgentProfile.objects.filter(user_id__in=users.values()).values_list("user_id", "pk"))
    through.objects.bulk_create(
        [
            through(agentprofile_id=by_user[uid], team_id=teams[tier])
            for tier, ids in agents_by_tier.items()
            for uid in ids
        ],
        ignore_conflicts=True,
    )
    counts["agents"] = n_agents

    n_orgs = max(40, n_cases // 2000)
    org_names = set(Organisation.objects.filter(name__startswith="Bench Org ").values_list("name", flat=True))
    orgs = []
    for i in range(n_orgs):
        if f"Bench Org {i:05d}" in org_names:
            continue
        tier = "enterprise" if i % 10 == 0 else "business" if i % 3 == 0 else "standard"
        orgs.append(
            Organisation(
                name=f"Bench Org {i:05d}", tier=tier, vip=i % 13 == 0, created_at=started, updated_at=started
            )
        )
    Organisation.objects.bulk_create(orgs, batch_size=1000)
    org_rows = list(
        Organisation.objects.filter(name__startswith="Bench Org ")
        .order_by("pk")
        .values_list("pk", "tier", "name")
    )
    have_domain = set(
        OrganisationDomain.objects.filter(organisation_id__in=[o[0] for o in org_rows]).values_list(
            "organisation_id", flat=True
        )
    )
    OrganisationDomain.objects.bulk_create(
        [
            OrganisationDomain(organisation_id=pk, domain=f"org{name[-5:]}.bench.example")
            for pk, _, name in org_rows
            if pk not in have_domain
        ],
        batch_size=1000,
    )
    counts["organisations"] = len(org_rows)

    n_customers = max(3000, n_cases // 20)
    have = Customer.objects.filter(email__endswith=".bench.example").count()
    customer_rows = []
    ids = range((Customer.objects.aggregate(m=models.Max("pk"))["m"] or 0) + 1, 10**12)
    for k, i in enumerate(range(have, n_customers)):
        if rng.random() < 0.7:
            org_id, _, name = org_rows[rng.randrange(len(org_rows))]
            domain = f"org{name[-5:]}.bench.example"
        else:
            org_id, domain = None, "freemail.bench.example"
        customer_rows.append(
            (
                ids[k],
                f"Customer {i:07d}",
                f"customer{i:07d}@{domain}",
                org_id,
                fmt.dt(started),
                fmt.dt(started),
            )
        )
    writer = RowWriter(Customer, ["id", "name", "email", "organisation_id", "created_at", "updated_at"], fmt)
    for start in range(0, len(customer_rows), 20_000):
        writer.write(customer_rows[start : start + 20_000])
    customers = list(
        Customer.objects.filter(email__endswith=".bench.example").values_list(
            "pk", "organisation_id", "email"
        )
    )
    counts["customers"] = len(customers)
    _reset_sequences([Customer])

    from casework.sla.models import Policy

    policy = (
        Policy.objects.filter(active=True).order_by("order").values_list("pk", "name", "calendar_id").first()
    )
    world = World(
        organisations=[(pk, tier) for pk, tier, _ in org_rows],
        customers=customers,
        agents_by_tier=agents_by_tier,
        teams_by_tier=teams,
        categories=dict(Category.objects.values_list("slug", "pk")),
        policy=policy,
        customer_tier={pk: tier for pk, tier, _ in org_rows},
        days=days,
    )
    return world, counts


def _case_times(n: int, rng: random.Random, now: datetime, days: int = DAYS) -> list[datetime]:
    """n creation times over the last `days` days, volume growing linearly (3× from start to end)."""
    times = []
    for _ in range(n):
        # Inverse CDF of a density rising linearly from 1 to 3 over [0, 1].
        u = rng.random()
        x = (-1 + (1 + 8 * u) ** 0.5) / 2
        times.append(now - timedelta(days=days) + timedelta(seconds=x * days * 86400))
    times.sort()
    return times


def _make_case(
    rng: random.Random, world: World, now: datetime, number: int, pk: int, at: datetime
) -> GeneratedCase:
    subject = rng.choice(SUBJECTS)
    priority = rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]
    customer_id, org_id, _ = world.customers[rng.randrange(len(world.customers))]
    age = now - at
    tier = 3 if rng.random() < 0.03 else 2 if rng.random() < 0.1 else 1
    if age < timedelta(days=OPEN_DAYS) and rng.random() < 1 - age / timedelta(days=OPEN_DAYS) * 0.8:
        status = rng.choices(OPEN_MIX, OPEN_WEIGHTS)[0]
    else:
        status = "closed" if rng.random() < 0.85 else "resolved"
    first_target, resolution_target = SLA_TARGETS[priority]
    first_response_at = resolved_at = closed_at = None
    if status not in ("new", "triaged"):
        first_response_at = min(now, at + first_target * rng.uniform(0.05, 1.3))
    if status in ("resolved", "closed"):
        resolved_at = min(now, at + resolution_target * rng.uniform(0.1, 1.4))
        if status == "closed":
            closed_at = min(now, resolved_at + timedelta(days=rng.uniform(0.5, 7)))
    reopen_count = int(resolved_at is not None and rng.random() < REOPEN_SHARE)
    assignee = None
    if status not in ("new",) and rng.random() < 0.95:
        assignee = rng.choice(world.agents_by_tier[tier] or world.agents_by_tier[1])
    return GeneratedCase(
        id=pk,
        number=number,
        created_at=at,
        status=status,
        priority=priority,
        tier=tier,
        customer_id=customer_id,
        organisation_id=org_id,
        team_id=world.teams_by_tier[tier] if status != "new" else None,
        assignee_id=assignee,
        category_id=_category(subject, world.categories) if status != "new" else None,
        subject=subject,
        description=_text(rng, subject),
        channel=rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0],
        first_response_at=first_response_at,
        resolved_at=resolved_at,
        closed_at=closed_at,
        reopen_count=reopen_count,
    )


CASE_COLUMNS = [
    "id", "number", "reference", "public_token", "subject", "description", "customer_id",
    "organisation_id", "channel", "category_id", "priority", "status", "tier", "team_id", "assignee_id",
    "sentiment", "frustrated",
    "created_at", "updated_at", "first_response_at", "resolved_at", "closed_at",
    "last_customer_message_at", "last_agent_message_at", "reopen_count",
]  # fmt: skip


def _write_cases(batch: Batch, prefix: str) -> None:
    from casework.cases.models import Case

    fmt, rng = batch.fmt, batch.rng
    rows = []
    for c in batch.cases:
        sentiment = round(rng.uniform(-0.9, 0.9), 3)
        updated = c.closed_at or c.resolved_at or c.first_response_at or c.created_at
        rows.append(
            (
                c.id, c.number, f"{prefix}-{c.number:06d}", f"bench{c.number:012d}{rng.getrandbits(64):016x}",
                c.subject, c.description, c.customer_id, c.organisation_id, c.channel, c.category_id,
                c.priority, c.status, c.tier, c.team_id, c.assignee_id, sentiment, fmt.b(sentiment < -0.6),
                fmt.dt(c.created_at), fmt.dt(updated), fmt.dt(c.first_response_at), fmt.dt(c.resolved_at),
                fmt.dt(c.closed_at), fmt.dt(c.last_customer_message_at), fmt.dt(c.last_agent_message_at),
                c.reopen_count,
            )
        )  # fmt: skip
    batch.write(Case, rows, CASE_COLUMNS)


# --------------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------------


@dataclass
class Result:
    cases: int
    seconds: float
    rows: dict[str, int]
    people: dict[str, int]
    vendor: str
    phases: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "cases": self.cases,
            "seconds": round(self.seconds, 1),
            "cases_per_s": round(self.cases / self.seconds) if self.seconds else None,
            "rows": self.rows,
            "people": self.people,
            "database": self.vendor,
            "phases": self.phases,
        }


def _reset_sequences(models_: list[type[models.Model]]) -> None:
    """PostgreSQL identity sequences past the explicit keys we wrote (SQLite needs nothing)."""
    if connection.vendor != "postgresql":
        return
    from django.core.management.color import no_style

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models_):
            cursor.execute(sql)


def _bulk_models() -> list[type[models.Model]]:
    """The tables the built-in generators fill (the ones whose secondary indexes a big load rebuilds)."""
    from casework.cases.models import Case, CaseEvent, Message
    from casework.routing.models import TierHistory
    from casework.sla.models import Breach, CaseClock, ClockLedgerEntry

    return [Case, Message, CaseEvent, CaseClock, ClockLedgerEntry, Breach, TierHistory]


# Below this many new cases (or when the tables already hold more than the load adds) the indexes stay:
# rebuilding them costs in proportion to the whole table, maintaining them only to the rows added.
REBUILD_INDEXES_FROM = 50_000


def generate(
    n_cases: int,
    *,
    seed: int = 20,
    batch_size: int = 5000,
    days: int = DAYS,
    rebuild_indexes: bool | None = None,
    progress: Callable[[int], None] | None = None,
) -> Result:
    """Add `n_cases` generated cases (with everything that hangs off them) to the configured database.

    `rebuild_indexes` (default: when adding at least REBUILD_INDEXES_FROM cases and at least as many as
    there are) drops the non-unique secondary indexes of the bulk tables for the load and builds them
    again at the end, in one sorted pass each; unique indexes and keys stay, so a generator bug still
    fails. If the process is killed in between, the database is left without those indexes: it is
    generated data for measuring, and the next run of the generator puts them back (see `_indexes_saved`).
    """
    from django.conf import settings

    from casework.cases.models import Case
    from casework.core.models import Counter

    if days < 1:
        raise ValueError("days must be at least 1")
    rng = random.Random(seed)
    fmt = Fmt(connection.vendor)
    now = datetime.now(UTC)
    started = time.perf_counter()
    cpu_started = time.process_time()
    plugins = generators()
    bulk = _bulk_models()
    load.restore_saved_indexes()
    if rebuild_indexes is None:
        rebuild_indexes = n_cases >= REBUILD_INDEXES_FROM and n_cases >= Case.objects.count()
    timings: dict[str, float] = {}
    fast = load.fast_load_begin()
    dropped: list[tuple[str, str]] = []
    try:
        world, people = build_world(n_cases, rng, fmt, now, days)
        prefix = settings.CASEWORK["REFERENCE_PREFIX"]
        times = _case_times(n_cases, rng, now, days)
        if rebuild_indexes:
            dropped = load.drop_indexes(bulk)
        no_fk_triggers = load.fk_triggers_off()
        writers: dict[tuple, RowWriter] = {}
        next_ids: dict[type, int] = {}
        totals: dict[str, int] = {}
        load_started = time.perf_counter()
        try:
            for start in range(0, n_cases, batch_size):
                chunk = times[start : start + batch_size]
                with transaction.atomic():
                    numbers = Counter.next_values("case", len(chunk))
                    batch = Batch(rng, fmt, world, now, [], writers, next_ids)
                    case_ids = batch.ids(Case, len(chunk))
                    batch.cases = [
                        _make_case(rng, world, now, number, pk, at)
                        for number, pk, at in zip(numbers, case_ids, chunk, strict=True)
                    ]
                    # The cases go in after the generators that fill in their fields (the messages: the
                    # last message times); foreign keys are checked at commit on both databases.
                    written = False
                    for plugin in plugins:
                        if not written and plugin.order > CASES_ORDER:
                            _write_cases(batch, prefix)
                            written = True
                        plugin.func(batch)
                    if not written:
                        _write_cases(batch, prefix)
                for label, count in batch.rows.items():
                    totals[label] = totals.get(label, 0) + count
                if progress:
                    progress(len(chunk))
        finally:
            if no_fk_triggers:
                load.fk_triggers_on()
        timings["rows_s"] = round(time.perf_counter() - load_started, 1)
        _reset_sequences(bulk)
    finally:
        if dropped:
            t0 = time.perf_counter()
            load.create_indexes(dropped)
            timings["index_rebuild_s"] = round(time.perf_counter() - t0, 1)
        load.fast_load_end(fast)
    t0 = time.perf_counter()
    load.analyze()
    timings["analyze_s"] = round(time.perf_counter() - t0, 1)
    timings["indexes_rebuilt"] = len(dropped)
    timings["fk_checks_skipped"] = bool(no_fk_triggers)
    # This process's CPU time: on a shared machine, what the load itself cost (the database server's
    # work on PostgreSQL is not in it).
    timings["generator_cpu_s"] = round(time.process_time() - cpu_started, 1)
    result = Result(n_cases, time.perf_counter() - started, totals, people, connection.vendor)
    result.phases = timings
    return result
