"""Chaos scenarios: real `casework` processes SIGKILLed right after a write committed, then the database read
as it is — no repair step — to prove the write's reactions (triage, owner, clocks, the reply email as an
outbox row) were committed with it (DESIGN.md §3, issue 12).

The pieces, used by `tests/test_crash_reactions.py` (`make chaos` runs it `CASEWORK_CHAOS_RUNS` times):

- `DatabaseTemplate`: migrated and seeded once per test session — a SQLite file, or, when the test run's
  `DATABASE_URL` is PostgreSQL, a database on that server — and copied per scenario (`copy`): a SQLite
  backup, or `CREATE DATABASE … TEMPLATE`, dropped afterwards.
- `seed()`: what makes the reactions visible — L1/L2 teams, agents with capacity, two organisations,
  customers, and a few cases already triaged and in progress. Triage rules and SLA policies come from the
  migrations. Runs inside a `casework shell`.
- `Database`: plain SQL reads on either backend (the tests read rows, not ORM objects, so they see exactly
  what was committed).
- `run_until_killed`: run a command with `CASEWORK_CRASH_AT` set; assert it died by SIGKILL at that point.
- `api_command`: a process that makes API calls through Django's test client (`api_call.py`).
- `deliver`: run a real `casework worker` against an SMTP sink until the mail arrived, then a few more poll
  intervals, and check it arrived exactly once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .processes import casework_command, casework_env, run_casework, start_worker, stop_worker, wait_until


def chaos_runs() -> int:
    """How often each scenario runs: `CASEWORK_CHAOS_RUNS` (1 in `make test`, 20 in `make chaos`)."""
    value = os.environ.get("CASEWORK_CHAOS_RUNS", "1").strip() or "1"
    runs = int(value)
    if runs < 1:
        raise ValueError(f"CASEWORK_CHAOS_RUNS must be at least 1, not {value!r}")
    return runs


# Fixed so the test can verify the signed Message-ID of the reply it receives (intake.identity.signing_key).
SECRET_KEY = "casework-chaos-tests-signing-secret"
SUPPORT_ADDRESS = "support@chaos.test"
# Short lease and polls: a worker killed mid-send is replaced within seconds, not a minute.
OUTBOX_LEASE_SECONDS = 1
OUTBOX_POLL_SECONDS = 0.1

# --------------------------------------------------------------------------------------------------
# seed data (see `seed`)
# --------------------------------------------------------------------------------------------------

API_USER = "ana"
TEAMS = {"L1 Support": 1, "L2 Support": 2}
# username, first name, tier, team
AGENTS = (("ana", "Ana", 1, "L1 Support"), ("ben", "Ben", 1, "L1 Support"), ("cleo", "Cleo", 2, "L2 Support"))
AGENTS_BY_TIER = {tier: {a[0] for a in AGENTS if a[2] == tier} for tier in TEAMS.values()}
# name, tier, VIP, domain
ORGANISATIONS = (
    ("Northwind", "business", False, "northwind.test"),
    ("Contoso", "enterprise", True, "contoso.test"),
)
CUSTOMERS = (
    ("Nora North", "nora@northwind.test"),
    ("Carl Contoso", "carl@contoso.test"),
    ("Pat Private", "pat@example.test"),
)


@dataclass(frozen=True)
class Text:
    """A case text and what the default triage rules (triage/default_rules.py) make of it."""

    subject: str
    body: str
    category: str | None  # the category a rule sets; None: no rule matches, the case stays New
    tier: int = 1  # the tier it ends at (a data-loss report is escalated to L2)
    priority: str = "medium"


CLASSIFIED = (
    Text("Cannot log in", "Cannot log in, the password reset link fails every time.", "authentication"),
    Text(
        "Charged twice",
        "We were charged twice for the March invoice, please refund one of them.",
        "billing",
    ),
    Text(
        "Contacts gone",
        "Data missing after yesterday's import: half of our contacts are gone.",
        "data",
        tier=2,
        priority="high",
    ),
    Text("Export crashes", "The CSV export crashes with error 500 when I pick last year.", "bug"),
    Text("Reports page", "The reports page is very slow, it takes 40 seconds to load.", "performance"),
    Text("Second admin", "How do I add a second administrator to our workspace?", "question", priority="low"),
)
UNCLASSIFIED = (
    Text("Thank you", "Thanks for the lovely meeting on Tuesday, see you next month.", None),
    Text("Office move", "Please note our new postal address from the first of June.", None),
)

# Cases the seed prepares for the reply and status-change scenarios (customer index, text index).
PREPARED_TRIAGED = ((0, 0), (1, 3), (2, 1), (0, 4))
PREPARED_IN_PROGRESS = ((1, 0), (0, 3), (2, 4), (1, 1))


def seed() -> dict[str, Any]:
    """Run inside a configured casework process (`casework shell -c`); returns the prepared cases."""
    from django.contrib.auth import get_user_model

    from casework.cases import services
    from casework.people.models import AgentProfile, Organisation, OrganisationDomain, Team

    teams = {name: Team.objects.create(name=name, tier_level=tier) for name, tier in TEAMS.items()}
    users = {}
    for username, first, tier, team in AGENTS:
        user = get_user_model().objects.create(
            username=username, first_name=first, email=f"{username}@chaos.test", is_active=True
        )
        user.set_unusable_password()
        user.save(update_fields=["password"])
        # The API client is an integration account: a manager, so it may write to every team's cases.
        role = "manager" if username == API_USER else "agent"
        AgentProfile.objects.create(user=user, tier_level=tier, max_open_cases=50, role=role).teams.add(
            teams[team]
        )
        users[username] = user
    for name, tier, vip, domain in ORGANISATIONS:
        org = Organisation.objects.create(name=name, tier=tier, vip=vip)
        OrganisationDomain.objects.create(organisation=org, domain=domain)

    def open_prepared(spec: tuple[int, int]):
        customer, text = CUSTOMERS[spec[0]], CLASSIFIED[spec[1]]
        return services.case_open_for_contact(
            customer_email=customer[1],
            customer_name=customer[0],
            subject=text.subject,
            description=text.body,
            channel="email",
        )

    triaged = [open_prepared(spec) for spec in PREPARED_TRIAGED]
    in_progress = []
    for spec in PREPARED_IN_PROGRESS:
        case = open_prepared(spec)
        services.case_transition(case=case, to="in_progress", actor=users[API_USER], reason="Looking into it")
        in_progress.append(case)
    # The seed's own notifications (the prepared cases' assignments) count as delivered: each scenario
    # counts the mail it causes itself.
    from casework.notify.models import Outbox

    Outbox.objects.filter(status="pending").update(status="sent")
    return {"triaged": [c.reference for c in triaged], "in_progress": [c.reference for c in in_progress]}


SEED_SOURCE = "import json; from casework.testing.chaos import seed; print(json.dumps(seed()))"

# --------------------------------------------------------------------------------------------------
# databases
# --------------------------------------------------------------------------------------------------

JSON_COLUMNS = frozenset({"old", "new", "data", "meta", "headers", "to", "cc", "custom_fields"})


def is_postgres(url: str | None) -> bool:
    return bool(url) and urlsplit(url).scheme in {"postgres", "postgresql", "pgsql"}


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@dataclass
class Database:
    """One scenario's database, read with plain SQL (`?` placeholders on both backends)."""

    url: str
    path: Path | None = None  # the SQLite file

    @property
    def postgres(self) -> bool:
        return self.path is None

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Any]:
        if self.postgres:
            import psycopg
            from psycopg.rows import dict_row

            with psycopg.connect(self.url, autocommit=True, row_factory=dict_row) as con:
                yield con
        else:
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            con.row_factory = sqlite3.Row
            try:
                yield con
            finally:
                con.close()

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        if self.postgres:
            sql = sql.replace("?", "%s")
        with self._connect() as con:
            found = [dict(row) for row in con.execute(sql, params).fetchall()]
        if not self.postgres:
            for row in found:
                for name, value in row.items():
                    if name in JSON_COLUMNS and isinstance(value, str):
                        row[name] = json.loads(value)
        return found

    def one(self, sql: str, *params: Any) -> dict[str, Any] | None:
        found = self.rows(sql, *params)
        assert len(found) <= 1, f"expected at most one row, got {len(found)}: {sql}"
        return found[0] if found else None

    def value(self, sql: str, *params: Any) -> Any:
        row = self.one(sql, *params)
        return None if row is None else next(iter(row.values()))


def _pg_admin(server_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as con:
        con.execute(statement)


@dataclass
class DatabaseTemplate:
    """A migrated, seeded database that scenarios copy. `server_url` is a PostgreSQL URL (any database on
    the server, used for CREATE/DROP DATABASE) or None for SQLite files under `directory`."""

    directory: Path
    server_url: str | None = None
    name: str = field(default_factory=lambda: f"cw_chaos_template_{uuid.uuid4().hex[:10]}")
    token: str = ""
    prepared: dict[str, list[str]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        if self.server_url:
            return _with_database(self.server_url, self.name)
        return f"sqlite:///{self.directory / 'template.sqlite3'}"

    def env(self, url: str, var_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return casework_env(
            var_dir,
            url,
            {"CASEWORK_SECRET_KEY": SECRET_KEY, "CASEWORK_SUPPORT_ADDRESS": SUPPORT_ADDRESS, **(extra or {})},
        )

    def build(self) -> None:
        if self.server_url:
            _pg_admin(self.server_url, f'CREATE DATABASE "{self.name}"')
        env = self.env(self.url, self.directory)
        run_casework(env, "migrate", "--noinput", "-v", "0")
        self.prepared = json.loads(run_casework(env, "shell", "-c", SEED_SOURCE).strip().splitlines()[-1])
        self.token = run_casework(env, "create-token", API_USER, "--name", "chaos").strip()

    def drop(self) -> None:
        if self.server_url:
            _pg_admin(self.server_url, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    @contextlib.contextmanager
    def copy(self, directory: Path) -> Iterator[Database]:
        """A fresh copy for one scenario: a SQLite file in `directory`, or a PostgreSQL database dropped
        on exit (processes still connected to it are disconnected)."""
        if not self.server_url:
            target = directory / "chaos.sqlite3"
            with (
                contextlib.closing(sqlite3.connect(self.directory / "template.sqlite3")) as source,
                contextlib.closing(sqlite3.connect(target)) as copy,
            ):
                source.backup(copy)
            yield Database(url=f"sqlite:///{target}", path=target)
            return
        name = f"cw_chaos_{uuid.uuid4().hex[:12]}"
        _pg_admin(self.server_url, f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"')
        try:
            yield Database(url=_with_database(self.server_url, name))
        finally:
            _pg_admin(self.server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def database_template(directory: Path, database_url: str | None = None) -> Iterator[DatabaseTemplate]:
    """The template for this test run: on the PostgreSQL server of `database_url` when it names one,
    else a SQLite file."""
    template = DatabaseTemplate(
        directory=directory, server_url=database_url if is_postgres(database_url) else None
    )
    try:
        template.build()
        yield template
    finally:
        template.drop()


# --------------------------------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------------------------------


def mail_settings(smtp_port: int) -> dict[str, str]:
    """Environment for processes that deliver mail to the SMTP sink on `smtp_port` (the worker)."""
    return {
        "CASEWORK_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "CASEWORK_SMTP_HOST": "127.0.0.1",
        "CASEWORK_SMTP_PORT": str(smtp_port),
        "CASEWORK_OUTBOX_LEASE_SECONDS": str(OUTBOX_LEASE_SECONDS),
        "CASEWORK_OUTBOX_POLL_SECONDS": str(OUTBOX_POLL_SECONDS),
        "CASEWORK_SCHEDULER_TICK_SECONDS": "0.5",
    }


def api_command(token: str) -> list[str]:
    """A process making the API calls given as JSON on stdin (see `api_call.py`)."""
    return [sys.executable, "-m", "casework.testing.api_call", token]


def api_requests(*calls: tuple[str, str, dict]) -> str:
    return json.dumps([{"method": m, "path": p, "body": b} for m, p, b in calls])


@dataclass
class Killed:
    stdout: str
    stderr: str

    def responses(self) -> list[dict]:
        """The JSON lines a process printed before it died (api_call prints one per answered call)."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]


def run_until_killed(
    env: Mapping[str, str],
    command: Sequence[str],
    *,
    crash_at: str,
    door: str,
    after: int = 0,
    stdin: str | bytes | None = None,
    timeout: float = 120,
) -> Killed:
    """Run `command` with `CASEWORK_CRASH_AT=crash_at` (and `CASEWORK_CRASH_AFTER=after`); assert that it
    killed itself with SIGKILL right after the commit of the write labelled `door`."""
    data = stdin.encode() if isinstance(stdin, str) else stdin
    done = subprocess.run(
        list(command),
        env={**env, "CASEWORK_CRASH_AT": crash_at, "CASEWORK_CRASH_AFTER": str(after)},
        input=data,
        capture_output=True,
        timeout=timeout,
    )
    stdout, stderr = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    assert done.returncode == -signal.SIGKILL, (
        f"{' '.join(command[:4])} exited with {done.returncode}, not by SIGKILL at {crash_at}:\n"
        f"stdout: {stdout[-2000:]}\nstderr: {stderr[-3000:]}"
    )
    line = f"casework: crash point after_commit:{door} reached, SIGKILL"
    assert line in stderr, f"expected {line!r} on stderr:\n{stderr[-3000:]}"
    return Killed(stdout, stderr)


def ingest_command() -> list[str]:
    return casework_command("ingest-email", "-")


def customer_mail(*, sender: tuple[str, str], subject: str, body: str, to: str = SUPPORT_ADDRESS) -> bytes:
    mail = EmailMessage()
    mail["From"] = f"{sender[0]} <{sender[1]}>"
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain=sender[1].rpartition("@")[2])
    mail["Date"] = "Tue, 04 Jun 2024 09:30:00 +0000"
    mail.set_content(body)
    return bytes(mail)


def deliver(
    env: Mapping[str, str],
    sink: Any,
    log: Path,
    *,
    expected: int,
    until: Any,
    linger: float = 10 * OUTBOX_POLL_SECONDS,
    timeout: float = 60,
) -> list[tuple[str, list[str], bytes]]:
    """Start a `casework worker`, wait for `expected` mails at the sink and for `until()` to hold (the rows
    marked sent), keep it running `linger` seconds more — a second delivery would show up — stop it
    (SIGTERM, exit 0) and return the messages, asserting there are exactly `expected`."""
    worker = start_worker(env, log)
    try:
        sink.wait_for(expected, timeout=timeout)
        wait_until(until, timeout=timeout, what="the outbox rows to be marked sent")
        time.sleep(linger)
    finally:
        code = stop_worker(worker)
    assert code == 0, f"worker exited with {code}:\n{log.read_text()[-3000:]}"
    messages = list(sink.messages)
    assert len(messages) == expected, f"{len(messages)} mails arrived, expected {expected} (a duplicate?)"
    return messages


def start_doomed_worker(env: Mapping[str, str], log: Path) -> int:
    """A worker with `CASEWORK_CRASH_AT=smtp_mid_send`: it dies in the SMTP conversation; its exit code."""
    doomed = start_worker({**env, "CASEWORK_CRASH_AT": "smtp_mid_send"}, log)
    try:
        return doomed.wait(timeout=60)
    finally:
        stop_worker(doomed)
