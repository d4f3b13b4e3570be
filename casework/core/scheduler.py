"""Periodic work inside `casework worker`, as durable tasks that any worker runs.

Apps register periodic jobs (`register(name, every, func)` in their `jobs.py`). Three steps, each of which
survives a SIGKILL at any point:

1. **Schedule** (`enqueue_due_jobs`, one worker at a time: the one holding the scheduler lease, renewed
   every tick). For each due job that is neither queued nor running it writes a django-tasks-db task row
   `run_periodic_job(name)` and records the task id on the job's `ScheduledJob` row, in one transaction.
   The tick never runs a job body, so a slow IMAP poll cannot delay the SLA sweep or let the lease lapse.
2. **Claim** (`run_job`, in whichever worker picked the task). A conditional UPDATE takes the job's own
   lease if the job is still due and nobody holds a live lease on it; otherwise the run is skipped. A
   `LeaseKeeper` thread renews the lease while the job runs, so a long run is never taken over while its
   worker lives, and a killed worker's lease simply expires (the scheduler then enqueues the job again).
3. **Stamp**: started/finished/duration/status/error on the row, in the UPDATE that releases the lease.
   Success: next due = start + interval, or after `BACKLOG_PAUSE` when the job says it left work for the
   next run (it returned a mapping with a true `"backlog"`: a job that drains a backlog in bounded
   batches, each run short, so the backlog does not wait out the interval between batches). Failure:
   logged with the job name, `consecutive_failures` + 1,
   retried after a backoff capped at the interval, the traceback tail visible in the admin.

Two tasks for the same job (a scheduler hand-over, a task the reaper put back) are harmless: the lease
makes them run one after the other, and the second finds the job no longer due and skips.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from .leases import LeaseKeeper, process_holder_id
from .models import JobStatus, ScheduledJob, SchedulerLease

logger = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
# The scheduler lease lasts this many ticks (30 s at the default 2 s tick): every tick renews it, so only a
# scheduler that missed 15 ticks in a row (dead, or frozen) is replaced.
LEASE_TICKS = 15
# First retry of a failed job after this long, doubling per consecutive failure, never beyond its interval.
RETRY_AFTER = timedelta(seconds=10)
# Enough of a traceback to find the failing line, small enough for an admin page.
ERROR_TAIL_CHARS = 4000
# A job that returned {"backlog": True, ...} runs again this soon (never later than its interval): its
# runs stay short and bounded, and other jobs' tasks get their turn in between.
BACKLOG_PAUSE = timedelta(seconds=5)


def left_backlog(result: object) -> bool:
    """Did a run say it left work for the next one (`{"backlog": True, ...}`)?"""
    return isinstance(result, dict) and bool(result.get("backlog"))


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


def job_lease() -> timedelta:
    return timedelta(seconds=settings.CASEWORK["JOB_LEASE_SECONDS"])


# --- the scheduler lease ---------------------------------------------------------------------------


def acquire_lease(holder: str, *, seconds: float | None = None) -> bool:
    """Take or renew the scheduler lease; False while another live holder has it."""
    if seconds is None:
        seconds = LEASE_TICKS * settings.CASEWORK["SCHEDULER_TICK_SECONDS"]
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


# --- pure timing rules ------------------------------------------------------------------------------


def retry_delay(every: timedelta, failures: int) -> timedelta:
    """Backoff after the n-th failure in a row: RETRY_AFTER, doubling, capped at the job's interval (a job
    that fails keeps being tried at least as often as it would run when healthy)."""
    doubling = RETRY_AFTER * (2 ** min(max(failures - 1, 0), 20))
    return min(every, doubling)


def lease_is_live(holder: str, expires_at: datetime | None, now: datetime) -> bool:
    return bool(holder) and expires_at is not None and expires_at >= now


def queued_task_is_live(job: ScheduledJob, task_status: str | None, task_started_at, now: datetime) -> bool:
    """Does the task recorded on the job still stand for a run that will happen?

    READY waits for a free worker; RUNNING is live while the job's lease is (or, before the task took the
    lease, for one lease length after it started). A task that is gone or finished without clearing the
    job (reaped as failed, a database error while stamping) stands for nothing: schedule again."""
    if not job.queued_task_id or task_status is None:
        return False
    if task_status == "READY":
        return True
    if task_status == "RUNNING":
        if job.holder:
            return lease_is_live(job.holder, job.lease_expires_at, now)
        return task_started_at is not None and task_started_at >= now - job_lease()
    return False


# --- step 1: schedule --------------------------------------------------------------------------------


class _Overtaken(Exception):
    """The job row changed between reading and enqueueing: roll the task row back."""


def enqueue_due_jobs(now: datetime | None = None) -> list[str]:
    """Enqueue one `run_periodic_job` task per due job that is not queued or running; returns the names.

    Runs in the scheduler tick: a handful of indexed reads and, per due job, one short transaction."""
    from django_tasks_db.models import DBTaskResult

    from .tasks import run_periodic_job

    now = now or timezone.now()
    registry = {job.name: job for job in jobs()}
    if not registry:
        return []
    rows = {row.name: row for row in ScheduledJob.objects.filter(name__in=registry)}
    missing = [
        ScheduledJob(name=name, every=job.every, next_due_at=now)
        for name, job in registry.items()
        if name not in rows
    ]
    if missing:
        ScheduledJob.objects.bulk_create(missing, ignore_conflicts=True)
        rows = {row.name: row for row in ScheduledJob.objects.filter(name__in=registry)}
    for row in rows.values():
        every = registry[row.name].every
        if row.every != every:
            # The interval changed in configuration: adopt it, and do not wait out a longer old one.
            sooner = min(row.next_due_at, (row.last_started_at or now) + every)
            ScheduledJob.objects.filter(name=row.name).update(every=every, next_due_at=sooner)
            row.every, row.next_due_at = every, sooner

    due = [
        row
        for row in rows.values()
        if row.next_due_at <= now and not lease_is_live(row.holder, row.lease_expires_at, now)
    ]
    queued_ids = [row.queued_task_id for row in due if row.queued_task_id]
    tasks = {
        str(task_id): (status, started_at)
        for task_id, status, started_at in DBTaskResult.objects.filter(id__in=queued_ids).values_list(
            "id", "status", "started_at"
        )
    }
    enqueued = []
    for row in sorted(due, key=lambda r: r.name):
        status, started_at = tasks.get(row.queued_task_id, (None, None))
        if queued_task_is_live(row, status, started_at, now):
            continue
        if row.queued_task_id:
            logger.warning(
                "periodic job %s: its task %s (%s) will not run it; enqueueing it again",
                row.name,
                row.queued_task_id,
                status or "gone",
            )
        try:
            # The task row and the note that it exists commit together or not at all: no in-memory
            # after-commit step that a crash between the two could lose.
            with transaction.atomic():
                result = run_periodic_job.enqueue(row.name)
                won = (
                    ScheduledJob.objects.filter(
                        name=row.name, queued_task_id=row.queued_task_id, next_due_at__lte=now
                    )
                    .filter(Q(holder="") | Q(lease_expires_at__lt=now))
                    .update(queued_task_id=str(result.id), queued_at=now)
                )
                if not won:
                    raise _Overtaken
        except _Overtaken:
            continue
        enqueued.append(row.name)
    return enqueued


# --- steps 2 and 3: claim, run, stamp ---------------------------------------------------------------


def _clear_queued_if(task_id: str):
    """Column expressions that forget the queued task only if it is this one (another may be waiting)."""
    if not task_id:
        return {}
    return {
        "queued_task_id": Case(When(queued_task_id=task_id, then=Value("")), default=F("queued_task_id")),
        "queued_at": Case(When(queued_task_id=task_id, then=Value(None)), default=F("queued_at")),
    }


def renew_job_lease(name: str, *, holder: str, lease: timedelta) -> bool:
    """Extend the lease of a run in progress; False if it is not ours any more."""
    return bool(
        ScheduledJob.objects.filter(name=name, holder=holder).update(lease_expires_at=timezone.now() + lease)
    )


def run_job(name: str, *, task_id: str = "", holder: str | None = None) -> str:
    """Run one periodic job if it is still due and free: "ok", "failed", "skipped" or "unknown"."""
    holder = holder or process_holder_id()
    job = _jobs.get(name)
    if job is None:
        # A task from a newer or older version of the code; forget it so the scheduler is not blocked.
        logger.error("periodic job %s is not registered in this worker; skipped", name)
        if task_id:
            ScheduledJob.objects.filter(name=name, queued_task_id=task_id).update(
                queued_task_id="", queued_at=None
            )
        return "unknown"

    lease = job_lease()
    started = timezone.now()
    before = ScheduledJob.objects.filter(name=name).first()
    claimed = (
        ScheduledJob.objects.filter(name=name, next_due_at__lte=started)
        .filter(Q(holder="") | Q(lease_expires_at__lt=started))
        .update(holder=holder, lease_expires_at=started + lease, last_started_at=started, last_holder=holder)
    )
    if not claimed:
        # Another worker runs it right now, or ran it since this task was queued.
        if task_id:
            ScheduledJob.objects.filter(name=name, queued_task_id=task_id).update(
                queued_task_id="", queued_at=None
            )
        return "skipped"
    if before is not None and before.holder and before.holder != holder:
        logger.warning(
            "periodic job %s: the lease of %s expired (worker lost mid-run); running it again",
            name,
            before.holder,
        )
    failures_before = before.consecutive_failures if before is not None else 0

    def renew() -> bool:
        return renew_job_lease(name, holder=holder, lease=lease)

    error = ""
    result = None
    try:
        # Three renewals per lease: two may fail (a database restart) before the lease can lapse.
        with LeaseKeeper(renew, every=lease.total_seconds() / 3, what=f"periodic job {name}"):
            result = job.func()
    except Exception:
        error = traceback.format_exc()[-ERROR_TAIL_CHARS:]
    except BaseException:
        # The worker is being stopped (SystemExit, KeyboardInterrupt) mid-run: hand the job back at once
        # instead of making the next worker wait for the lease.
        ScheduledJob.objects.filter(name=name, holder=holder).update(holder="", lease_expires_at=None)
        raise

    finished = timezone.now()
    if error:
        failures = failures_before + 1
        next_due = finished + retry_delay(job.every, failures)
        logger.error(
            "periodic job %s failed (%s in a row), retry at %s:\n%s",
            name,
            failures,
            next_due.isoformat(timespec="seconds"),
            error,
        )
    else:
        failures = 0
        next_due = started + job.every
        if left_backlog(result):
            next_due = min(next_due, finished + BACKLOG_PAUSE)
    stamped = ScheduledJob.objects.filter(name=name, holder=holder).update(
        holder="",
        lease_expires_at=None,
        last_finished_at=finished,
        last_duration=finished - started,
        last_status=JobStatus.FAILED if error else JobStatus.OK,
        last_error=error,
        consecutive_failures=failures,
        next_due_at=next_due,
        runs=F("runs") + 1,
        **_clear_queued_if(task_id),
    )
    if not stamped:
        logger.error(
            "periodic job %s: lease lost while it ran (this worker stalled for longer than %ss); "
            "its result was not recorded",
            name,
            int(lease.total_seconds()),
        )
    return "failed" if error else "ok"


def jobs_run_now(*, names: list[str]) -> int:
    """Admin action: due at the next tick (a run in progress is not interrupted)."""
    return ScheduledJob.objects.filter(name__in=names).update(next_due_at=timezone.now())


def _reap_stuck_tasks() -> dict[str, int]:
    from .workers import reap_stuck_tasks

    return reap_stuck_tasks()


# A successful run's task row says nothing the job row does not (thousands a day); a failed one is kept
# longer for whoever looks into it. Other tasks are left to `casework prune_db_task_results`.
KEEP_JOB_TASKS = timedelta(days=1)
KEEP_FAILED_JOB_TASKS = timedelta(days=14)


def prune_job_tasks(now: datetime | None = None) -> int:
    from django_tasks_db.models import DBTaskResult

    from .tasks import run_periodic_job

    now = now or timezone.now()
    finished = DBTaskResult.objects.filter(task_path=run_periodic_job.module_path)
    deleted, _ = finished.filter(
        Q(status="SUCCESSFUL", finished_at__lt=now - KEEP_JOB_TASKS)
        | Q(status="FAILED", finished_at__lt=now - KEEP_FAILED_JOB_TASKS)
    ).delete()
    return deleted


# The core's own periodic jobs (the core app has no jobs.py of its own: it is not a CaseworkAppConfig).
register("reap-stuck-tasks", timedelta(minutes=1), _reap_stuck_tasks)
register("prune-job-tasks", timedelta(hours=1), prune_job_tasks)


def _purge_transient() -> dict[str, int]:
    from .retention import purge_transient

    return purge_transient()


register("purge-transient", timedelta(days=1), _purge_transient)
