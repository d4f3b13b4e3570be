"""`casework bench-data` (casework/testing/benchdata.py) on a small scale: the history it generates
feeds every metric, the dashboard and the weekly report."""

from __future__ import annotations

from datetime import timedelta

import pytest

from casework.cases.models import Case, CaseEvent
from casework.reports import dashboard, selectors, services
from casework.reports.filters import ReportFilter, local_today
from casework.reports.registry import all_metrics
from casework.sla.models import CaseClock, ClockLedgerEntry
from casework.testing.benchdata import generate

pytestmark = pytest.mark.django_db


def test_generated_history_feeds_every_metric():
    result = generate(400, days=90)
    assert result.rows["cases.Case"] == 400 and CaseClock.objects.count() == 800
    assert CaseEvent.objects.count() > 300
    today = local_today()
    f = ReportFilter(start=today - timedelta(days=90), end=today)
    assert sum(r["count"] for r in selectors.volume(f)) > 350
    met, breached, pct = selectors.sla_compliance_total(f)
    assert met > 0 and breached > 0 and 0 < pct < 100
    assert 0 < selectors.tier1_resolution(f)["rate"] < 100
    assert selectors.response_times(f).business["all"].count > 200
    quality = selectors.resolution_quality(f)
    assert 0 < quality["reopen_rate"] < 100 and 0 < quality["fcr_rate"] < 100
    assert Case.objects.filter(reopen_count=1).exists()
    assert ClockLedgerEntry.objects.filter(kind="breached").count() == breached
    for metric in all_metrics():
        metric.run(f)
    board = dashboard.build(f)
    assert len(board.tiles) == 10 and len(board.charts) == 4
    assert "New cases" in services.weekly_report().text
