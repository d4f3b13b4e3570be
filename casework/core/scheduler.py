"""Periodic work inside `casework worker`, without another daemon.

Apps register periodic jobs (`register(name, every, func)`); one worker at a time holds the scheduler
lease (a row claimed with a conditional UPDATE) and, on each tick, runs the jobs that are due. Jobs are
expected to be short and set-based (an SLA sweep over an index, an IMAP poll that enqueues tasks); heavy
work belongs in tasks the job enqueues. The reaper puts tasks whose worker died back in the queue, since
django-tasks-db leaves them RUNNING forever.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone

from .models import PeriodicRun, SchedulerLease

logger = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
LEASE_SECONDS = 30


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: timedelta
    func: Callable[[], object]


_jobs: dict[str, PeriodicJob] = {}


def register(name: str, every: timedelta, func: Callable[[], object]) -> None:
    _jobs[name] = PeriodicJob(name=name, every=every, func=func)


def jobs() -> list[PeriodicJob]:
    return sorted(_jobs.values(), key=lambda j: j.name)


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire_lease(holder: str, *, seconds: int = LEASE_SECONDS) -> bool:
    now = timezone.now()
    expires = now + timedelta(seconds=seconds)
    claimed = SchedulerLease.objects.filter(
        Q(name=LEASE_NAME) & (Q(holder=holder) | Q(expires_at__lt=now))
    ).update(holder=holder, expires_at=expires)
    if claimed:
        return True
    try:
        with transaction.atomic():
            SchedulerLease.objects.create(name=LEASE_NAME, holder=holder, expires_at=expires)
        return True
    except IntegrityError:
        return False


def release_lease(holder: str) -> None:
    SchedulerLease.objects.filter(name=LEASE_NAME, holder=holder).delete()


def run_due_jobs(now=None) -> list[str]:
    """Run every registered job whose interval has passed; returns the names that ran."""
    now = now or timezone.now()
    ran = []
    for job in jobs():
        last = PeriodicRun.objects.filter(name=job.name).values_list("last_run_at", flat=True).first()
        if last is not None and now - last < job.every:
            continue
        PeriodicRun.objects.update_or_create(name=job.name, defaults={"last_run_at": now})
        try:
            job.func()
            ran.append(job.name)
        except Exception:
            logger.exception("periodic job %s failed", job.name)
    return ran


STUCK_AFTER = timedelta(minutes=15)
MAX_ATTEMPTS = 3


def reap_stuck_tasks(now=None) -> dict[str, int]:
    """Tasks RUNNING longer than STUCK_AFTER lost their worker (SIGKILL, OOM, reboot): run them again, up to
    MAX_ATTEMPTS workers in total, then mark them failed so they show up instead of hanging forever."""
    from django_tasks_db.models import DBTaskResult

    now = now or timezone.now()
    stuck = DBTaskResult.objects.filter(status="RUNNING", started_at__lt=now - STUCK_AFTER)
    requeued = failed = 0
    for result in stuck.only("id", "worker_ids"):
        if len(result.worker_ids or []) >= MAX_ATTEMPTS:
            failed += DBTaskResult.objects.filter(id=result.id, status="RUNNING").update(
                status="FAILED",
                finished_at=now,
                exception_class_path="casework.core.scheduler.WorkerLost",
                traceback=f"worker lost {MAX_ATTEMPTS} times",
            )
        else:
            requeued += DBTaskResult.objects.filter(id=result.id, status="RUNNING").update(
                status="READY", started_at=None
            )
    if requeued or failed:
        logger.warning("task reaper: %s requeued, %s failed", requeued, failed)
    return {"requeued": requeued, "failed": failed}


register("reap-stuck-tasks", timedelta(minutes=1), reap_stuck_tasks)


class SchedulerThread(threading.Thread):
    def __init__(self, *, tick_seconds: float = 5.0) -> None:
        super().__init__(name="casework-scheduler", daemon=True)
        self.tick_seconds = tick_seconds
        self.holder = holder_id()
        self.stopping = threading.Event()

    def run(self) -> None:
        logger.info("scheduler started as %s with jobs: %s", self.holder, ", ".join(j.name for j in jobs()))
        while not self.stopping.is_set():
            close_old_connections()
            try:
                if acquire_lease(self.holder):
                    run_due_jobs()
            except Exception:
                logger.exception("scheduler tick failed")
            self.stopping.wait(self.tick_seconds)
        try:
            release_lease(self.holder)
        finally:
            close_old_connections()

    def stop(self) -> None:
        self.stopping.set()
