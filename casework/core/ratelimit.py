"""Abuse limits shared by every process: django-ratelimit's rates, keys and windows over a counter table.

Why this shape: django-ratelimit (a library made for the job) parses rates ("30/m", "5/10m"), builds the
window keys and offers `is_ratelimited`/`get_usage`, but keeps its counts in a Django cache, and its own
system check refuses the database cache (`DatabaseCache.incr` is a read then a write, so two processes
lose counts). casework runs on SQLite or PostgreSQL with no Redis/memcached, so `CounterCache` below is
a cache backend that does only what a counter needs — `add` and `incr` as one atomic upsert
(`INSERT ... ON CONFLICT DO UPDATE ... RETURNING`, SQLite ≥ 3.35 and PostgreSQL) on `core_ratecounter`.
django-ratelimit counts with `add(key, 1)` then, when the key was there, `incr(key)`: two statements per
key, and every API request counts two keys (IP and token). Here `add` of a positive value is already the
counting upsert (insert at 1, restart an expired window at 1, else add) and hands the new count to the
`incr` that follows for the same key, which then runs no statement: one statement per key (bench:
four autocommit writes per API request became two). Expired windows are deleted by the daily retention
job (casework/core/retention.py).

Use:
    usage = hit("api-token", token_id, "600/m")     # counts this request; usage.limited, usage.retry_after
    allow("portal-link-ip", ip, limit=5, window=timedelta(hours=1))   # the portal's signature
Rates are fixed windows (with a per-key offset, so windows do not all end at once); a refused attempt is
counted too, so a client hammering a limit stays limited until its window ends.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.db import connection
from django.utils import timezone
from django_ratelimit.core import get_usage

_TABLE = "core_ratecounter"


@dataclass(frozen=True)
class Usage:
    count: int
    limit: int
    limited: bool
    retry_after: int  # seconds until the window ends


def hit(scope: str, key: Any, rate: str, *, increment: bool = True) -> Usage:
    """Count one attempt of `key` in `scope` against `rate` ("N/s|m|h|d", "N/10m"); empty rate = no limit."""
    if not rate:
        return Usage(count=0, limit=0, limited=False, retry_after=0)
    value = str(key)[:200] or "?"
    usage = get_usage(None, group=scope, key=lambda _group, _request: value, rate=rate, increment=increment)
    if usage is None:  # RATELIMIT_ENABLE = False
        return Usage(count=0, limit=0, limited=False, retry_after=0)
    return Usage(
        count=usage["count"],
        limit=usage["limit"],
        limited=usage["should_limit"],
        retry_after=max(int(usage["time_left"]), 1),
    )


def allow(scope: str, key: str, *, limit: int, window: timedelta) -> bool:
    """True when `key` made at most `limit` attempts in the current `window` (this one counted): the
    signature of the portal's first limiter (casework/portal/ratelimit.py), so it can switch to this store."""
    if limit <= 0:
        return True
    return not hit(scope, key, f"{limit}/{max(int(window.total_seconds()), 1)}s").limited


def client_ip(request) -> str:
    """The client address: REMOTE_ADDR, or the proxy's X-Forwarded-For entry behind a trusted proxy
    (CASEWORK_BEHIND_PROXY, the same rule sign-in throttling uses)."""
    from django.conf import settings

    if getattr(settings, "AXES_IPWARE_PROXY_COUNT", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        parts = [p.strip() for p in forwarded.split(",") if p.strip()]
        if parts:
            return parts[-settings.AXES_IPWARE_PROXY_COUNT]
    return request.META.get("REMOTE_ADDR", "") or "?"


class CounterCache(BaseCache):
    """A Django cache backend for integer counters only, atomic across processes (see the module doc)."""

    def __init__(self, location, params):
        super().__init__(params)
        # key -> the count the last counting `add` returned, for the `incr` django-ratelimit sends next
        self._counted = threading.local()

    def _expiry(self, timeout):
        timeout = self.get_backend_timeout(timeout)
        return timezone.now() + timedelta(seconds=timeout if timeout is not None else 86400 * 365)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        key = self.make_and_validate_key(key, version=version)
        now = timezone.now()
        if int(value) > 0:
            # Counting (django-ratelimit's increment): one upsert that inserts, restarts an expired
            # window, or adds; "added" when the count is the initial value (nothing was counted before
            # in this window), else the count waits for the `incr` that follows.
            count = self._upsert_add(key, int(value), self._expiry(timeout), now)
            if count == int(value):
                self._counted.__dict__.pop(key, None)
                return True
            self._counted.__dict__[key] = count
            return False
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {_TABLE} (key, value, expires) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires "
                f"WHERE {_TABLE}.expires < %s",
                [key, int(value), self._expiry(timeout), now],
            )
            return cursor.rowcount == 1

    def incr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        counted = self._counted.__dict__.pop(key, None)
        if counted is not None and delta == 1:
            return counted  # the `add` just before counted this attempt
        # A window that expired between add() and here starts again at delta rather than failing.
        return self._upsert_add(key, int(delta), self._expiry(DEFAULT_TIMEOUT), timezone.now())

    def _upsert_add(self, key, delta, expires, now) -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {_TABLE} (key, value, expires) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET "
                f"value = CASE WHEN {_TABLE}.expires < %s THEN excluded.value "
                f"ELSE {_TABLE}.value + excluded.value END, "
                f"expires = CASE WHEN {_TABLE}.expires < %s THEN excluded.expires ELSE {_TABLE}.expires END "
                "RETURNING value",
                [key, delta, expires, now, now],
            )
            return cursor.fetchone()[0]

    def get(self, key, default=None, version=None):
        key = self.make_and_validate_key(key, version=version)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT value FROM {_TABLE} WHERE key = %s AND expires >= %s", [key, timezone.now()]
            )
            row = cursor.fetchone()
        return default if row is None else row[0]

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        key = self.make_and_validate_key(key, version=version)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {_TABLE} (key, value, expires) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires",
                [key, int(value), self._expiry(timeout)],
            )

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        key = self.make_and_validate_key(key, version=version)
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {_TABLE} SET expires = %s WHERE key = %s", [self._expiry(timeout), key])
            return cursor.rowcount == 1

    def delete(self, key, version=None):
        key = self.make_and_validate_key(key, version=version)
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {_TABLE} WHERE key = %s", [key])
            return cursor.rowcount == 1

    def has_key(self, key, version=None):
        return self.get(key, version=version) is not None

    def clear(self):
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {_TABLE}")


def prune_expired() -> int:
    from .models import RateCounter

    return RateCounter.objects.filter(expires__lt=timezone.now()).delete()[0]
