"""`casework bench-data`: generated history that the app reads like its own, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.db.models import Count

from casework.cases import selectors
from casework.cases.models import Case, CaseEvent, Message
from casework.routing.models import TierHistory
from casework.sla.models import CaseClock
from casework.testing import benchdata, benchdata_load

pytestmark = pytest.mark.django_db


def _generate(n: int, **kwargs) -> dict:
    out = io.StringIO()
    call_command("bench-data", "--cases", str(n), "--json", "--no-progress", stdout=out, **kwargs)
    return json.loads(out.getvalue())


def test_generates_cases_with_their_history():
    result = _generate(300, batch=120)
    assert result["cases"] == 300 and result["rows"]["cases.Case"] == 300
    assert Case.objects.count() == 300
    # Every case has its opening message and event, two clocks, and the numbering continues after it.
    assert not Case.objects.annotate(m=Count("messages")).filter(m=0).exists()
    assert CaseEvent.objects.filter(kind="opened").count() == 300
    assert CaseClock.objects.count() == 600
    assert Message.objects.count() == result["rows"]["cases.Message"]
    assert TierHistory.objects.exists()
    statuses = set(Case.objects.values_list("status", flat=True))
    assert {"closed", "resolved"} <= statuses and statuses & {"new", "triaged", "in_progress"}
    assert set(Case.objects.values_list("open_flag", flat=True)) == {0, 1}
    # History spans about two years and grows towards now.
    first, last = Case.objects.order_by("created_at")[0], Case.objects.order_by("-created_at")[0]
    assert (last.created_at - first.created_at).days > 600


def test_the_app_reads_generated_cases_and_new_ones_follow_them(customer):
    _generate(120)
    case = Case.objects.order_by("?").first()
    assert selectors.case_get(case.reference.lower()).pk == case.pk
    from casework.testing.factories import make_agent

    counts = selectors.queue_counts(make_agent("mona", role="manager"))
    assert counts["open"] == Case.objects.filter(open_flag=1).count()
    from casework.testing.factories import open_case

    new = open_case(subject="After the generator", customer=customer)
    assert new.number == 121 and new.reference.endswith("000121")
    assert Message.objects.filter(case=new).exists()  # keys continue after the explicit ones


def test_another_app_adds_its_rows_through_register(monkeypatch):
    seen = []

    def csat(batch):
        seen.append(len(batch.cases))
        assert all(c.id for c in batch.cases)

    monkeypatch.setitem(benchdata._generators, "csat-probe", benchdata.Generator("csat-probe", csat, 50))
    _generate(50, batch=20)
    assert seen == [20, 20, 10]


def test_a_model_column_the_generator_does_not_fill_stops_it_with_a_clear_error(monkeypatch):
    from django.db import models

    field = models.IntegerField(name="required_score")
    field.set_attributes_from_name("required_score")
    field.model = Case
    monkeypatch.setattr(Case._meta, "concrete_fields", (*Case._meta.concrete_fields, field))
    with pytest.raises(RuntimeError, match="required_score is NOT NULL"):
        benchdata.RowWriter(Case, benchdata.CASE_COLUMNS, benchdata.Fmt("sqlite"))


def test_generated_escalations_look_like_the_doors_and_their_case_pages_render(client):
    """Found by `make load`: the generator wrote escalations as bare tier numbers, the door writes
    {tier, team, assignee}, and the case page of every escalated generated case was a 500."""
    _generate(200)
    escalated = CaseEvent.objects.filter(kind="escalated").select_related("case")
    assert escalated.exists()
    for event in escalated:
        assert isinstance(event.old, dict) and isinstance(event.new, dict), (event.old, event.new)
        assert event.new["tier"] == event.case.tier and event.old["tier"] == 1
    from casework.testing.factories import make_agent

    client.force_login(make_agent("mona", role="manager"))
    for event in escalated[:5]:
        assert client.get(f"/cases/{event.case.reference}/").status_code == 200


def _index_names(tables: list[str]) -> set[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            marks = ", ".join(["%s"] * len(tables))
            cursor.execute(
                f"SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ({marks})", tables
            )
        else:
            cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s)", [tables])
        return {row[0] for row in cursor.fetchall()}


def test_indexes_dropped_for_a_load_come_back_even_after_a_killed_run():
    """A big load drops the bulk tables' non-unique indexes and rebuilds them; a run killed in between
    leaves their definitions in a table, and the next run builds them again before anything else."""
    bulk = benchdata._bulk_models()
    tables = [m._meta.db_table for m in bulk]
    before = _index_names(tables)
    dropped = benchdata_load.drop_indexes(bulk)
    assert {"event_case_created", "case_queue_counts"} <= {name for name, _ in dropped}
    assert "event_case_created" not in _index_names(tables)
    assert "tierhist_one_open_per_case" in _index_names(tables)  # unique ones stay
    # … the process dies here; the next run restores them first.
    benchdata_load.restore_saved_indexes()
    assert _index_names(tables) == before
    from django.db import connection

    assert benchdata_load.SAVED_TABLE not in connection.introspection.table_names()


def test_the_doctor_finds_nothing_the_reactions_would_have_written():
    """Generated cases carry what triage and routing write with an opening (a "no rule matched" note on
    a case left in New, a "left in the queue" note on a triaged case nobody took): the daily doctor at a
    million generated cases measures its checks, not a repair of the generator's gaps."""
    from django.utils import timezone

    from casework.core import doctor

    _generate(300, batch=120)
    assert Case.objects.filter(status="new").exists()
    found = {o.check: o.found for o in doctor.examine(repair=False, now=timezone.now())}
    assert found["untriaged"] == 0 and found["unrouted"] == 0, found
