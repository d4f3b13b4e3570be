"""The benchmark harness's bookkeeping (no timings are asserted: figures on a shared VM are noise-prone)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, filename: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run():
    return _load("bench_run", "run.py")


@pytest.fixture(scope="module")
def benchlib():
    return _load("bench_benchlib", "benchlib.py")


def test_ratios_say_how_many_times_better_casework_is(run):
    ours = {
        "create_api": {
            "cases_per_s": 60.0,
            "latency": {"p95_ms": 100.0},
            "server_cpu_ms_per_case": 10.0,
            "pct_of_ceiling": 12.0,
        },
        "ceiling": {"requests_per_s": 500.0},
        "list_api_first_page": {"p95_ms": 50.0},
        "case_page": {"p95_ms": 200.0},
        "list_ui": {"p95_ms": 150.0},
    }
    peer = {
        "create_api": {"tickets_per_s": 30.0, "latency": {"p95_ms": 300.0}, "server_cpu_ms_per_ticket": 40.0},
        "list_api_first_page": {"p95_ms": 5000.0},
        "detail_ui": {"p95_ms": 100.0},
        "email_intake": {"msgs_per_s_incl_startup": 16.0, "msgs_per_s_excl_startup": 20.0},
    }
    micro = {
        "bench_intake": {
            "ok": True,
            "result": {
                "msgs_per_s": 10.0,
                "with_every_reaction": {"msgs_per_s": 10.0},
                "intake_alone": {"msgs_per_s": 40.0, "switch": "pipeline", "mechanism": "pipeline.only()"},
            },
        }
    }
    rows = {r["measure"]: r for r in run.comparison(ours, peer, micro)}
    ratios = {measure: r["ratio"] for measure, r in rows.items()}
    assert ratios["API create throughput"] == 2.0  # ours / peer for throughput
    assert "12.0 % of the harness ceiling" in rows["API create throughput"]["note"]
    assert ratios["API create latency p95"] == 3.0  # peer / ours for latency
    assert ratios["server CPU per created item"] == 4.0
    assert ratios["API list first page p95"] == 100.0
    assert ratios["UI case page p95"] == 0.5  # slower than the peer shows as < 1
    # The intake headline is the run with every reaction; intake alone is the breakdown row. Both are set
    # against the peer without its process start-up.
    assert ratios["email intake with every reaction"] == 0.5
    assert ratios["email intake alone (parse+thread+store)"] == 2.0
    assert "pipeline.only()" in rows["email intake alone (parse+thread+store)"]["note"]
    # The ceiling has no peer counterpart: shown, no ratio, with what 10× the peer's create would need.
    ceiling = rows["harness ceiling (GET /healthz, same client)"]
    assert ceiling["casework"] == 500.0 and ceiling["ratio"] is None
    assert "10× the peer's create = 300/s" in ceiling["note"]
    measures = list(rows)
    assert measures.index("harness ceiling (GET /healthz, same client)") == 1  # next to API create
    assert ratios["UI list page p95"] is None  # a figure missing on one side gives no ratio
    assert "UI search 'printer' p95" not in ratios  # a part neither side ran gives no row


def test_intake_rows_fall_back_to_the_hooks_detach_note(run):
    micro = {
        "bench_intake": {
            "ok": True,
            "result": {
                "with_every_reaction": {"msgs_per_s": 50.0},
                "intake_alone": {
                    "msgs_per_s": 500.0,
                    "switch": "hooks",
                    "mechanism": "after-commit hook dispatch detached (the code has no pipeline.only)",
                },
            },
        }
    }
    peer = {"email_intake": {"msgs_per_s_excl_startup": 25.0}}
    rows = {r["measure"]: r for r in run.comparison({}, peer, micro)}
    assert rows["email intake with every reaction"]["ratio"] == 2.0
    assert "hooks detached" in rows["email intake alone (parse+thread+store)"]["note"]
    assert "API create throughput" not in rows  # the HTTP part did not run


def test_a_failing_micro_benchmark_is_recorded_not_raised(run, tmp_path):
    (tmp_path / "bench_broken.py").write_text("def run():\n    raise RuntimeError('boom')\n")
    (tmp_path / "bench_fine.py").write_text("def run():\n    print('noise')\n    return {'per_s': 5}\n")
    broken = run.run_micro("bench_broken", timeout=60, directory=tmp_path)
    fine = run.run_micro("bench_fine", timeout=60, directory=tmp_path)
    assert broken["ok"] is False
    assert "RuntimeError: boom" in broken["error"]
    assert fine == {"ok": True, "wall_s": fine["wall_s"], "result": {"per_s": 5}}


def test_summary_renders_a_run_whose_http_part_failed(run):
    res = {
        "started": "2026-01-01T00:00:00",
        "params": {"n": 10},
        "machine": {"cpus": 2, "python": sys.version.split()[0], "sqlite": "3", "git_commit": None},
        "api": {"ok": False, "error": "bench_api.py exited 1", "stderr_tail": "SystemCheckError"},
        "micro": {"bench_x": {"ok": False, "error": "timed out after 300 s"}},
        "peer": {"ok": True},
    }
    text = run.summary(res)
    assert "HTTP benchmark FAILED: bench_api.py exited 1" in text
    assert "bench_x" in text and "FAILED" in text
    assert "no comparison" in text


def test_summary_prints_ceiling_statements_intake_and_the_big_install(run):
    latency = {"p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": 30.0}
    seen = {"cases": 5, "priority_set_by_rules": 1, "triaged": 3, "with_sla_clocks": 5, "assigned": 3}
    spread = {"median": 12, "p95": 14, "max": 15, "mean": 12.5}
    res = {
        "started": "2026-01-01T00:00:00",
        "params": {"n": 5},
        "machine": {"cpus": 2, "python": sys.version.split()[0], "sqlite": "3", "git_commit": None},
        "api": {
            "ok": True,
            "create_api": {
                "cases_per_s": 50.0,
                "latency": latency,
                "server_cpu_ms_per_case": 9.0,
                "status_counts": {"201": 5},
                "client_cpu_ms_per_case": 1.5,
                "pct_of_ceiling": 10.0,
            },
            "ceiling": {
                "requests_per_s": 500.0,
                "latency": latency,
                "server_cpu_ms_per_request": 2.0,
                "client_cpu_ms_per_request": 1.0,
                "requests": 2000,
            },
            "reactions_seen": seen,
        },
        "api_big": {
            "ok": True,
            "params": {"existing_cases": 100000},
            "seeding": {"cases_per_s": 400.0, "cases_s": 250.0, "batch": 500, "reactions": "pipeline"},
            "create_api": {"requested": 1000, "cases_per_s": 45.0, "latency": latency},
            "list_api_first_page": {"count": 50, "p95_ms": 30.0, "count_reported": 101000},
            "reactions_seen": seen,
        },
        "micro": {
            "bench_statements": {
                "ok": True,
                "wall_s": 20.0,
                "result": {
                    "reactions": "pipeline",
                    "api_create": {
                        "statements": spread,
                        "transactions": {**spread, "median": 1},
                        "savepoints": spread,
                        "cpu_ms_per_create": {"median": 4.0},
                        "by_kind_per_item": {"SELECT": 6.0, "INSERT": 5.0},
                        "top_shapes_per_item": [
                            {"per_item": 2.0, "sql": 'INSERT INTO "cases_caseevent" (…)'}
                        ],
                    },
                    "intake": {
                        "batch_size": 100,
                        "new_mails": {
                            "per_batch": {"statements": spread, "transactions": spread, "savepoints": spread},
                            "per_mail": {"statements_mean": 8.0, "transactions_mean": 0.01},
                            "cpu_ms_per_mail": 1.0,
                        },
                        "single_ingest_raw": {"statements": spread, "transactions": spread},
                    },
                },
            },
            "bench_intake": {
                "ok": True,
                "wall_s": 30.0,
                "result": {
                    "messages": 1000,
                    "with_every_reaction": {"msgs_per_s": 300.0, "reactions_seen": seen},
                    "intake_alone": {"msgs_per_s": 900.0, "mechanism": "pipeline.only()"},
                },
            },
        },
    }
    text = run.summary(res)
    assert "harness ceiling: GET /healthz" in text and "500.0 req/s" in text
    assert "10.0 % of ceiling" in text
    assert "priority set by rules 1" in text and "assigned 3" in text
    assert "At 100000 existing cases" in text and "400.0 cases/s" in text and "count 101000" in text
    assert "Statements and transactions" in text and "12 / 14 / 15" in text
    assert 'INSERT INTO "cases_caseevent"' in text
    assert "with every reaction: 300.0 msgs/s" in text and "intake alone:" in text


# --------------------------------------------------------------------------------------------------
# benchlib: counting statements, reaction proof, the reaction switch
# --------------------------------------------------------------------------------------------------


def test_statement_shapes_fold_literals_and_long_column_lists(benchlib):
    select = (
        'SELECT "cases_case"."id", "cases_case"."number", "cases_case"."reference", "cases_case"."subject"'
    )
    assert benchlib.statement_shape(select + ' FROM "cases_case" WHERE "id" = 42 LIMIT 21') == (
        'SELECT … FROM "cases_case" WHERE "id" = ? LIMIT ?'
    )
    assert benchlib.statement_shape(
        'INSERT INTO "cases_caseevent" ("case_id", "kind") VALUES (%s, %s) RETURNING "cases_caseevent"."id"'
    ) == ('INSERT INTO "cases_caseevent" (…) VALUES (…) RETURNING …')
    update = 'UPDATE "cases_case" SET "number" = %s, "reference" = %s, "public_token" = %s, "subject" = %s'
    assert benchlib.statement_shape(update + ' WHERE "id" = %s') == (
        'UPDATE "cases_case" SET <4 columns> WHERE "id" = %s'
    )
    assert benchlib.statement_shape('SAVEPOINT "s140_x7"') == 'SAVEPOINT "<savepoint>"'
    assert benchlib.statement_kind('ROLLBACK TO SAVEPOINT "s1_x1"') == "ROLLBACK TO SAVEPOINT"
    assert benchlib.statement_kind("BEGIN IMMEDIATE") == "BEGIN"


def test_summarise_counts_transactions_autocommit_writes_and_savepoints(benchlib):
    one_transaction = [
        'SELECT "x" FROM "t" WHERE "id" = 1',
        "BEGIN IMMEDIATE",
        'SAVEPOINT "s1_x1"',
        'INSERT INTO "t" ("a") VALUES (1)',
        'RELEASE SAVEPOINT "s1_x1"',
        "COMMIT",
    ]
    with_autocommit = [
        "BEGIN IMMEDIATE",
        'INSERT INTO "t" ("a") VALUES (2)',
        "COMMIT",
        'UPDATE "u" SET "n" = 1 WHERE "id" = 2',  # outside BEGIN … COMMIT: a transaction of its own
        "BEGIN IMMEDIATE",
        'SELECT "x" FROM "t" WHERE "id" = 3',
        "COMMIT",
    ]
    s = benchlib.summarise_statements([one_transaction, with_autocommit])
    assert s["items"] == 2
    assert s["statements"]["max"] == 4  # BEGIN/COMMIT excluded, savepoints included
    assert s["explicit_transactions"]["max"] == 2
    assert s["autocommit_writes"]["max"] == 1
    assert s["transactions"]["max"] == 3 and s["transactions"]["mean"] == 2
    assert s["savepoints"]["max"] == 1
    assert s["by_kind_per_item"]["BEGIN"] == 1.5
    shapes = {row["sql"]: row["per_item"] for row in s["top_shapes_per_item"]}
    assert shapes['INSERT INTO "t" (…) VALUES (…)'] == 1.0  # two literals folded into one shape
    assert "COMMIT" not in shapes and 'SAVEPOINT "<savepoint>"' not in shapes  # counted by kind only
    assert s["autocommit_write_shapes_per_item"][0]["sql"].startswith('UPDATE "u"')
    assert benchlib.summarise_statements([]) == {"items": 0}


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="the benchmarks run on SQLite, whose BEGIN is a statement the log can see (psycopg's is not)",
)
def test_statement_log_sees_begin_commit_and_savepoints(benchlib):
    from django.contrib.auth import get_user_model
    from django.db import transaction

    users = get_user_model().objects
    log = benchlib.StatementLog()
    with log.capture():
        with transaction.atomic():
            users.create(username="bench-a")
            with transaction.atomic():
                users.create(username="bench-b")
        users.filter(username="bench-a").update(first_name="A")
    s = benchlib.summarise_statements([log.entries])
    assert s["explicit_transactions"]["max"] == 1
    assert s["savepoints"]["max"] == 1
    assert s["autocommit_writes"]["max"] == 1
    assert s["transactions"]["max"] == 2
    recorded = len(log.entries)
    users.filter(username__startswith="bench-").delete()
    assert len(log.entries) == recorded  # nothing is recorded after the block


def test_reaction_counts_read_the_sqlite_file_and_skip_missing_tables(benchlib, tmp_path):
    import sqlite3

    db = tmp_path / "casework.sqlite3"
    con = sqlite3.connect(db)
    con.executescript(
        """
        CREATE TABLE cases_case (id INTEGER PRIMARY KEY, status TEXT, priority TEXT, category_id INTEGER,
                                 sentiment REAL, team_id INTEGER, assignee_id INTEGER);
        CREATE TABLE cases_caseevent (id INTEGER PRIMARY KEY, case_id INTEGER, kind TEXT, actor_label TEXT);
        CREATE TABLE sla_caseclock (id INTEGER PRIMARY KEY, case_id INTEGER);
        INSERT INTO cases_case VALUES (1, 'triaged', 'high', 3, 0.1, 1, 7), (2, 'new', 'medium', NULL, 0.0,
                                       NULL, NULL), (3, 'triaged', 'low', 2, NULL, 1, 8);
        INSERT INTO cases_caseevent (case_id, kind, actor_label) VALUES
            (1, 'priority_changed', 'rule:Outage'), (1, 'rule_applied', 'rule:Outage'),
            (2, 'priority_changed', 'ana'), (3, 'rule_applied', 'rule:Question');
        INSERT INTO sla_caseclock (case_id) VALUES (1), (1), (2), (3), (3);
        """
    )
    con.commit()
    con.close()
    seen = benchlib.reaction_counts(db)
    assert seen["cases"] == 3
    assert seen["priority_set_by_rules"] == 1  # a person's priority change does not count
    assert seen["rules_matched"] == 2
    assert seen["triaged"] == 2 and seen["assigned"] == 2 and seen["assignees"] == 2
    assert seen["with_sla_clocks"] == 3
    assert seen["with_tier_history"] is None  # no routing table in this file
    assert benchlib.reaction_counts(db, since_case_id=2)["cases"] == 1


def test_reactions_use_the_pipeline_switch_when_the_code_has_one(benchlib, monkeypatch):
    import contextlib
    import types

    import casework.cases

    calls = []

    @contextlib.contextmanager
    def only(*names):
        calls.append(names)
        yield

    fake = types.SimpleNamespace(only=only)
    monkeypatch.setitem(sys.modules, "casework.cases.pipeline", fake)
    monkeypatch.setattr(casework.cases, "pipeline", fake, raising=False)
    assert benchlib.reaction_mechanism() == "pipeline"
    with benchlib.reactions() as mechanism:  # every reaction: the pipeline is left alone
        assert mechanism == "pipeline"
    with benchlib.reactions(none=True):
        pass
    with benchlib.reactions("triage", "sla"):
        pass
    assert calls == [(), ("triage", "sla")]


def test_agent_capacity_fits_every_case_of_a_run(benchlib):
    l1_agents = sum(1 for agent in benchlib.AGENTS if agent[3] == 1)
    assert benchlib.agent_capacity(10) == 40
    assert benchlib.agent_capacity(10000) * l1_agents >= 10000


def test_summary_prints_the_search_benchmark_with_the_rank_cut_and_the_peer(run):
    search = {
        "n": 100000,
        "database": "sqlite",
        "queries": {"rare_word": {"q": "zxqvault", "p95_ms": 12.5, "hits": {"count": 486}}},
        "rank_every_match": {
            "limit": 2000,
            "word_in_every_case": {
                "every_match": {"p95_ms": 600},
                "cut": {"p95_ms": 90},
                "p95_speedup": 6.67,
            },
        },
        "comparison": [
            {
                "measure": "UI search rare_word p95 (ms)",
                "q": "zxqvault",
                "casework": 250,
                "peer": 1700,
                "ratio_peer_over_casework": 6.8,
                "hits": {"casework": 486, "peer": 486},
            }
        ],
    }
    base = {
        "started": "2026-01-01T00:00:00",
        "params": {"n": 10},
        "machine": {"cpus": 2, "python": sys.version.split()[0], "sqlite": "3", "git_commit": None},
    }
    text = run.summary({**base, "micro": {"bench_search": {"ok": True, "wall_s": 1, "result": search}}})
    assert "Search at 100000 cases (sqlite)" in text and "rank cut at 2000" in text
    assert "6.67" in text and "hits 486 vs 486" in text and "6.8" in text
    skipped = {**search, "comparison": None, "peer": {"ok": False, "skipped": "CASEWORK_BENCH_SEARCH_PEER=0"}}
    text = run.summary({**base, "micro": {"bench_search": {"ok": True, "wall_s": 1, "result": skipped}}})
    assert "peer search: CASEWORK_BENCH_SEARCH_PEER=0" in text
