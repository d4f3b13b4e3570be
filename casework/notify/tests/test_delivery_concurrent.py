"""Several workers draining the outbox at once (issue 20, scale-out): every row is sent exactly once.

Three drainers run in threads, each on its own database connection (as three `casework worker`
processes would), over the same 60 due rows at the same moment; the claim is a compare-and-swap on
`attempts`, so a row two workers read is sent by the one whose UPDATE won and skipped by the other.
Runs on the suite's database: SQLite here, PostgreSQL in CI (`DATABASE_URL`)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from email import message_from_bytes, policy

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from casework.notify.delivery import outbox_drain
from casework.notify.models import Outbox, OutboxStatus

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 60
WORKERS = 3


def _drain_retrying_shared_cache_locks(holder: str) -> dict:
    # pytest-django's SQLite test database is in memory with a shared cache, where a second writer gets
    # SQLITE_LOCKED at once instead of queueing as on the file database production uses (see
    # routing/tests/test_concurrency.py); PostgreSQL never needs the retry.
    for _ in range(1000):
        try:
            return outbox_drain(holder=holder, limit=ROWS)
        except OperationalError as exc:
            if connection.vendor != "sqlite" or "locked" not in str(exc):
                raise
            time.sleep(0.01)
    raise AssertionError("SQLite stayed locked")


@pytest.fixture
def sink(settings, smtp_sink):
    for key, value in smtp_sink.django_settings.items():
        setattr(settings, key, value)
    return smtp_sink


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="the in-memory shared-cache test database answers SQLITE_LOCKED at once to a second writer, also "
    "mid-delivery, which strands a claimed row until its lease ends; production SQLite queues writers "
    "(casework/core/db/sqlite3) and CI runs this on PostgreSQL",
)
def test_three_drainers_send_every_row_once(sink):
    now = timezone.now()
    Outbox.objects.bulk_create(
        [
            Outbox(
                from_address="Support <support@casework.test>",
                to=[f"customer{i}@customer.test"],
                subject=f"Update {i}",
                body_text="Hello",
                next_attempt_at=now,
                created_at=now,
            )
            for i in range(ROWS)
        ]
    )
    start = threading.Barrier(WORKERS)
    results: dict[str, dict] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            start.wait(timeout=30)
            sent: Counter[str] = Counter()
            while True:
                counts = _drain_retrying_shared_cache_locks(name)
                if not counts:
                    break
                sent.update(counts)
            results[name] = dict(sent)
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sum(r.get("sent", 0) for r in results.values()) == ROWS, results
    received = sink.wait_for(ROWS)
    ids = [message_from_bytes(raw, policy=policy.default)["Message-ID"] for *_, raw in received]
    assert len(ids) == ROWS and len(set(ids)) == ROWS  # no mail twice
    rows = Outbox.objects.all()
    assert all(row.status == OutboxStatus.SENT and row.attempts == 1 for row in rows)
    assert len({row.claimed_by for row in rows}) >= 1
