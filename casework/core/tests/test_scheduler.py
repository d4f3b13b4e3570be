"""Periodic jobs as durable tasks (SQLite or the CI's PostgreSQL): the scheduler only enqueues, a run claims
the job with a lease, a failed run is retried and visible, a job that is not due or is held is skipped.
Several real workers at once: test_workers_postgres.py."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from casework.core import scheduler
from casework.core.leases import LeaseKeeper
from casework.core.models import JobStatus, ScheduledJob, WorkerProcess
from casework.core.workers import WorkerBackground, reap_stuck_tasks, worker_seen, worker_stopped
from casework.testing.processes import wait_until

pytestmark = pytest.mark.django_db

EVERY = timedelta(minutes=5)


@pytest.fixture
def calls(monkeypatch):
    """An empty job registry with one job, `count`, that records its runs."""
    monkeypatch.setattr(scheduler, "_jobs", {})
    runs: list[int] = []
    scheduler.register("count", EVERY, lambda: runs.append(1))
    return runs


def _task_ids() -> list[str]:
    return [str(pk) for pk in DBTaskResult.objects.order_by("enqueued_at").values_list("id", flat=True)]


def test_enqueue_is_a_row_written_in_the_callers_transaction(calls):
    with pytest.raises(RuntimeError), transaction.atomic():
        assert scheduler.enqueue_due_jobs() == ["count"]
        # Already in the table, inside the transaction: no after-commit step could lose it.
        task = DBTaskResult.objects.get()
        assert task.task_path == "casework.core.tasks.run_periodic_job"
        assert task.args_kwargs == {"args": ["count"], "kwargs": {}}
        assert ScheduledJob.objects.get(name="count").queued_task_id == str(task.id)
        raise RuntimeError("roll back")
    assert not DBTaskResult.objects.exists() and not ScheduledJob.objects.exists()


def test_the_scheduler_enqueues_a_due_job_once_and_never_runs_it(calls):
    now = timezone.now()
    assert scheduler.enqueue_due_jobs(now) == ["count"]
    assert scheduler.enqueue_due_jobs(now + timedelta(seconds=1)) == []  # its task is still waiting
    assert calls == [] and len(_task_ids()) == 1
    row = ScheduledJob.objects.get(name="count")
    assert row.every == EVERY and row.queued_task_id == _task_ids()[0]


def test_a_run_claims_the_job_runs_it_and_stamps_it(calls):
    scheduler.enqueue_due_jobs()
    (task_id,) = _task_ids()
    assert scheduler.run_job("count", task_id=task_id, holder="w1") == "ok"
    assert calls == [1]
    row = ScheduledJob.objects.get(name="count")
    assert row.holder == "" and row.lease_expires_at is None and row.queued_task_id == ""
    assert row.last_holder == "w1" and row.last_status == JobStatus.OK and row.runs == 1
    assert row.last_finished_at >= row.last_started_at and row.last_duration is not None
    assert row.next_due_at == row.last_started_at + EVERY
    # Not due any more: another task for it (a second scheduler, a requeued task) does nothing.
    assert scheduler.run_job("count", task_id="other", holder="w2") == "skipped"
    assert scheduler.enqueue_due_jobs() == []
    assert calls == [1]
    assert scheduler.enqueue_due_jobs(row.next_due_at) == ["count"]


def test_a_job_held_by_a_live_lease_is_never_run_twice_then_taken_over_when_it_expires(calls, caplog):
    now = timezone.now()
    ScheduledJob.objects.create(
        name="count", every=EVERY, next_due_at=now, holder="w1", lease_expires_at=now + timedelta(minutes=1)
    )
    assert scheduler.run_job("count", holder="w2") == "skipped"
    assert scheduler.enqueue_due_jobs() == []  # running: nothing to enqueue
    assert calls == []
    # w1 was killed: it stops renewing and its lease runs out.
    ScheduledJob.objects.update(lease_expires_at=now - timedelta(seconds=1))
    assert scheduler.enqueue_due_jobs() == ["count"]
    with caplog.at_level(logging.WARNING, logger="casework.core.scheduler"):
        assert scheduler.run_job("count", holder="w2") == "ok"
    assert calls == [1] and "lease of w1 expired" in caplog.text
    assert ScheduledJob.objects.get(name="count").last_holder == "w2"


def test_the_lease_is_renewed_only_by_its_holder(calls):
    now = timezone.now()
    ScheduledJob.objects.create(
        name="count", every=EVERY, next_due_at=now, holder="w1", lease_expires_at=now + timedelta(seconds=1)
    )
    assert scheduler.renew_job_lease("count", holder="w1", lease=timedelta(minutes=1))
    assert ScheduledJob.objects.get().lease_expires_at > now + timedelta(seconds=50)
    assert not scheduler.renew_job_lease("count", holder="w2", lease=timedelta(minutes=1))


def test_the_lease_keeper_renews_until_the_lease_is_lost():
    beats: list[int] = []
    failed_once = threading.Event()

    def renew() -> bool:
        if not failed_once.is_set():
            failed_once.set()
            raise ConnectionError("database restarting")  # logged, tried again
        beats.append(1)
        return len(beats) < 3

    with LeaseKeeper(renew, every=0.01, what="test") as keeper:
        wait_until(keeper.lost.is_set, timeout=10, what="the keeper to notice the lost lease")
    assert len(beats) == 3


def test_a_failing_job_is_retried_with_backoff_and_its_error_is_visible(calls, monkeypatch, caplog):
    def boom():
        raise ValueError("mailbox password wrong")

    scheduler.register("boom", EVERY, boom)
    scheduler.enqueue_due_jobs()
    task_id = ScheduledJob.objects.get(name="boom").queued_task_id
    with caplog.at_level(logging.ERROR, logger="casework.core.scheduler"):
        assert scheduler.run_job("boom", task_id=task_id, holder="w1") == "failed"
    assert "periodic job boom failed (1 in a row)" in caplog.text
    row = ScheduledJob.objects.get(name="boom")
    assert row.last_status == JobStatus.FAILED and row.consecutive_failures == 1 and row.holder == ""
    assert "Traceback" in row.last_error and "ValueError: mailbox password wrong" in row.last_error
    assert row.next_due_at == row.last_finished_at + scheduler.RETRY_AFTER
    assert row.queued_task_id == ""
    assert scheduler.enqueue_due_jobs(row.next_due_at) == ["boom"]  # the retry is a new task

    ScheduledJob.objects.filter(name="boom").update(next_due_at=timezone.now())
    assert scheduler.run_job("boom", holder="w1") == "failed"
    row.refresh_from_db()
    assert (
        row.consecutive_failures == 2 and row.next_due_at == row.last_finished_at + 2 * scheduler.RETRY_AFTER
    )

    scheduler.register("boom", EVERY, lambda: None)  # fixed
    ScheduledJob.objects.filter(name="boom").update(next_due_at=timezone.now())
    assert scheduler.run_job("boom", holder="w1") == "ok"
    row.refresh_from_db()
    assert row.consecutive_failures == 0 and row.last_error == "" and row.runs == 3


def test_retry_backoff_doubles_and_is_capped_at_the_interval():
    assert scheduler.retry_delay(EVERY, 1) == scheduler.RETRY_AFTER
    assert scheduler.retry_delay(EVERY, 3) == 4 * scheduler.RETRY_AFTER
    assert scheduler.retry_delay(timedelta(seconds=15), 5) == timedelta(seconds=15)
    assert scheduler.retry_delay(EVERY, 500) == EVERY


def test_a_task_that_will_never_run_the_job_is_replaced(calls, caplog):
    now = timezone.now()
    scheduler.enqueue_due_jobs(now)
    (first,) = _task_ids()
    # The reaper gave up on it (its workers kept dying): the job must not wait for it forever.
    DBTaskResult.objects.filter(id=first).update(status="FAILED")
    with caplog.at_level(logging.WARNING, logger="casework.core.scheduler"):
        assert scheduler.enqueue_due_jobs(now) == ["count"]
    assert "will not run it" in caplog.text
    second = ScheduledJob.objects.get().queued_task_id
    assert second not in ("", first)

    # RUNNING with the job's lease live: running. RUNNING with the lease expired: its worker died.
    DBTaskResult.objects.filter(id=second).update(status="RUNNING", started_at=now)
    ScheduledJob.objects.update(holder="w1", lease_expires_at=now + timedelta(minutes=1))
    assert scheduler.enqueue_due_jobs(now) == []
    later = now + timedelta(minutes=2)
    assert scheduler.enqueue_due_jobs(later) == ["count"]


def test_a_run_that_is_skipped_forgets_only_its_own_task(calls):
    future = timezone.now() + EVERY
    ScheduledJob.objects.create(name="count", every=EVERY, next_due_at=future, queued_task_id="t2")
    assert scheduler.run_job("count", task_id="t1", holder="w1") == "skipped"
    assert ScheduledJob.objects.get().queued_task_id == "t2"
    assert scheduler.run_job("count", task_id="t2", holder="w1") == "skipped"
    assert ScheduledJob.objects.get().queued_task_id == "" and calls == []


def test_a_task_for_an_unknown_job_is_dropped(calls, caplog):
    ScheduledJob.objects.create(name="gone", every=EVERY, next_due_at=timezone.now(), queued_task_id="t1")
    with caplog.at_level(logging.ERROR, logger="casework.core.scheduler"):
        assert scheduler.run_job("gone", task_id="t1", holder="w1") == "unknown"
    assert "not registered" in caplog.text and ScheduledJob.objects.get().queued_task_id == ""


def test_a_changed_interval_is_adopted(calls):
    scheduler.enqueue_due_jobs()
    scheduler.run_job("count", holder="w1")
    scheduler.register("count", timedelta(minutes=1), lambda: None)
    scheduler.enqueue_due_jobs()
    row = ScheduledJob.objects.get()
    assert row.every == timedelta(minutes=1) and row.next_due_at == row.last_started_at + timedelta(minutes=1)


@pytest.fixture
def restore_signals():
    # db_worker installs its own SIGINT/SIGTERM handlers in this (pytest's) process.
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


# Transactional: db_worker closes the connection when it finds it inside a transaction (PostgreSQL).
@pytest.mark.django_db(transaction=True)
def test_worker_batch_runs_the_enqueued_job_through_the_task_queue(calls, restore_signals):
    scheduler.enqueue_due_jobs()
    call_command("worker", "--batch")
    assert calls == [1]
    task = DBTaskResult.objects.get()
    assert task.status == "SUCCESSFUL" and task.return_value == "ok"
    assert ScheduledJob.objects.get().last_status == JobStatus.OK


def test_the_tick_says_the_worker_is_alive_and_enqueues_when_it_holds_the_scheduler_lease(calls):
    background = WorkerBackground(worker_id="w1", schedule=True, poll=False)
    background.tick()
    assert WorkerProcess.objects.get().worker_id == "w1"
    assert ScheduledJob.objects.get().queued_task_id and calls == []
    other = WorkerBackground(worker_id="w2", schedule=True, poll=False)
    ScheduledJob.objects.update(queued_task_id="", next_due_at=timezone.now())
    other.tick()  # no scheduler lease: it only says it is alive
    assert WorkerProcess.objects.count() == 2 and ScheduledJob.objects.get().queued_task_id == ""


def _running(worker_ids, started_at):
    return DBTaskResult.objects.create(
        args_kwargs={"args": [], "kwargs": {}},
        task_path="x.y",
        backend_name="default",
        run_after=started_at,
        status="RUNNING",
        started_at=started_at,
        worker_ids=worker_ids,
    )


def test_the_reaper_requeues_only_tasks_whose_worker_is_gone():
    now = timezone.now()
    long_ago = now - timedelta(hours=1)
    worker_seen("live", now)
    worker_seen("silent", now - timedelta(minutes=5))
    worker_seen("stopped", now)
    worker_stopped("stopped")
    long_task_of_live_worker = _running(["live"], long_ago)
    of_silent = _running(["silent"], now - timedelta(minutes=6))
    of_stopped = _running(["stopped"], now - timedelta(seconds=5))
    lost_three_times = _running(["a", "b", "silent"], long_ago)
    bare_db_worker_recent = _running(["bare"], now - timedelta(minutes=1))
    bare_db_worker_old = _running(["bare"], long_ago)

    assert reap_stuck_tasks(now) == {"requeued": 3, "failed": 1}
    status = dict(DBTaskResult.objects.values_list("id", "status"))
    assert status[long_task_of_live_worker.id] == "RUNNING"
    assert status[bare_db_worker_recent.id] == "RUNNING"
    assert status[of_silent.id] == status[of_stopped.id] == status[bare_db_worker_old.id] == "READY"
    assert status[lost_three_times.id] == "FAILED"


def test_the_admin_shows_jobs_and_workers_and_can_make_a_job_due(admin_client):
    now = timezone.now()
    ScheduledJob.objects.create(
        name="sla-sweep", every=EVERY, next_due_at=now + EVERY, holder="w1", lease_expires_at=now + EVERY
    )
    ScheduledJob.objects.create(
        name="imap-poll",
        every=EVERY,
        next_due_at=now + EVERY,
        last_status=JobStatus.FAILED,
        last_error="Traceback ...\nLoginError: bad password",
        consecutive_failures=2,
    )
    worker_seen("w1", now)
    ScheduledJob.objects.create(name="retired-job", every=EVERY, next_due_at=now)
    page = admin_client.get("/admin/core/scheduledjob/").content.decode()
    assert "running on w1" in page and "imap-poll" in page and "waiting" in page
    assert "not registered here" in page
    assert "bad password" in admin_client.get("/admin/core/scheduledjob/imap-poll/change/").content.decode()
    response = admin_client.post(
        "/admin/core/scheduledjob/", {"action": "run_now", "_selected_action": ["imap-poll"]}, follow=True
    )
    assert response.status_code == 200
    assert ScheduledJob.objects.get(name="imap-poll").next_due_at <= timezone.now()
    assert "w1" in admin_client.get("/admin/core/workerprocess/").content.decode()


def test_old_job_task_rows_are_pruned_other_tasks_are_not():
    now = timezone.now()
    common = {"args_kwargs": {"args": ["x"], "kwargs": {}}, "backend_name": "default", "run_after": now}

    def task(path, status, age):
        return DBTaskResult.objects.create(task_path=path, status=status, finished_at=now - age, **common).id

    job = "casework.core.tasks.run_periodic_job"
    old_ok = task(job, "SUCCESSFUL", timedelta(days=2))
    task(job, "SUCCESSFUL", timedelta(hours=2))
    task(job, "FAILED", timedelta(days=2))
    task("casework.other.tasks.thing", "SUCCESSFUL", timedelta(days=30))
    assert scheduler.prune_job_tasks(now) == 1
    assert not DBTaskResult.objects.filter(id=old_ok).exists() and DBTaskResult.objects.count() == 3


def test_a_job_that_left_a_backlog_is_due_again_soon_then_at_its_interval(monkeypatch):
    """A job draining a backlog in bounded batches says so ({"backlog": True}); its next batch does not
    wait out the interval. Once the backlog is gone it keeps its interval."""
    monkeypatch.setattr(scheduler, "_jobs", {})
    left = [3]

    def drain():
        left[0] -= 1
        return {"done": 1, "backlog": left[0] > 0}

    scheduler.register("drain", EVERY, drain)
    scheduler.enqueue_due_jobs()
    (task_id,) = _task_ids()
    assert scheduler.run_job("drain", task_id=task_id, holder="w1") == "ok"
    row = ScheduledJob.objects.get(name="drain")
    assert row.next_due_at <= row.last_finished_at + scheduler.BACKLOG_PAUSE
    assert scheduler.enqueue_due_jobs(row.next_due_at) == ["drain"]
    with time_machine.travel(row.next_due_at, tick=False):
        assert scheduler.run_job("drain", holder="w1") == "ok"
    row.refresh_from_db()
    assert left == [1] and row.next_due_at <= row.last_finished_at + scheduler.BACKLOG_PAUSE
    with time_machine.travel(row.next_due_at, tick=False):
        assert scheduler.run_job("drain", holder="w1") == "ok"
    row.refresh_from_db()
    assert left == [0] and row.next_due_at == row.last_started_at + EVERY


def test_warm_imports_loads_the_jobs_libraries_and_skips_one_that_fails(caplog):
    from casework.core import workers

    caplog.set_level(logging.INFO, logger="casework.core.workers")
    took = workers.warm_imports(("json", "casework.no_such_module"))
    assert list(took) == ["json"] and took["json"] >= 0
    assert "warm import of casework.no_such_module failed" in caplog.text
    assert "imported json before claiming work" in caplog.text
    # The default list is what the built-in jobs import lazily: each name is importable.
    assert set(workers.warm_imports()) == set(workers.WARM_IMPORTS)


@pytest.mark.parametrize(
    ("args", "setting", "warmed"),
    [((), True, True), (("--batch",), True, False), ((), False, False)],
    ids=["long-running", "batch", "turned-off"],
)
def test_a_long_running_worker_imports_before_it_claims_work(monkeypatch, settings, args, setting, warmed):
    """A long-running worker pays the import once at start; a `--batch` run (cron-style, exits when the
    queue is empty) does not, nor a worker with CASEWORK_WORKER_WARM_IMPORTS=false."""
    from casework.core.management.commands import worker

    order: list[str] = []
    settings.CASEWORK = {**settings.CASEWORK, "WORKER_WARM_IMPORTS": setting}
    monkeypatch.setattr(worker, "warm_imports", lambda: order.append("warm"))

    class Background:
        def __init__(self, **kwargs):
            pass

        def start(self):
            order.append("background")

        def stop(self):
            order.append("stop")

    monkeypatch.setattr(worker, "WorkerBackground", Background)
    monkeypatch.setattr(worker, "call_command", lambda *a, **k: order.append("claim"))
    monkeypatch.setattr(worker, "run_pollers_once", lambda: None)
    call_command("worker", *args)
    expected = ["claim"] if args else ["background", "claim", "stop"]
    assert order == (["warm"] if warmed else []) + expected
