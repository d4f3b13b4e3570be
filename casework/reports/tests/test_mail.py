"""Scheduled report mails: content, the outbox (idempotent, one transaction), when they are due, the job
registration and the command."""

from __future__ import annotations

from datetime import date
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from casework.core.scheduler import jobs
from casework.notify.models import Outbox
from casework.reports import services
from casework.reports.models import ReportSubscription

from .conftest import utc

pytestmark = pytest.mark.django_db
MONDAY = date(2026, 11, 30)


@pytest.fixture(autouse=True)
def _next_tuesday():
    with time_machine.travel(utc(2026, 12, 8, 8), tick=False):
        yield


def test_weekly_report_figures_and_charts(week):
    mail = services.weekly_report(week_start=MONDAY)
    figures = {f.label: f for f in mail.figures}
    assert figures["New cases"].value == "8"
    assert figures["Resolved at tier 1"].value == "83.3 %" and figures["Resolved at tier 1"].status == "good"
    assert figures["First response, median (business)"].value == "1 h"
    assert figures["First response, median (business)"].status == "warn"  # not < 1 h, within 10 %
    assert figures["CSAT"].value == "No CSAT data yet"
    assert mail.html.count("<svg") == 2 and "<script" not in mail.html
    assert "reports/sla_breaches.csv?start=2026-11-30&amp;end=2026-12-06" in mail.html
    assert "Resolved at tier 1: 83.3 %  (target ≥ 70 %: on target)" in mail.text
    assert mail.subject == "[casework] Weekly report 30 Nov – 06 Dec 2026"


def _manager(user):
    """Subscribers get the figures they may read: managers every team's."""
    user.agent.role = "manager"
    user.agent.save(update_fields=["role"])
    return user


def test_report_goes_to_subscribers_once(week, django_assert_max_num_queries):
    ReportSubscription.objects.create(user=_manager(week.alice), kind="weekly")
    ReportSubscription.objects.create(user=week.bob, kind="weekly", active=False)
    mail = services.weekly_report(week_start=MONDAY)
    assert services.report_send(mail=mail) == 1
    assert services.report_send(mail=mail) == 0  # a second run queues nothing
    (row,) = Outbox.objects.filter(dedup_key__startswith="report:weekly:")
    assert (
        row.to == ["alice@casework.test"]
        and row.body_html
        and row.headers["Auto-Submitted"] == "auto-generated"
    )
    assert row.dedup_key == f"report:weekly:2026-11-30:user:{week.alice.pk}"


def test_due_periods():
    # Default: daily after 07:00 local, weekly on Monday after 07:00.
    assert services.due_periods(utc(2026, 12, 7, 6, 59)) == {}
    assert services.due_periods(utc(2026, 12, 7, 7)) == {
        "daily": date(2026, 12, 6),
        "weekly": date(2026, 11, 30),
    }
    # Tuesday morning before 07:00: last week's report is still due (a worker down on Monday catches up).
    assert services.due_periods(utc(2026, 12, 8, 6)) == {"weekly": date(2026, 11, 30)}


def test_job_sends_due_reports_once(week, settings):
    ReportSubscription.objects.create(user=_manager(week.alice), kind="weekly")
    ReportSubscription.objects.create(user=_manager(week.bob), kind="daily")
    assert "reports-mail" in {j.name for j in jobs()}
    sent = services.send_due_reports(utc(2026, 12, 8, 8))
    assert sent == {"daily": 1, "weekly": 1}
    assert services.send_due_reports(utc(2026, 12, 8, 9)) == {}  # all queued: nothing is even built
    daily = Outbox.objects.get(dedup_key__startswith="report:daily:")
    assert daily.to == ["bob@casework.test"] and "Daily summary Mon 07 Dec 2026" in daily.subject


def test_a_lead_gets_their_teams_figures_and_an_agent_none(week):
    """One mail per team scope: the manager's counts every team, the lead's only the team they lead
    (and says which); a subscriber who is no longer a lead gets nothing."""
    from casework.cases.models import Case
    from casework.people.roles import team_set_lead
    from casework.testing.factories import make_agent

    team = week.cases["A"].team
    assert team is not None
    lead = make_agent("lena", teams=[team])
    lead.email = "lena@casework.test"
    lead.save()
    team_set_lead(team=team, lead=lead, actor="test")
    agent = make_agent("arno")
    agent.email = "arno@casework.test"
    agent.save()
    for user in (_manager(week.alice), lead, agent):
        ReportSubscription.objects.create(user=user, kind="weekly")
    assert services.send_period("weekly", MONDAY) == 2
    assert services.send_period("weekly", MONDAY) == 0
    mails = {tuple(row.to): row for row in Outbox.objects.filter(dedup_key__startswith="report:weekly:")}
    assert set(mails) == {("alice@casework.test",), ("lena@casework.test",)}
    everyone = services.weekly_report(week_start=MONDAY)
    from casework.reports.filters import ReportFilter

    theirs = services.weekly_report(
        week_start=MONDAY, base=ReportFilter(start=MONDAY, end=MONDAY, teams=frozenset([team.pk]))
    )
    new = {m.subject: {f.label: f.value for f in m.figures}["New cases"] for m in (everyone, theirs)}
    in_team = Case.objects.filter(
        team=team,
        merged_into__isnull=True,
        created_at__date__gte=MONDAY,
        created_at__date__lte=date(2026, 12, 6),
    ).count()
    assert new[everyone.subject] == "8" and new[theirs.subject] == str(in_team) and in_team < 8
    assert mails[("lena@casework.test",)].subject == theirs.subject and team.name in theirs.subject
    assert mails[("alice@casework.test",)].subject == everyone.subject


def test_command_prints_and_sends(week):
    out = StringIO()
    call_command("report", "weekly", "--week", "2026-11-30", stdout=out)
    assert "Weekly support report" in out.getvalue() and "New cases: 8" in out.getvalue()
    out = StringIO()
    call_command(
        "report", "weekly", "--week", "2026-11-30", "--send", "--to", "lead@example.test", stdout=out
    )
    assert "1 mail(s) queued" in out.getvalue()
    assert Outbox.objects.get(dedup_key="report:weekly:2026-11-30:addr:lead@example.test").to == [
        "lead@example.test"
    ]
    with pytest.raises(Exception, match="must be a Monday"):
        call_command("report", "weekly", "--week", "2026-12-01")
