"""Background tasks of the core (django-tasks, run by `casework worker`)."""

from __future__ import annotations

from django_tasks import task


@task(takes_context=True)
def run_periodic_job(context, name: str) -> str:
    """One run of a registered periodic job, enqueued by the scheduler (casework/core/scheduler.py)."""
    from .scheduler import run_job

    return run_job(name, task_id=str(context.task_result.id))
