"""The synthetic history generator (`casework bench-data`) on a small scale: it fills an empty database
with data every metric can read, and refuses one that has cases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from casework.reports import dashboard, selectors, services
from casework.reports.filters import ReportFilter, local_today
from casework.reports.registry import all_metrics
from casework.testing.bench_data import generate

pytestmark = pytest.mark.django_db


def test_generated_history_feeds_every_metric():
    totals = generate(400, years=0.25)
    assert totals["cases"] == 400 and totals["clocks"] == 800 and totals["events"] > 300
    today = local_today()
    f = ReportFilter(start=today - timedelta(days=90), end=today)
    assert sum(r["count"] for r in selectors.volume(f)) > 350
    met, breached, pct = selectors.sla_compliance_total(f)
    assert met > 0 and breached > 0 and 0 < pct < 100
    assert 0 < selectors.tier1_resolution(f)["rate"] < 100
    assert selectors.response_times(f).business["all"].count > 200
    for metric in all_metrics():
        metric.run(f)
    board = dashboard.build(f)
    assert len(board.tiles) == 10 and len(board.charts) == 4
    assert "New cases" in services.weekly_report().text


def test_refuses_a_database_with_cases(case):
    with pytest.raises(RuntimeError, match="empty database"):
        generate(5)
