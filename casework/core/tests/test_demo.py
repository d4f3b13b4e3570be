import pytest
from django.core.management import call_command

from casework.cases.models import Case, CaseEvent
from casework.people.models import AgentProfile, Organisation

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_loads_realistic_data_and_is_idempotent(capsys):
    call_command("demo", "--cases", "40")
    assert Case.objects.count() == 40
    assert Organisation.objects.filter(tier="enterprise", vip=True).exists()
    assert set(AgentProfile.objects.values_list("tier_level", flat=True)) == {1, 2, 3}
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
