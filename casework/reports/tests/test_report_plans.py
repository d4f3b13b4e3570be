"""The dashboard's and the weekly report's SLA figures read clocks by index (issue 16 at a million cases):
each part of the compliance count is one range of its own index, never a scan of every clock (the OR
over three columns it replaced cost ~1 s of database time per call at 1,000,000 cases). Plans, not
timings: casework/testing/plans.py."""

from __future__ import annotations

from datetime import date

import pytest
import time_machine
from django.db import connection

from casework.reports import selectors
from casework.reports.filters import ReportFilter
from casework.testing.plans import plans_of

from .conftest import utc

pytestmark = pytest.mark.django_db
MON, SUN = date(2026, 11, 30), date(2026, 12, 6)


@pytest.fixture(autouse=True)
def _week(week):
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE cases_case")
            cursor.execute("ANALYZE sla_caseclock")
    with time_machine.travel(utc(2026, 12, 7, 9), tick=False):
        yield week


def test_sla_compliance_is_three_index_ranges(week):
    figures, plans = plans_of(selectors.sla_compliance, ReportFilter(start=MON, end=SUN))
    assert sum(v["met"] for v in figures.values()) == 10
    assert len(plans) == 3, [p.sql for p in plans]
    met, swept, pending = plans
    for plan in plans:
        assert not plan.problems(), plan.text
    if connection.vendor == "sqlite":
        # PostgreSQL chooses by its statistics: on nine cases it rightly drives from the cases' primary
        # key; at a million it takes these same ranges (EXPLAIN in docs/scaling.md).
        assert met.uses_index("sla_clock_met_stopped"), met.text
        assert swept.uses_index("sla_clock_breached_at"), swept.text
        assert pending.uses_index("sla_clock_due_running"), pending.text


def test_weekly_series_reads_clocks_by_index(week):
    rows, plans = plans_of(selectors.weekly_series, ReportFilter(start=MON, end=SUN))
    assert rows[0]["met"] == 10 and rows[0]["breached"] == 3
    # The three SLA ranges (the first-response p90 is a WITH query, not explained here).
    assert len(plans) == 3, [p.sql for p in plans]
    for plan in plans:
        assert not plan.problems(), plan.text


def test_live_counts_read_the_open_cases_only(week):
    counts, plans = plans_of(selectors.live_counts, ReportFilter(start=SUN, end=SUN))
    assert counts["open"] == 1  # E
    assert len(plans) == 3
    for plan in plans:
        # The breached-and-still-counting index holds exactly the clocks being counted.
        assert not plan.problems(allow_full_index={"sla_clock_breached_counting"}), plan.text


def test_weekly_series_reads_only_the_weeks_it_has_not_kept(week, settings):
    """Weeks that ended are kept (CASEWORK_REPORTS_PAST_WEEKS_SECONDS): a second dashboard reads the
    current week only, with the same figures."""
    from django.core.cache import caches

    caches["reports"].clear()
    settings.CASEWORK = {**settings.CASEWORK, "REPORTS_PAST_WEEKS_SECONDS": 3600}
    f = ReportFilter(start=date(2026, 11, 23), end=date(2026, 12, 7))  # last week … this Monday
    first, plans = plans_of(selectors.weekly_series, f)
    again, plans_again = plans_of(selectors.weekly_series, f)
    assert again == first and first[1]["met"] == 10 and first[1]["breached"] == 3
    assert [row["week"] for row in first] == [date(2026, 11, 23), date(2026, 11, 30), date(2026, 12, 7)]
    # Every query of the second call reads from this Monday on, none from the weeks kept.
    assert plans_again and all("2026-11-30" not in p.sql and "2026-11-23" not in p.sql for p in plans_again)
    assert len(plans_again) <= len(plans)
    caches["reports"].clear()


def test_reports_warm_keeps_the_ended_weeks_for_the_first_dashboard(week, settings):
    """The worker's `reports-warm` job fills the shared cache with the weeks that ended, for every team
    and for each lead's teams: the first dashboard of the day then reads only the current week, with the
    figures it would have computed itself; a second run reads nothing."""
    from django.core.cache import caches

    from casework.reports import dashboard
    from casework.reports.dashboard import _weeks_range
    from casework.reports.filters import local_today

    settings.CASEWORK = {**settings.CASEWORK, "REPORTS_PAST_WEEKS_SECONDS": 3600}
    caches["reports"].clear()
    today = local_today()
    full = _weeks_range(ReportFilter(start=today, end=today), today)
    expected = selectors.weekly_series(full)
    caches["reports"].clear()

    assert "06 Dec kept for" in dashboard.warm()["kept"]  # every team, and the fixture lead's team
    rows, plans = plans_of(selectors.weekly_series, full)
    assert rows == expected and rows[-2]["met"] == 10  # last week's figures, from the cache
    assert plans and all(str(MON) not in p.sql for p in plans)  # only this week (from 7 Dec) was read
    _, again = plans_of(dashboard.warm)
    # At rest: the leads and the cache table, nothing from the cases or their clocks.
    assert again and not [p.sql for p in again if "cases_case" in p.sql or "sla_caseclock" in p.sql]
    caches["reports"].clear()


def test_reports_warm_reads_a_week_at_a_time_within_its_budget(week, settings):
    """After the kept weeks expire, a run starts another week only while one more fits its budget and
    says "backlog" so the scheduler comes back within seconds; the weeks end up as one run keeps them."""
    from django.core.cache import caches

    from casework.core.scheduler import left_backlog
    from casework.reports import dashboard
    from casework.reports.dashboard import _weeks_range
    from casework.reports.filters import local_today

    settings.CASEWORK = {**settings.CASEWORK, "REPORTS_PAST_WEEKS_SECONDS": 3600}
    today = local_today()
    full = _weeks_range(ReportFilter(start=today, end=today), today)
    caches["reports"].clear()
    dashboard.warm()
    expected = selectors.weekly_series(full)
    caches["reports"].clear()
    runs = []
    while not runs or left_backlog(runs[-1]):
        runs.append(dashboard.warm(budget=0))  # one week a run: the first always, then none fits
        assert len(runs) < 100
    assert all(run["read"] == 1 for run in runs[:-1]) and runs[-1]["read"] <= 1
    assert sum(run["read"] for run in runs) == 11 * 2  # eleven ended weeks, two scopes
    rows, plans = plans_of(selectors.weekly_series, full)
    assert rows == expected and plans and all(str(MON) not in p.sql for p in plans)
    caches["reports"].clear()


def test_reports_warm_is_a_registered_job():
    from casework.core.scheduler import jobs

    assert "reports-warm" in {job.name for job in jobs()}
