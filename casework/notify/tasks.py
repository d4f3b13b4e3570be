"""Background tasks of the outbox (django-tasks, run by `casework worker`)."""

from __future__ import annotations

from django_tasks import task


@task()
def drain_outbox() -> dict[str, int]:
    """Kicked when an outbox row commits, so a reply leaves within seconds instead of at the next tick."""
    from .delivery import outbox_drain

    return outbox_drain()
