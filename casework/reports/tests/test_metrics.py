"""Every metric's definition (docs/metrics.md) on the hand-built week of conftest.py, with known answers.

These tests also run on PostgreSQL: under CI's second run natively, and in the SQLite run through
test_postgres.py, which runs this module again in a subprocess against the `postgres_server` cluster."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine

from casework.reports import selectors
from casework.reports.filters import ReportFilter, parse_filter
from casework.reports.registry import all_metrics, get
from casework.sla.models import Metric

from .conftest import utc

pytestmark = pytest.mark.django_db
H = 3600.0
MON, SUN = date(2026, 11, 30), date(2026, 12, 6)
NOW = utc(2026, 12, 7, 9)  # the Monday after the week


@pytest.fixture
def rng() -> ReportFilter:
    return ReportFilter(start=MON, end=SUN)


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def _week(week):
    return week


def test_volume_per_day_excludes_merged_cases(rng):
    per_day = {r["period"]: r["count"] for r in selectors.volume(rng)}
    assert per_day == {MON: 2, date(2026, 12, 1): 2, date(2026, 12, 2): 2, date(2026, 12, 3): 2}
    by_priority = {(r["period"], r["key"]): r["count"] for r in selectors.volume(rng, split="priority")}
    assert by_priority[(MON, "high")] == 1 and by_priority[(date(2026, 12, 1), "low")] == 1
    weekly = selectors.volume(rng, by="week")
    assert [(r["period"], r["count"]) for r in weekly] == [(MON, 8)]


def test_volume_table_fills_empty_days(rng):
    (table,) = get("volume").run(rng)
    assert len(table.rows) == 7
    assert table.rows[-1] == {"period": SUN, "count": 0, "total": 0}


def test_day_boundaries_follow_the_reporting_zone(settings, rng):
    # In Tokyo (UTC+9) B, opened Mon 16:30 UTC, was opened on Tuesday 01:30 local.
    settings.TIME_ZONE = "Asia/Tokyo"
    f = ReportFilter(start=MON, end=SUN)
    per_day = {r["period"]: r["count"] for r in selectors.volume(f)}
    assert per_day == {MON: 1, date(2026, 12, 1): 3, date(2026, 12, 2): 2, date(2026, 12, 3): 2}
    # The range itself is local: Monday in Tokyo starts Sunday 15:00 UTC.
    assert f.start_at == utc(2026, 11, 29, 15)
    assert selectors.new_cases(ReportFilter(start=MON, end=MON)) == 1


def test_backlog_counts_reopened_cases_exactly(rng):
    series = dict(selectors.backlog(rng))
    # Mon: B open. Tue: C (awaiting client) open; B, D resolved. Wed: D reopened and resolved again, C
    # resolved; E open, F closed. Thu: G and H resolved the same day; I merged (not counted).
    assert series == {
        MON: 1,
        date(2026, 12, 1): 1,
        date(2026, 12, 2): 1,
        date(2026, 12, 3): 1,
        date(2026, 12, 4): 1,
        date(2026, 12, 5): 1,
        date(2026, 12, 6): 1,
    }


def test_backlog_mid_day_sees_the_reopened_case(rng):
    # At Wed 10:00 (an "end" capped at now): C (awaiting client), D (reopened at 09:00), E are open.
    with time_machine.travel(utc(2026, 12, 2, 9, 59), tick=False):
        series = dict(selectors.backlog(rng.with_range(date(2026, 12, 2), date(2026, 12, 2))))
    assert series == {date(2026, 12, 2): 3}


def test_backlog_age_now_and_in_the_past(rng):
    summary, buckets = selectors.backlog_age(rng)
    # Only E is open at the end of the week: opened Wed 09:00, range ends Mon 00:00 → 4 days 15 h.
    assert summary.count == 1 and summary.max == pytest.approx(4 * 24 * H + 15 * H, abs=1)
    assert buckets == {"under 1 day": 0, "1–3 days": 0, "3–7 days": 1, "over 7 days": 0}
    # End of Tuesday: B resolved, C awaiting client (opened Tue 09:00 → 15 h), D resolved (reopened later).
    summary, _ = selectors.backlog_age(rng.with_range(MON, date(2026, 12, 1)))
    assert summary.count == 1 and summary.max == pytest.approx(15 * H, abs=1)


def test_first_response_wall_and_business(rng):
    t = selectors.response_times(rng, Metric.FIRST_RESPONSE)
    # Wall: C 0.5, A 1, D 1, H 2, B 17 → nearest-rank median = 3rd = 1 h, p90 = 5th = 17 h.
    assert t.wall["all"].count == 5
    assert (t.wall["all"].median, t.wall["all"].p90, t.wall["all"].max) == pytest.approx(
        (H, 17 * H, 17 * H), abs=0.01
    )
    # Business (closed hours after 17:30 Monday not counted for B): 0.5, 1, 1, 1.5, 2.
    b = t.business["all"]
    assert (b.count, b.median, b.p90, b.max) == (
        5,
        pytest.approx(H),
        pytest.approx(2 * H),
        pytest.approx(2 * H),
    )
    assert t.wall["high"].median == pytest.approx(17 * H, abs=0.01)
    assert t.business["high"].median == pytest.approx(1.5 * H)
    # Medium: C 0.5, A 1, H 2 → median = 2nd = 1 h, p90 = 3rd = 2 h.
    assert (t.wall["medium"].median, t.wall["medium"].p90) == pytest.approx((H, 2 * H), abs=0.01)
    # G (resolved without reply), E (never answered) and F (spam) have no first response.
    assert t.outliers[0]["reference"] == "CW-000002"
    assert {o["reference"] for o in t.outliers} == {
        "CW-000001",
        "CW-000002",
        "CW-000003",
        "CW-000004",
        "CW-000008",
    }


def test_resolution_time_excludes_pauses_and_resolved_nights(rng):
    t = selectors.response_times(rng, Metric.RESOLUTION)
    # Wall to the latest resolution: G 1, A 3, H 3, B 17.5, C 25, D 25.
    w = t.wall["all"]
    assert (w.count, w.median, w.p90, w.max) == (
        6,
        pytest.approx(3 * H, abs=0.01),
        pytest.approx(25 * H, abs=0.01),
        pytest.approx(25 * H, abs=0.01),
    )
    # Business: G 1, B 2, C 2 (the pause awaiting the client left out), A 3, H 3, D 4 (the night it
    # spent resolved left out).
    b = t.business["all"]
    assert (b.count, b.median, b.p90, b.max) == (
        6,
        pytest.approx(2 * H),
        pytest.approx(4 * H),
        pytest.approx(4 * H),
    )
    assert t.business["low"].max == pytest.approx(4 * H)


def test_sla_compliance_and_breaches(rng):
    figures = selectors.sla_compliance(rng)
    assert figures[("first_response", "high")] == {"met": 0, "breached": 1}
    # A, C, H met; E (never answered) ran out Wed 13:00 — no sweep ran in this data set, so its clock is
    # still "running" past due and counts as breached at its due time all the same.
    assert figures[("first_response", "medium")] == {"met": 3, "breached": 1}
    met, breached, pct = selectors.sla_compliance_total(rng, Metric.FIRST_RESPONSE)
    assert (met, breached, pct) == (4, 2, 66.7)
    # Resolution: A, B, C, D, G, H met; E's 24 business hours ran out Fri 16:00.
    assert selectors.sla_compliance_total(rng) == (10, 3, 76.9)
    (breach,) = selectors.sla_breaches(rng)
    assert breach["case__reference"] == "CW-000002" and breach["metric"] == "first_response"
    assert breach["duration"] == timedelta(minutes=30)  # 1.5 h used of a 1 h target
    assert "breached" in breach["reason"].lower() or "due" in breach["reason"].lower()


def test_breach_outside_the_range_is_not_counted():
    # B's first response ran out Monday 17:30: a range of Tuesday only sees its met resolution clock.
    f = ReportFilter(start=date(2026, 12, 1), end=date(2026, 12, 1))
    assert selectors.sla_breaches(f) == []
    assert selectors.sla_compliance_total(f, Metric.FIRST_RESPONSE) == (
        2,
        0,
        100.0,
    )  # C and D, answered on Tuesday


def test_fcr_reopen_and_no_reply(rng):
    q = selectors.resolution_quality(rng)
    # Resolved: A, B, C, D, G, H. One agent reply and never reopened: A, B, H. C has two replies, D was
    # reopened, G had no reply at all.
    assert (q["resolved"], q["fcr"], q["fcr_rate"]) == (6, 3, 50.0)
    assert (q["reopened"], q["reopen_rate"]) == (1, 16.7)
    assert q["no_reply"] == 1


def test_repeat_contact(rng, week):
    from casework.insights import repeats

    # The flags are written by the duplicate task after each opening: run it for the week's cases.
    for case in week.cases.values():
        repeats.flag(case.pk)
    r = selectors.repeat_contacts(rng)
    assert (r["opened"], r["repeats"], r["rate"]) == (8, 1, 12.5)  # G repeats A within 7 days


def test_escalation_and_time_per_tier(rng):
    e = selectors.escalation(rng)
    assert (e["opened"], e["escalated"], e["rate"]) == (8, 1, 12.5)
    tiers = e["time_per_tier"]
    # L1 totals per case: F 0.5, G 1, H 1, A 3, D 4 (2 + 2 after the reopening), B 17.5, C 25.
    assert tiers[1].count == 7
    assert (tiers[1].median, tiers[1].p90, tiers[1].max) == pytest.approx((3 * H, 25 * H, 25 * H), abs=0.01)
    assert tiers[2].count == 1 and tiers[2].max == pytest.approx(2 * H, abs=0.01)


def test_tier1_resolution(rng):
    t = selectors.tier1_resolution(rng)
    assert (t["resolved"], t["tier1"], t["rate"]) == (6, 5, 83.3)


def test_filters_narrow_every_metric(rng, week):
    high = parse_filter({"start": "2026-11-30", "end": "2026-12-06", "priority": "high"})
    assert selectors.new_cases(high) == 1
    assert selectors.sla_compliance_total(high) == (1, 1, 50.0)  # B: resolution met, first response not
    bob_only = ReportFilter(start=MON, end=SUN, agent=week.bob.pk)
    assert selectors.new_cases(bob_only) == 1  # H, owned by the L2 agent after the escalation
    assert selectors.tier1_resolution(bob_only)["rate"] == 0.0


def test_agent_performance(rng, week):
    rows = {r["agent"]: r for r in selectors.agent_performance(rng)}
    alice, bob = rows["Alice"], rows["Bob"]
    assert (alice["resolved"], alice["open_now"], alice["reopen_rate"]) == (5, 1, 20.0)
    assert (bob["resolved"], bob["open_now"]) == (1, 0)
    assert bob["first_response"].median == pytest.approx(2 * H, abs=0.01)


def test_agent_load(rng):
    _days, rows = selectors.agent_load(rng)
    loads = {r["agent"]: r["per_day"] for r in rows}
    assert loads["Alice"] == [1, 1, 1, 1, 1, 1, 1]


def test_no_cases_in_range_gives_empty_figures():
    f = ReportFilter(start=date(2025, 1, 6), end=date(2025, 1, 12))
    assert selectors.response_times(f).wall == {}
    assert selectors.sla_compliance_total(f) == (0, 0, None)
    assert selectors.resolution_quality(f)["fcr_rate"] is None
    for metric in all_metrics():
        for table in metric.run(f):
            assert table.rows == [] or all(isinstance(r, dict) for r in table.rows)


def test_every_metric_runs_with_bounded_queries(rng, django_assert_max_num_queries):
    for metric in all_metrics():
        with django_assert_max_num_queries(8):
            metric.run(rng)


def test_csat_is_a_placeholder_until_its_app_registers():
    csat = get("csat")
    assert not csat.available
    (table,) = csat.run(ReportFilter(start=MON, end=SUN))
    assert table.empty.startswith("No CSAT data yet")
