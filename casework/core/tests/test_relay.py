"""The task relay to RQ (casework/core/relay.py) with a real Redis and RQ's own worker code, on SQLite or the
CI's PostgreSQL: enqueueing stays a row in the caller's transaction, the relay hands ready rows to RQ, an
RQ worker claims and runs them once and records the outcome on the row, lost hand-overs are resent.
Several real processes (workers relaying, RQ workers running): test_workers_postgres.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from django_tasks import task
from django_tasks_db.models import DBTaskResult

from casework.core import relay, scheduler
from casework.core.models import RelayedTask, ScheduledJob

pytestmark = pytest.mark.django_db

RAN: list[str] = []


@task()
def remember(word: str) -> str:
    RAN.append(word)
    return word.upper()


@task()
def explode() -> None:
    raise ValueError("boom")


@pytest.fixture
def rq(redis):
    """casework configured as with CASEWORK_TASK_RELAY=rq, against the test's own Redis."""
    import django_rq

    queues = {"default": {"URL": redis.url, "DEFAULT_TIMEOUT": 60}}
    tasks = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend"},
        "relay": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]},
    }
    RAN.clear()
    with override_settings(RQ_QUEUES=queues, TASKS=tasks):
        yield django_rq.get_queue("default")


def _work(queue) -> int:
    """RQ's worker, in this process (SimpleWorker does not fork), until the queue is empty."""
    from django_tasks_rq.backend import Job
    from rq import SimpleWorker

    class Worker(SimpleWorker):
        def subscribe(self) -> None:
            """No command channel (stop/kill commands: unused here). RQ 3.0 listens on it in a thread
            that reads with a 60 s timeout, and stopping the worker joins that thread: it sometimes
            waited the whole 60 s (twice in one PostgreSQL run of the suite, once in three runs of this
            file; cf. rq/rq#1613)."""

    before = queue.count
    Worker([queue], connection=queue.connection, job_class=Job).work(burst=True)
    return before


def test_a_relayed_task_runs_once_on_rq_and_its_row_records_the_outcome(rq):
    row_id = remember.enqueue("hello").id
    assert relay.relay_enabled()
    assert relay.relay_ready() == 1
    assert rq.count == 1
    note = RelayedTask.objects.get()
    assert str(note.task_id) == str(row_id) and note.runner_task_id
    assert DBTaskResult.objects.get(id=row_id).status == "READY"  # handed over, not yet claimed

    assert _work(rq) == 1
    row = DBTaskResult.objects.get(id=row_id)
    assert RAN == ["hello"]
    assert row.status == "SUCCESSFUL" and row.return_value == "HELLO"
    assert row.worker_ids[-1].startswith("relay:")
    assert not RelayedTask.objects.exists()


def test_a_rolled_back_write_never_reaches_rq(rq):
    with pytest.raises(RuntimeError), transaction.atomic():
        remember.enqueue("never")
        raise RuntimeError("roll back")
    assert relay.relay_ready() == 0
    assert rq.count == 0


def test_a_hand_over_is_not_repeated_but_a_lost_one_is_resent_and_runs_once(rq):
    row_id = remember.enqueue("once").id
    assert relay.relay_ready() == 1
    assert relay.relay_ready() == 0  # noted: not handed over twice
    rq.empty()  # Redis lost it (restart without persistence)
    later = timezone.now() + relay.resend_after() + timedelta(seconds=1)
    assert relay.relay_ready(now=later) == 1
    assert relay.relay_ready(now=later) == 0
    # Two hand-overs of the same row in the queue (a commit that failed after the hand-over): one runs it.
    relay.run_relayed.using(backend=relay.RELAY_ALIAS).enqueue(str(row_id))
    assert _work(rq) == 2
    assert RAN == ["once"]
    assert DBTaskResult.objects.get(id=row_id).status == "SUCCESSFUL"


def test_a_failing_task_is_recorded_failed_with_its_traceback(rq):
    row_id = explode.enqueue().id
    relay.relay_ready()
    _work(rq)
    row = DBTaskResult.objects.get(id=row_id)
    assert row.status == "FAILED"
    assert row.exception_class_path == "builtins.ValueError" and "boom" in row.traceback


def test_tasks_not_yet_due_wait_in_the_database(rq):
    remember.using(run_after=timezone.now() + timedelta(hours=1)).enqueue("later")
    assert relay.relay_ready() == 0 and rq.count == 0


def test_a_periodic_job_is_scheduled_relayed_and_run_on_rq(rq, monkeypatch):
    monkeypatch.setattr(scheduler, "_jobs", {})
    runs: list[int] = []
    scheduler.register("count", timedelta(minutes=5), lambda: runs.append(1))
    assert scheduler.enqueue_due_jobs() == ["count"]
    # `casework worker --batch` relays instead of running the task itself.
    call_command("worker", "--batch")
    assert runs == [] and rq.count == 1
    _work(rq)
    assert runs == [1]
    job = ScheduledJob.objects.get(name="count")
    assert job.last_status == "ok" and job.queued_task_id == ""
    task_row = DBTaskResult.objects.get()
    assert task_row.status == "SUCCESSFUL" and task_row.worker_ids[-1].startswith("relay:")


def test_forget_finished_drops_notes_of_tasks_that_ran(rq):
    done = remember.enqueue("a").id
    waiting = remember.enqueue("b").id
    relay.relay_ready()
    DBTaskResult.objects.filter(id=done).update(status="SUCCESSFUL")
    assert relay.forget_finished(now=timezone.now() + timedelta(minutes=2)) == 1
    assert [str(pk) for pk in RelayedTask.objects.values_list("task_id", flat=True)] == [str(waiting)]


def test_without_a_relay_backend_the_worker_runs_tasks_itself(transactional_db):
    RAN.clear()
    remember.enqueue("local")
    assert not relay.relay_enabled()
    call_command("worker", "--batch")
    assert RAN == ["local"]
