"""Sliding-window rate limits kept in the database, so every web process counts the same attempts.

`allow(scope, key, limit=N, window=timedelta)` counts the attempts of `key` in the last `window`
(one index range read on `portal_attempt_window`) and records this one when it is allowed. Refused
attempts are not recorded, so a client hammering a limit does not extend its own ban indefinitely. Old
rows of the scope are pruned now and then by the same call.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.db import transaction

from casework.core import clock

from .models import Attempt

PRUNE_PROBABILITY = 0.02


def count(scope: str, key: str, *, window: timedelta) -> int:
    since = clock.now() - window
    return Attempt.objects.filter(scope=scope, key=key[:320], created_at__gte=since).count()


def allow(scope: str, key: str, *, limit: int, window: timedelta) -> bool:
    """True (and the attempt counted) when `key` made fewer than `limit` attempts in `window`."""
    if limit <= 0:
        return True
    key = key[:320]
    now = clock.now()
    with transaction.atomic():
        if count(scope, key, window=window) >= limit:
            return False
        Attempt.objects.create(scope=scope, key=key, created_at=now)
        if random.random() < PRUNE_PROBABILITY:
            Attempt.objects.filter(scope=scope, created_at__lt=now - max(window, timedelta(days=1))).delete()
    return True
