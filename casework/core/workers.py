"""What runs beside the task loop in every `casework worker` process.

- **Presence**: the process writes `WorkerProcess.seen_at` every few seconds. The task reaper trusts it:
  django-tasks-db leaves a killed worker's task RUNNING forever, and only a worker that stopped saying it
  is alive has really lost its task (a long task of a live worker is never run twice).
- **Scheduler tick** (when this process holds the scheduler lease): enqueue due periodic jobs.
- **Pollers**: cheap, frequent checks registered by apps (`register_poller`), each in its own thread so a
  slow one (an SMTP server that takes seconds) never delays the others or the tick. They run in every
  worker, so they must be safe to run concurrently; the outbox poller claims each row with a lease.

Threads only notice work and claim it; anything that must happen is a row in the database first.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from . import scheduler
from .leases import process_holder_id
from .models import WorkerProcess

logger = logging.getLogger(__name__)

PRESENCE_EVERY = timedelta(seconds=5)
# Six missed heartbeats: a worker this quiet is dead (or frozen, which for its tasks is the same).
WORKER_GONE_AFTER = timedelta(seconds=30)
# Tasks run by something that never reports presence (a bare `db_worker`) get the old time-based rule.
STUCK_WITHOUT_PRESENCE = timedelta(minutes=15)
MAX_TASK_ATTEMPTS = 3
FORGET_WORKERS_AFTER = timedelta(days=1)


# --- presence --------------------------------------------------------------------------------------


def worker_seen(worker_id: str, now: datetime | None = None) -> None:
    now = now or timezone.now()
    if not WorkerProcess.objects.filter(worker_id=worker_id).update(seen_at=now, stopped_at=None):
        WorkerProcess.objects.update_or_create(
            worker_id=worker_id,
            defaults={
                "hostname": socket.gethostname()[:255],
                "pid": os.getpid(),
                "started_at": now,
                "seen_at": now,
                "stopped_at": None,
            },
        )


def worker_stopped(worker_id: str) -> None:
    WorkerProcess.objects.filter(worker_id=worker_id).update(stopped_at=timezone.now())


def reap_stuck_tasks(now: datetime | None = None) -> dict[str, int]:
    """Put back the RUNNING tasks whose worker is gone (stopped, or silent for WORKER_GONE_AFTER), up to
    MAX_TASK_ATTEMPTS workers in total, then mark them failed so they show instead of hanging forever."""
    from django_tasks_db.models import DBTaskResult

    now = now or timezone.now()
    running = list(DBTaskResult.objects.filter(status="RUNNING").only("id", "worker_ids", "started_at"))
    last_worker = {task.id: (task.worker_ids or [""])[-1] for task in running}
    presence = {
        worker_id: (seen_at, stopped_at)
        for worker_id, seen_at, stopped_at in WorkerProcess.objects.filter(
            worker_id__in=set(last_worker.values())
        ).values_list("worker_id", "seen_at", "stopped_at")
    }
    requeued = failed = 0
    for task in running:
        worker_id = last_worker[task.id]
        if worker_id in presence:
            seen_at, stopped_at = presence[worker_id]
            gone = stopped_at is not None or seen_at < now - WORKER_GONE_AFTER
        else:
            gone = task.started_at is not None and task.started_at < now - STUCK_WITHOUT_PRESENCE
        if not gone:
            continue
        # The status is part of the UPDATE: a task that finished meanwhile is left alone.
        if len(task.worker_ids or []) >= MAX_TASK_ATTEMPTS:
            failed += DBTaskResult.objects.filter(id=task.id, status="RUNNING").update(
                status="FAILED",
                finished_at=now,
                exception_class_path="casework.core.workers.WorkerLost",
                traceback=f"worker lost {MAX_TASK_ATTEMPTS} times",
            )
        else:
            requeued += DBTaskResult.objects.filter(id=task.id, status="RUNNING").update(
                status="READY", started_at=None
            )
    if requeued or failed:
        logger.warning("task reaper: %s requeued, %s failed (their worker died)", requeued, failed)
    WorkerProcess.objects.filter(seen_at__lt=now - FORGET_WORKERS_AFTER).delete()
    return {"requeued": requeued, "failed": failed}


# --- pollers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Poller:
    name: str
    every: float
    # Returns True when it left work behind (a full batch): it is called again at once.
    func: Callable[[], bool]


_pollers: dict[str, Poller] = {}


def register_poller(name: str, every: float, func: Callable[[], bool]) -> None:
    _pollers[name] = Poller(name=name, every=every, func=func)


def pollers() -> list[Poller]:
    return sorted(_pollers.values(), key=lambda p: p.name)


def run_pollers_once() -> None:
    """`casework worker --batch`: one pass of every poller, until each has nothing left."""
    for poller in pollers():
        while poller.func():
            pass


class _Loop(threading.Thread):
    def __init__(self, name: str, every: float, step: Callable[[], bool], stopping: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.every = every
        self.step = step
        self.stopping = stopping

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                close_old_connections()
                more = False
                try:
                    more = bool(self.step())
                except Exception:
                    logger.exception("%s failed; trying again in %ss", self.name, self.every)
                if not more:
                    self.stopping.wait(self.every)
        finally:
            connection.close()


# Libraries the built-in jobs import on first use (scikit-learn and SciPy: the insights and triage
# jobs). Importing scikit-learn costs 1.2–2.3 s of CPU on the 2-core development VM, most of it SciPy's
# statistics module parsing its docstrings; paid by whichever job first needs it, that job's run took
# 1.6–6 s once per process instead of well under a second. A worker pays it at start instead.
WARM_IMPORTS = ("sklearn.feature_extraction.text", "sklearn.preprocessing", "scipy.sparse")


def warm_imports(modules: tuple[str, ...] = WARM_IMPORTS) -> dict[str, float]:
    """Import `modules` now, before the process claims work: {module: seconds}. A module that fails to
    import is logged and skipped (the job that needs it reports the error when it runs)."""
    import time
    from importlib import import_module

    took: dict[str, float] = {}
    for name in modules:
        started = time.perf_counter()
        try:
            import_module(name)
        except Exception:  # a warm-up never stops a worker from starting
            logger.warning("warm import of %s failed; the job needing it will say why", name, exc_info=True)
            continue
        took[name] = round(time.perf_counter() - started, 3)
    if took:
        logger.info("imported %s before claiming work (%.2f s)", ", ".join(took), sum(took.values()))
    return took


class WorkerBackground:
    """The threads beside django-tasks-db's loop: presence + scheduler tick in one, one per poller."""

    def __init__(self, *, worker_id: str | None = None, schedule: bool = True, poll: bool = True) -> None:
        self.worker_id = worker_id or process_holder_id()
        self.schedule = schedule
        self.poll = poll
        self.stopping = threading.Event()
        self._last_seen = 0.0
        self._threads: list[threading.Thread] = []

    def tick(self) -> bool:
        now = timezone.now()
        if now.timestamp() - self._last_seen >= PRESENCE_EVERY.total_seconds():
            worker_seen(self.worker_id, now)
            self._last_seen = now.timestamp()
        if self.schedule and scheduler.acquire_lease(self.worker_id):
            scheduler.enqueue_due_jobs()
        return False

    def start(self) -> None:
        tick_seconds = settings.CASEWORK["SCHEDULER_TICK_SECONDS"]
        self._threads.append(_Loop("casework-scheduler", tick_seconds, self.tick, self.stopping))
        if self.poll:
            for poller in pollers():
                self._threads.append(_Loop(f"poller:{poller.name}", poller.every, poller.func, self.stopping))
        logger.info(
            "worker %s: scheduler %s, jobs: %s; pollers: %s",
            self.worker_id,
            "on" if self.schedule else "off",
            ", ".join(job.name for job in scheduler.jobs()),
            ", ".join(p.name for p in pollers()) if self.poll else "off",
        )
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Let a poller finish the row it is sending, then say goodbye (its tasks can be reaped at once)."""
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout=timeout)
        close_old_connections()
        try:
            if self.schedule:
                scheduler.release_lease(self.worker_id)
            worker_stopped(self.worker_id)
        except Exception:
            logger.exception("worker %s: could not record its shutdown", self.worker_id)
        finally:
            connection.close()
