"""The task relay: tasks stay rows in the database; another Django Tasks backend's workers run them.

For installs whose task volume outgrows `casework worker` processes polling the database
(`CASEWORK_TASK_RELAY=rq`, docs/deploy.md). What does **not** change:

- **Enqueueing is a row in the caller's transaction** (django-tasks-db), committed or rolled back with
  the write that asked for it. Handing the task straight to Redis would break that: a rolled-back
  write would still run its task, and a crash between the commit and the hand-over would lose it.
- **The row is the truth**: status, worker, result and error are recorded there, the scheduler and the
  task reaper read them there, the admin shows them there.

What changes: `casework worker` no longer runs tasks itself. It **relays** each ready row — claimed with
`SKIP LOCKED`, so several workers never hand over the same row in the same pass — as one
`run_relayed(task_id)` task on the relay backend (RQ), and notes that in `RelayedTask`. An RQ worker
(`casework rqworker default`) runs `run_relayed`, which claims the row exactly as `casework worker`
would (READY → RUNNING in one locked step), runs the task and records its result on the row.

Delivery to the runner is at-least-once, execution exactly once: a relayed task the runner lost (a
Redis restart without persistence) is still READY after `TASK_RELAY_RESEND_SECONDS` and is handed over
again; a duplicate `run_relayed` finds the row no longer READY and does nothing. The runner says it is
alive (`WorkerProcess`) while a task runs, so the task reaper puts back the task of a runner that died.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from datetime import datetime, timedelta
from importlib import import_module
from uuid import UUID

from django.conf import settings
from django.db import OperationalError, close_old_connections, connection, transaction
from django.utils import timezone
from django_tasks import task

from .models import RelayedTask

logger = logging.getLogger(__name__)

RELAY_ALIAS = "relay"
RELAY_BATCH = 100


def relay_enabled() -> bool:
    return RELAY_ALIAS in settings.TASKS


def resend_after() -> timedelta:
    return timedelta(seconds=settings.CASEWORK["TASK_RELAY_RESEND_SECONDS"])


# --- the relay (in `casework worker`) ----------------------------------------------------------------


def relay_ready(*, limit: int = RELAY_BATCH, now: datetime | None = None) -> int:
    """Hand up to `limit` ready database tasks to the relay backend; return how many were handed over.

    Rows handed over less than `resend_after()` ago are left alone. The hand-over happens inside the
    transaction that notes it: if the commit fails, the runner may get a task the relay will hand over
    again later, which `run_relayed` turns into a no-op.
    """
    from django_tasks_db.models import DBTaskResult

    now = now or timezone.now()
    recently = RelayedTask.objects.filter(relayed_at__gte=now - resend_after()).values("task_id")
    ready = (
        DBTaskResult.objects.ready()
        .filter(backend_name="default")
        .exclude(id__in=recently)
        .only("id", "priority")
    )
    with transaction.atomic():
        rows = list(ready.select_for_update(skip_locked=True)[:limit])
        if not rows:
            return 0
        handed = []
        for row in rows:
            result = run_relayed.using(backend=RELAY_ALIAS).enqueue(str(row.id))
            handed.append(RelayedTask(task_id=row.id, relayed_at=now, runner_task_id=str(result.id)[:64]))
        RelayedTask.objects.bulk_create(
            handed,
            update_conflicts=True,
            unique_fields=["task_id"],
            update_fields=["relayed_at", "runner_task_id"],
        )
    logger.info("task relay: %s task(s) handed to the %r backend", len(handed), RELAY_ALIAS)
    return len(handed)


def forget_finished(now: datetime | None = None) -> int:
    """Drop the relay notes of tasks that are no longer ready (run, running or purged)."""
    from django_tasks_db.models import DBTaskResult

    now = now or timezone.now()
    deleted, _ = (
        RelayedTask.objects.filter(relayed_at__lt=now - timedelta(minutes=1))
        .exclude(task_id__in=DBTaskResult.objects.ready().values("id"))
        .delete()
    )
    return deleted


class Relay:
    """The loop `casework worker` runs instead of executing tasks when a relay backend is configured."""

    FORGET_EVERY = 60.0

    def __init__(self, *, interval: float = 1.0) -> None:
        self.interval = interval
        self.running = True
        self._forgot_at = 0.0

    def stop(self, signum: int | None = None, frame: object = None) -> None:
        self.running = False

    def run_once(self) -> int:
        """Relay until nothing is left; return how many tasks were handed over."""
        total = 0
        while True:
            try:
                handed = relay_ready()
            except OperationalError as exc:
                # SQLite's write lock held by a request: try again at the next pass.
                if "locked" not in str(exc):
                    raise
                logger.info("task relay: database busy, retrying")
                return total
            total += handed
            if handed < RELAY_BATCH:
                break
        if time.monotonic() - self._forgot_at > self.FORGET_EVERY:
            forget_finished()
            self._forgot_at = time.monotonic()
        return total

    def run(self) -> None:
        logger.info("task relay: handing ready tasks to the %r backend", RELAY_ALIAS)
        previous = {sig: signal.signal(sig, self.stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while self.running:
                close_old_connections()
                self.run_once()
                close_old_connections()
                deadline = time.monotonic() + self.interval
                while self.running and time.monotonic() < deadline:
                    time.sleep(min(0.1, self.interval))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


# --- the runner (in an RQ worker) ----------------------------------------------------------------------


def _runner_id() -> str:
    return f"relay:{socket.gethostname()[:40]}:{os.getpid()}"


class _Presence(threading.Thread):
    """Says the runner is alive while its task runs, so the reaper requeues only a dead runner's task."""

    def __init__(self, worker_id: str) -> None:
        super().__init__(name="relay-presence", daemon=True)
        self.worker_id = worker_id
        self.done = threading.Event()

    def run(self) -> None:
        from .workers import PRESENCE_EVERY, worker_seen

        try:
            while not self.done.wait(PRESENCE_EVERY.total_seconds()):
                try:
                    worker_seen(self.worker_id)
                except Exception:  # a missed heartbeat is retried; the task itself goes on
                    logger.warning("task relay: presence of %s not recorded", self.worker_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection


@task()
def run_relayed(task_id: str) -> str:
    """Claim database task `task_id` if it is still READY, run it and record the outcome on its row."""
    from django_tasks_db.management.commands.db_worker import Worker
    from django_tasks_db.models import DBTaskResult
    from django_tasks_db.utils import exclusive_transaction

    from .workers import worker_seen, worker_stopped

    # Site-specific periodic jobs register on import, as in `casework worker` (this runner runs them too).
    for module in settings.CASEWORK["JOB_MODULES"]:
        import_module(module)
    task_uuid = UUID(task_id)
    worker_id = _runner_id()
    candidates = DBTaskResult.objects.ready().filter(id=task_uuid)
    with exclusive_transaction(candidates.db):
        row = candidates.get_locked()
        if row is None:
            return "skipped: not ready (already run, running, or gone)"
        worker_seen(worker_id)
        row.claim(worker_id)
    presence = _Presence(worker_id)
    presence.start()
    try:
        runner = Worker(
            queue_names=["*"],
            interval=0,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=worker_id,
            excluded_queue_names=[],
        )
        runner.run_task(row)  # records SUCCESSFUL or FAILED (with the traceback) on the row
    finally:
        presence.done.set()
        # Not waited for long: a heartbeat stuck behind SQLite's write lock must not hold up the runner.
        presence.join(timeout=2)
        worker_stopped(worker_id)
        RelayedTask.objects.filter(task_id=task_uuid).delete()
    return f"{row.status.lower()}: {row.task_path}"
