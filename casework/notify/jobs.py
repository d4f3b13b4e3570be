"""Periodic outbox drain: the safety net behind the task kicked on commit (retries, a lost task)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from casework.core.scheduler import register


def drain_outbox_job() -> dict[str, int]:
    from .delivery import outbox_drain

    return outbox_drain()


register("outbox-drain", timedelta(seconds=settings.CASEWORK["OUTBOX_DRAIN_SECONDS"]), drain_outbox_job)
