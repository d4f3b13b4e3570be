import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from casework.cases.models import Case, CaseEvent, Message
from casework.notify.models import Outbox
from casework.people.models import AgentProfile, Organisation

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_loads_realistic_data_and_is_idempotent(capsys):
    call_command("demo", "--cases", "40")
    assert Case.objects.count() == 40
    # History looks sent: a worker started now has nothing of the past to send.
    assert Outbox.objects.exists()
    assert not Outbox.objects.exclude(status="sent").exists()
    replies = Message.objects.filter(kind="reply")
    assert replies and all(m.meta["delivery"]["state"] == "sent" for m in replies)
    # The administrator uses the workspace but is in no team: automatic assignment never picks them.
    admin = get_user_model().objects.get(username="admin")
    assert not admin.agent.teams.exists()
    assert not CaseEvent.objects.filter(kind="assigned", new="admin").exists()
    assert Organisation.objects.filter(tier="enterprise", vip=True).exists()
    assert set(AgentProfile.objects.values_list("tier_level", flat=True)) == {1, 2, 3}
    # Team leads hold the lead role, so the dashboard, rule editor and review queue open for them.
    leads = set(AgentProfile.objects.filter(role="lead").values_list("user__username", flat=True))
    assert leads == {"ana", "ben", "dev", "felix"}
    statuses = set(Case.objects.values_list("status", flat=True))
    assert len(statuses) >= 4
    assert CaseEvent.objects.filter(kind="status_changed").exists()
    # Every case's events are in time order (replayed history, not "now").
    for case in Case.objects.all()[:10]:
        times = list(case.events.order_by("id").values_list("created_at", flat=True))
        assert times == sorted(times)
    out = capsys.readouterr().out
    assert "admin / casework-admin" in out
    call_command("demo", "--cases", "40")
    assert Case.objects.count() == 40
