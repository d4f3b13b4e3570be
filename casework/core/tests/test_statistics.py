"""The `sqlite-statistics` job: every index gets planner statistics, a bounded slice per run."""

import pytest
from django.db import connection

from casework.core import statistics
from casework.core.models import Counter
from casework.core.scheduler import jobs
from casework.testing.factories import open_case

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_statistics_left_behind():
    """The in-memory test database outlives this test (a flush keeps `sqlite_stat1`): later tests on this
    process must plan as before, without statistics."""
    yield
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS sqlite_stat1")  # a schema change: the planner forgets them


def _stat_rows() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
        if not cursor.fetchone():
            return {}
        cursor.execute("SELECT idx, stat FROM sqlite_stat1 WHERE idx IS NOT NULL")
        return dict(cursor.fetchall())


def test_the_job_is_registered_daily():
    job = {j.name: j for j in jobs()}["sqlite-statistics"]
    assert job.every.days == 1


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL: autovacuum analyses")
def test_a_round_analyses_every_index_in_bounded_runs(customer):
    for i in range(3):
        open_case(subject=f"Printer {i}", description="It jams.", customer=customer)
    with connection.cursor() as cursor:
        indexes = statistics._indexes(cursor)
    assert "case_priority_created" in indexes and "case_open_created" in indexes
    # A tiny budget: each run analyses one index (at least one always), and says a backlog is left.
    first = statistics.refresh(budget=0)
    assert first["analysed"] == 1 and first["backlog"] is True
    runs = 1
    while True:
        result = statistics.refresh(budget=0.05)
        runs += 1
        if not result["backlog"]:
            break
        assert runs < 10 * len(indexes)
    rows = _stat_rows()
    # Every index of a table with rows has its line: "rows, rows per key of each column prefix".
    assert rows["case_open_created"].split()[0] == "3"
    assert rows["case_priority_created"].split()[0] == "3"
    assert Counter.objects.get(name=statistics.CURSOR).value == 0  # the round is over; the next starts again
    # The next round starts from the top with nothing missing.
    again = statistics.refresh(budget=0)
    assert again["analysed"] == 1


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite only")
def test_an_index_without_statistics_goes_first(customer):
    open_case(subject="Printer", description="It jams.", customer=customer)
    while statistics.refresh(budget=1)["backlog"]:
        pass
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM sqlite_stat1 WHERE idx = 'case_updated'")
    Counter.objects.filter(name=statistics.CURSOR).update(value=0)
    statistics.refresh(budget=0)
    assert "case_updated" in _stat_rows()


@pytest.mark.skipif(connection.vendor == "sqlite", reason="PostgreSQL only")
def test_postgresql_is_left_to_autovacuum():
    assert statistics.refresh().startswith("not SQLite")
