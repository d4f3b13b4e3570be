"""Helpers shared by the benchmarks (not a benchmark itself: run.py only runs ``bench_*.py``).

* ``setup_team()``: the support team every benchmark install gets — L1/L2/L3 teams with agents, tiers and
  skills matching the seeded categories — so auto-assignment really runs on each new case;
* ``reactions(...)``: run a block with every case reaction (the default), none, or only some of them,
  through ``casework.cases.pipeline.only`` when the installed code has it, else today's after-commit hooks;
* ``reaction_counts()``: how many cases show each reaction's trace (priority set by rules, triaged, SLA
  clocks, assigned…), read with plain SQL so it works on any SQLite file;
* ``StatementLog``: every SQL statement a block runs, with transactions and savepoints told apart;
* ``peer_module()`` (the peer harness, imported read-only for its generators) and ``setup_django()``
  (an in-process benchmark on a fresh SQLite file in a temp var dir).

Everything here imports Django lazily: ``bench_api.py`` imports this module without Django set up and runs
``setup_team`` inside ``casework shell`` of the install under test.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PEER_BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench" / "peer-django-helpdesk" / "bench.py"


def peer_module():
    """The peer harness as a module (its mail and ticket generators), without copying its code."""
    spec = importlib.util.spec_from_file_location("peer_dh_bench", PEER_BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def setup_django(var_dir: str, database_url: str = "") -> None:
    """Django on a fresh SQLite file in `var_dir` (or the empty database at `database_url`), migrated;
    outgoing mail is queued, never delivered."""
    os.environ["CASEWORK_VAR_DIR"] = var_dir
    os.environ["CASEWORK_MEDIA_DIR"] = str(Path(var_dir) / "media")
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{Path(var_dir) / 'casework.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casework.settings")
    os.environ.setdefault("CASEWORK_LOG_LEVEL", "WARNING")
    os.environ["CASEWORK_EMAIL_BACKEND"] = "django.core.mail.backends.dummy.EmailBackend"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


# --------------------------------------------------------------------------------------------------
# the support team
# --------------------------------------------------------------------------------------------------

TEAMS = [
    ("L1 Support", 1, "First line: every new case lands here."),
    ("L2 Support", 2, "Product specialists."),
    ("L3 Engineering", 3, "Engineers on support rotation."),
]
# username, first, last, tier, team, skills (category slugs as seeded by cases/0002, level 0.1–1.0)
AGENTS = [
    ("l1-ana", "Ana", "Lopez", 1, "L1 Support", {"authentication": 1.0, "question": 0.8}),
    ("l1-ben", "Ben", "Carter", 1, "L1 Support", {"billing": 1.0, "question": 0.6}),
    ("l1-chloe", "Chloe", "Martin", 1, "L1 Support", {"bug": 0.6, "performance": 0.5}),
    ("l1-dara", "Dara", "Quinn", 1, "L1 Support", {"question": 1.0, "feature-request": 0.7}),
    ("l1-emre", "Emre", "Yilmaz", 1, "L1 Support", {"authentication": 0.7, "bug": 0.5}),
    ("l1-fay", "Fay", "Wong", 1, "L1 Support", {"data": 0.5, "billing": 0.6}),
    ("l2-dev", "Dev", "Sharma", 2, "L2 Support", {"data": 1.0, "bug": 0.8}),
    ("l2-eva", "Eva", "Lindqvist", 2, "L2 Support", {"performance": 1.0, "bug": 0.9}),
    ("l2-gus", "Gus", "Berg", 2, "L2 Support", {"authentication": 0.9, "data": 0.7}),
    ("l3-felix", "Felix", "Bauer", 3, "L3 Engineering", {"bug": 1.0, "data": 1.0, "performance": 1.0}),
    ("l3-hana", "Hana", "Sato", 3, "L3 Engineering", {"performance": 0.9, "authentication": 0.8}),
]


def agent_capacity(cases: int) -> int:
    """max_open_cases per agent so that every case of a run can be assigned: nobody works or closes cases
    during a benchmark, so a real capacity (20–40) would be full after a few hundred creates and every
    later case would take the "nobody can take it" path instead of the assignment."""
    per_l1_agent = -(-max(cases, 1) // sum(1 for a in AGENTS if a[3] == 1))
    return max(40, 2 * per_l1_agent)


def setup_team(capacity: int = 40, *, prefix: str = "") -> dict[str, int]:
    """Create the teams, agents (with profiles, tiers, skills) and team leads; idempotent. Runs inside a
    configured Django (``casework shell -c`` or a benchmark process). `prefix` makes another roster of
    the same agents (the big-install seeding uses one). Returns counts for the record."""
    from django.contrib.auth import get_user_model

    from casework.people.models import AgentProfile, AgentSkill, Skill, Team

    user_model = get_user_model()
    teams = {
        name: Team.objects.get_or_create(name=name, defaults={"tier_level": tier, "description": text})[0]
        for name, tier, text in TEAMS
    }
    skills: dict[str, Any] = {}
    for username, first, last, tier, team, wanted in AGENTS:
        user, _ = user_model.objects.get_or_create(
            username=prefix + username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{prefix}{username}@casework.localhost",
            },
        )
        profile, _ = AgentProfile.objects.get_or_create(
            user=user, defaults={"tier_level": tier, "max_open_cases": capacity}
        )
        profile.teams.add(teams[team])
        for name, level in wanted.items():
            if name not in skills:
                skills[name] = Skill.objects.get_or_create(name=name)[0]
            AgentSkill.objects.get_or_create(agent=profile, skill=skills[name], defaults={"level": level})
        if teams[team].lead_id is None:
            teams[team].lead = user
            teams[team].save(update_fields=["lead"])
    return {"teams": len(teams), "agents": len(AGENTS), "skills": len(skills), "capacity": capacity}


def leave_teams(prefix: str) -> int:
    """Take the roster made with `prefix` off every team (and off team leads): its agents keep the cases
    they own but take no new ones. Returns how many memberships ended."""
    from casework.people.models import AgentProfile, Team

    Team.objects.filter(lead__username__startswith=prefix).update(lead=None)
    memberships = AgentProfile.teams.through.objects.filter(agentprofile__user__username__startswith=prefix)
    return memberships.delete()[0]


def setup_team_source(capacity: int, bench_dir: Path) -> str:
    """Python for ``casework shell -c``: import this module from bench/ and set the team up."""
    return (
        f"import json, sys; sys.path.insert(0, {str(bench_dir)!r})\n"
        f"import benchlib; print(json.dumps(benchlib.setup_team(capacity={capacity})))\n"
    )


# --------------------------------------------------------------------------------------------------
# which reactions run
# --------------------------------------------------------------------------------------------------


def reaction_mechanism() -> str:
    """'pipeline' when the code has casework.cases.pipeline.only, else 'hooks' (after-commit handlers)."""
    try:
        from casework.cases import pipeline
    except ImportError:
        return "hooks"
    return "pipeline" if hasattr(pipeline, "only") else "hooks"


@contextlib.contextmanager
def reactions(*stages: str, none: bool = False) -> Iterator[str]:
    """Run the block with every reaction (no arguments), with none (``none=True``), or with only the named
    pipeline stages. Yields the mechanism used. Before casework.cases.pipeline exists, "none" detaches the
    after-commit hook dispatch for the block (the old harness's way) and naming stages is refused."""
    if not none and not stages:
        yield reaction_mechanism()
        return
    if reaction_mechanism() == "pipeline":
        from casework.cases import pipeline

        with pipeline.only(*stages):
            yield "pipeline"
        return
    if stages:
        raise RuntimeError("this casework has no casework.cases.pipeline: only all or no reactions")
    from casework.cases import hooks

    attached = hooks.dispatch_on_commit
    hooks.dispatch_on_commit = lambda event: None
    try:
        yield "hooks"
    finally:
        hooks.dispatch_on_commit = attached


# --------------------------------------------------------------------------------------------------
# proof that the reactions ran
# --------------------------------------------------------------------------------------------------


def reaction_counts(db: Path | str, *, since_case_id: int = 0) -> dict[str, Any]:
    """How many cases (id > since_case_id) carry the trace of each reaction, from the SQLite file.

    Plain SQL on the tables as they are today; a count whose table is missing is None. "priority by
    rules" counts cases whose priority a rule changed (a `priority_changed` event by a rule actor, or a
    rule firing that set it); "triaged" cases that left `new` or got a category."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}

        def one(sql: str, *need: str) -> int | None:
            if any(t not in tables for t in need):
                return None
            return con.execute(sql, (since_case_id,)).fetchone()[0]

        out: dict[str, Any] = {
            "cases": one("SELECT COUNT(*) FROM cases_case WHERE id > ?", "cases_case"),
            "priority_set_by_rules": one(
                "SELECT COUNT(DISTINCT case_id) FROM cases_caseevent WHERE case_id > ? "
                "AND kind = 'priority_changed' AND actor_label LIKE 'rule:%'",
                "cases_caseevent",
            ),
            "rules_matched": one(
                "SELECT COUNT(DISTINCT case_id) FROM cases_caseevent WHERE case_id > ? "
                "AND kind = 'rule_applied'",
                "cases_caseevent",
            ),
            "categorised": one(
                "SELECT COUNT(*) FROM cases_case WHERE id > ? AND category_id IS NOT NULL", "cases_case"
            ),
            "triaged": one("SELECT COUNT(*) FROM cases_case WHERE id > ? AND status != 'new'", "cases_case"),
            "sentiment_scored": one(
                "SELECT COUNT(*) FROM cases_case WHERE id > ? AND sentiment IS NOT NULL", "cases_case"
            ),
            "with_sla_clocks": one(
                "SELECT COUNT(DISTINCT case_id) FROM sla_caseclock WHERE case_id > ?", "sla_caseclock"
            ),
            "with_tier_history": one(
                "SELECT COUNT(DISTINCT case_id) FROM routing_tierhistory WHERE case_id > ?",
                "routing_tierhistory",
            ),
            "with_team": one(
                "SELECT COUNT(*) FROM cases_case WHERE id > ? AND team_id IS NOT NULL", "cases_case"
            ),
            "assigned": one(
                "SELECT COUNT(*) FROM cases_case WHERE id > ? AND assignee_id IS NOT NULL", "cases_case"
            ),
            "left_in_queue_notes": one(
                "SELECT COUNT(DISTINCT case_id) FROM cases_caseevent WHERE case_id > ? "
                "AND kind = 'note' AND actor_label = 'routing'",
                "cases_caseevent",
            ),
        }
        if "cases_case" in tables:
            out["by_status"] = dict(
                con.execute(
                    "SELECT status, COUNT(*) FROM cases_case WHERE id > ? GROUP BY status ORDER BY 2 DESC",
                    (since_case_id,),
                ).fetchall()
            )
            out["by_priority"] = dict(
                con.execute(
                    "SELECT priority, COUNT(*) FROM cases_case WHERE id > ? GROUP BY priority "
                    "ORDER BY 2 DESC",
                    (since_case_id,),
                ).fetchall()
            )
            out["assignees"] = con.execute(
                "SELECT COUNT(DISTINCT assignee_id) FROM cases_case WHERE id > ?", (since_case_id,)
            ).fetchone()[0]
        if "notify_outbox" in tables:
            out["outbox_rows"] = con.execute("SELECT COUNT(*) FROM notify_outbox").fetchone()[0]
        return out
    finally:
        con.close()


# --------------------------------------------------------------------------------------------------
# counting statements
# --------------------------------------------------------------------------------------------------

_LITERALS = [
    (re.compile(r"'(?:[^']|'')*'"), "?"),
    (re.compile(r"\b\d+(?:\.\d+)?\b"), "?"),
    (re.compile(r'"s\d+_x\d+"'), '"<savepoint>"'),
    (re.compile(r"\s+"), " "),
]
_SELECT_LIST = re.compile(r"^SELECT (?:DISTINCT )?(.{80,}?) FROM ")
_INSERT = re.compile(r'^INSERT INTO ("\w+") \(.*?\) (?:VALUES|SELECT) .*?( RETURNING .*)?$')
_SET_LIST = re.compile(r"^UPDATE (\"\w+\") SET (.+?) WHERE ")


def statement_shape(sql: str) -> str:
    """The SQL with literals folded and long column lists shortened ("SELECT … FROM", "INSERT INTO t (…)",
    "SET <n columns>"), so repeats of one query count together and the table stays readable."""
    for pattern, repl in _LITERALS:
        sql = pattern.sub(repl, sql)
    sql = sql.strip()
    sql = _SELECT_LIST.sub("SELECT … FROM ", sql, count=1)
    sql = _INSERT.sub(
        lambda m: f"INSERT INTO {m.group(1)} (…) VALUES (…){' RETURNING …' if m.group(2) else ''}", sql
    )
    sql = _SET_LIST.sub(
        lambda m: (
            f"UPDATE {m.group(1)} SET <{m.group(2).count('=')} columns> WHERE "
            if m.group(2).count("=") >= 4  # a whole-row save(), not a targeted update
            else m.group(0)
        ),
        sql,
    )
    return sql[:200]


def statement_kind(sql: str) -> str:
    head = sql.lstrip().split(None, 2)
    first = head[0].upper() if head else ""
    if first == "BEGIN":
        return "BEGIN"
    if first == "RELEASE":
        return "RELEASE SAVEPOINT"
    if first == "ROLLBACK" and len(head) > 1 and head[1].upper() == "TO":
        return "ROLLBACK TO SAVEPOINT"
    return first


class StatementLog:
    """Record every statement run on the default connection inside ``with log.capture():``.

    A ``connection.execute_wrapper`` sees the SQL Django sends through its cursors: SELECT/INSERT/…,
    SAVEPOINT/RELEASE, and on SQLite with ``transaction_mode=IMMEDIATE`` the ``BEGIN IMMEDIATE`` that opens
    each outermost atomic block. The COMMIT itself goes through the DB-API connection, not a cursor, so
    it is counted by wrapping ``connection.commit``/``rollback`` for the block as well."""

    def __init__(self) -> None:
        self.entries: list[str] = []

    @contextlib.contextmanager
    def capture(self) -> Iterator[StatementLog]:
        from django.db import connection

        def wrapper(execute, sql, params, many, context):
            self.entries.append(sql)
            return execute(sql, params, many, context)

        original_commit, original_rollback = connection._commit, connection._rollback

        def commit():
            self.entries.append("COMMIT")
            return original_commit()

        def rollback():
            self.entries.append("ROLLBACK")
            return original_rollback()

        connection._commit, connection._rollback = commit, rollback
        try:
            with connection.execute_wrapper(wrapper):
                yield self
        finally:
            del connection._commit, connection._rollback

    def mark(self) -> int:
        return len(self.entries)

    def since(self, mark: int) -> list[str]:
        return self.entries[mark:]


def summarise_statements(groups: list[list[str]], *, top: int = 10) -> dict[str, Any]:
    """Per-item figures over groups of statements (one group = one API create, one mail, one batch):
    statements (median, p95, max, mean) excluding transaction control, transactions (outermost BEGIN or
    COMMIT, plus writes outside one), savepoints, statements by kind and the commonest statement shapes
    (transaction control and savepoints left out of those: they are in the kinds)."""
    if not groups:
        return {"items": 0}

    control = {"BEGIN", "COMMIT", "ROLLBACK"}
    bookkeeping = {*control, "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"}
    writes = {"INSERT", "UPDATE", "DELETE", "REPLACE"}
    per_item: list[int] = []
    autocommit_writes: list[int] = []
    explicit: list[int] = []
    all_statements: list[int] = []
    transactions: list[int] = []
    savepoints: list[int] = []
    kinds: Counter[str] = Counter()
    shapes: Counter[str] = Counter()
    alone_shapes: Counter[str] = Counter()
    for group in groups:
        group_kinds = [statement_kind(sql) for sql in group]
        kinds.update(group_kinds)
        # Transaction control and savepoints are counted by kind; the shapes show the real work.
        shapes.update(
            statement_shape(sql)
            for sql, kind in zip(group, group_kinds, strict=True)
            if kind not in bookkeeping
        )
        per_item.append(sum(1 for k in group_kinds if k not in control))
        all_statements.append(len(group))
        # An outermost transaction shows as BEGIN (IMMEDIATE) … COMMIT; count whichever side appears more
        # so a transaction opened before the block or left open after it still counts once. A write
        # outside BEGIN … COMMIT is a transaction of its own (SQLite autocommit).
        in_transaction, alone = False, 0
        for kind, sql in zip(group_kinds, group, strict=True):
            if kind == "BEGIN":
                in_transaction = True
            elif kind in ("COMMIT", "ROLLBACK"):
                in_transaction = False
            elif kind in writes and not in_transaction:
                alone += 1
                alone_shapes[statement_shape(sql)] += 1
        explicit.append(max(group_kinds.count("BEGIN"), group_kinds.count("COMMIT")))
        autocommit_writes.append(alone)
        transactions.append(explicit[-1] + alone)
        savepoints.append(group_kinds.count("SAVEPOINT"))
    n = len(groups)
    return {
        "items": n,
        "statements": {
            **_spread(per_item),
            "note": "every statement but BEGIN/COMMIT/ROLLBACK (savepoints included)",
        },
        "statements_incl_transaction_control_mean": round(sum(all_statements) / n, 2),
        "transactions": _spread(transactions),
        "transactions_note": "outermost BEGIN … COMMIT blocks plus writes run outside one (autocommit)",
        "explicit_transactions": _spread(explicit),
        "autocommit_writes": _spread(autocommit_writes),
        "autocommit_write_shapes_per_item": [
            {"per_item": round(count / n, 2), "sql": shape} for shape, count in alone_shapes.most_common(5)
        ],
        "savepoints": _spread(savepoints),
        "by_kind_per_item": {k: round(v / n, 2) for k, v in kinds.most_common()},
        "top_shapes_per_item": [
            {"per_item": round(count / n, 2), "sql": shape} for shape, count in shapes.most_common(top)
        ],
    }


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (the peer harness's definition)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


def _spread(values: list[int]) -> dict[str, float]:
    return {
        "median": pct(values, 50),
        "p95": pct(values, 95),
        "max": max(values),
        "mean": round(sum(values) / len(values), 2),
    }
