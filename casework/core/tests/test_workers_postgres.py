"""Three real `casework worker` processes on PostgreSQL, running a probe job (testing/periodic_probe.py) that
logs the start and end of every run and sleeps for longer than the job lease:

1. runs happen, one after another, never two at once — also when extra tasks for the job are thrown in so
   that several workers try to run it at the same moment; the surplus tasks are skipped;
2. a worker SIGKILLed mid-run leaves a lease that expires, and another worker runs the job after that.

The database is created from a migrated template in the throwaway cluster of the `postgres_server`
fixture; intervals, leases and ticks are shortened through the environment so each test takes seconds.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from casework.testing.periodic_probe import read_runs
from casework.testing.processes import (
    casework_command,
    casework_env,
    run_casework,
    start_worker,
    stop_worker,
    wait_until,
)

WORKERS = 3
ENQUEUE_DUPLICATES = """
from casework.core.tasks import run_periodic_job
for _ in range(6):
    run_periodic_job.enqueue("probe")
"""


def _sql(server, statement: str, database: str = "postgres") -> list[tuple]:
    import psycopg

    with psycopg.connect(server.url.rsplit("/", 1)[0] + f"/{database}", autocommit=True) as con:
        cursor = con.execute(statement)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture(scope="module")
def template_db(postgres_server, tmp_path_factory):
    name = f"cw_workers_template_{uuid.uuid4().hex[:8]}"
    _sql(postgres_server, f'CREATE DATABASE "{name}"')
    var_dir = tmp_path_factory.mktemp("pg-workers")
    url = postgres_server.url.rsplit("/", 1)[0] + f"/{name}"
    run_casework(casework_env(var_dir, url), "migrate", "--noinput", "-v", "0")
    yield name
    _sql(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database(postgres_server, template_db):
    name = f"cw_workers_{uuid.uuid4().hex[:8]}"
    _sql(postgres_server, f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield name
    _sql(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _env(server, database: str, tmp_path: Path, *, lease: int, sleep: float) -> dict[str, str]:
    return casework_env(
        tmp_path,
        server.url.rsplit("/", 1)[0] + f"/{database}",
        {
            "CASEWORK_JOB_MODULES": "casework.testing.periodic_probe",
            "CASEWORK_PROBE_LOG": str(tmp_path / "probe.jsonl"),
            "CASEWORK_PROBE_EVERY": "1",
            "CASEWORK_PROBE_SLEEP": str(sleep),
            "CASEWORK_JOB_LEASE_SECONDS": str(lease),
            "CASEWORK_SCHEDULER_TICK_SECONDS": "0.2",
            "CASEWORK_OUTBOX_POLL_SECONDS": "0.5",
        },
    )


def _assert_one_at_a_time(runs: list[dict]) -> None:
    for earlier, later in itertools.pairwise(runs):
        assert later["start"] >= earlier["end"], f"two runs at once: {earlier} and {later}"


def _probe_results(server, database: str) -> list[str]:
    rows = _sql(
        server,
        "SELECT return_value #>> '{}' FROM django_tasks_database_dbtaskresult"
        " WHERE task_path = 'casework.core.tasks.run_periodic_job' AND args_kwargs #>> '{args,0}' = 'probe'"
        " AND status = 'SUCCESSFUL'",
        database,
    )
    return [value for (value,) in rows]


def test_three_workers_run_a_job_one_at_a_time_and_skip_duplicate_tasks(postgres_server, database, tmp_path):
    # Each run outlasts its lease: only the renewal keeps the other workers from taking it over.
    env = _env(postgres_server, database, tmp_path, lease=1, sleep=1.5)
    log, probe_log = tmp_path / "workers.log", tmp_path / "probe.jsonl"
    workers = [start_worker(env, log) for _ in range(WORKERS)]
    try:
        wait_until(lambda: read_runs(probe_log)[0], timeout=90, what="a first probe run")
        # Tasks the scheduler did not ask for (as after a scheduler hand-over): idle workers grab them
        # at once, while the job may be running or just ran.
        run_casework(env, "shell", "-c", ENQUEUE_DUPLICATES)
        wait_until(lambda: len(read_runs(probe_log)[0]) >= 6, timeout=90, what="six probe runs")
    finally:
        codes = [stop_worker(worker) for worker in workers]
    assert codes == [0] * WORKERS, log.read_text()[-5000:]
    runs, unfinished = read_runs(probe_log)
    assert unfinished == []  # SIGTERM lets a run finish
    _assert_one_at_a_time(runs)
    results = _probe_results(postgres_server, database)
    assert results.count("ok") == len(runs) and results.count("skipped") >= 1
    ((status, failures),) = _sql(
        postgres_server,
        "SELECT last_status, consecutive_failures FROM core_scheduledjob WHERE name = 'probe'",
        database,
    )
    assert status == "ok" and failures == 0
    assert "lease on periodic job probe was lost" not in log.read_text()


def test_a_job_whose_worker_is_killed_mid_run_runs_again_elsewhere_after_the_lease(
    postgres_server, database, tmp_path
):
    lease = 2
    env = _env(postgres_server, database, tmp_path, lease=lease, sleep=4)
    log, probe_log = tmp_path / "workers.log", tmp_path / "probe.jsonl"
    workers = {proc.pid: proc for proc in (start_worker(env, log) for _ in range(WORKERS))}
    try:
        (first, *_) = wait_until(lambda: read_runs(probe_log)[1], timeout=90, what="a probe run to start")
        os.kill(first["pid"], signal.SIGKILL)
        killed_at = time.time()
        assert workers.pop(first["pid"]).wait(timeout=30) == -signal.SIGKILL

        def run_after_the_kill():
            return [run for run in read_runs(probe_log)[0] if run["start"] > first["t"]]

        (rerun, *_) = wait_until(run_after_the_kill, timeout=90, what="another worker to run the job")
    finally:
        for worker in workers.values():
            stop_worker(worker)
    assert rerun["pid"] != first["pid"]
    # Not before the lease ran out: the killed worker renewed it at most lease/3 before it died.
    assert rerun["start"] >= killed_at + lease / 2
    runs, unfinished = read_runs(probe_log)
    assert [run["pid"] for run in unfinished] == [first["pid"]]
    _assert_one_at_a_time(runs)
    assert not [run for run in runs if run["start"] < killed_at and run["end"] > first["t"]]


def _wait_exit(proc: subprocess.Popen, timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=10)


def test_with_the_rq_relay_workers_hand_tasks_over_and_rq_workers_run_each_once(
    postgres_server, database, tmp_path, redis
):
    """CASEWORK_TASK_RELAY=rq (docs/deploy.md): three `casework worker` processes schedule and relay, two
    `casework rqworker` processes (RQ's forking worker) run the tasks; runs stay one at a time."""
    env = _env(postgres_server, database, tmp_path, lease=1, sleep=1.0)
    env.update(CASEWORK_TASK_RELAY="rq", CASEWORK_REDIS_URL=redis.url)
    log, probe_log = tmp_path / "workers.log", tmp_path / "probe.jsonl"
    workers = [start_worker(env, log) for _ in range(WORKERS)]
    with log.open("ab") as sink:
        runners = [
            subprocess.Popen(
                casework_command("rqworker", "default"),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
            for _ in range(2)
        ]
    try:
        wait_until(lambda: read_runs(probe_log)[0], timeout=90, what="a first probe run on RQ")
        run_casework(env, "shell", "-c", ENQUEUE_DUPLICATES)
        wait_until(lambda: len(read_runs(probe_log)[0]) >= 4, timeout=90, what="four probe runs on RQ")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{log.read_text()[-5000:]}") from exc
    finally:
        # One SIGTERM each, all at once (a second one tells RQ to kill the running job at once).
        for proc in workers + runners:
            proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        codes = [_wait_exit(proc, timeout=30) for proc in workers]
        workers_stopped_in = time.monotonic() - started
        codes += [_wait_exit(proc, timeout=90) for proc in runners]
    # The relaying workers stop at once. An RQ worker sometimes waits ~60 s for its pub/sub thread after
    # "unsubscribing" (rq/rq#1613), then exits cleanly: hence the runners' longer allowance.
    assert codes == [0] * (WORKERS + 2), log.read_text()[-5000:]
    assert workers_stopped_in < 30
    runs, _ = read_runs(probe_log)
    _assert_one_at_a_time(runs)
    worker_pids = {proc.pid for proc in workers}
    assert not [run for run in runs if run["pid"] in worker_pids]  # the relaying workers ran nothing
    results = _probe_results(postgres_server, database)
    assert results.count("ok") == len(runs) and results.count("skipped") >= 1
    ran_by = _sql(
        postgres_server,
        "SELECT DISTINCT worker_ids ->> -1 FROM django_tasks_database_dbtaskresult"
        " WHERE status = 'SUCCESSFUL'",
        database,
    )
    assert ran_by and all(who.startswith("relay:") for (who,) in ran_by), ran_by
