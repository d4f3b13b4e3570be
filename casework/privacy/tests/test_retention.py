"""Retention policies, legal hold and erasure on request, on the database."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from casework.cases import services as case_services
from casework.cases.models import Attachment, Case, CaseEvent, Category, Message, MessageKind
from casework.cases.status import Status
from casework.core import clock
from casework.core.errors import Conflict, PermissionDenied
from casework.notify.models import Outbox, OutboxStatus
from casework.people.models import Customer, Organisation
from casework.privacy import retention, services
from casework.privacy.models import CaseSkeleton, LegalHold, RetentionAction, RetentionPolicy
from casework.search.models import CaseDocument
from casework.testing.factories import CustomerFactory, make_agent, open_case

pytestmark = pytest.mark.django_db

LATER = timedelta(days=400)
NAME, EMAIL = "Zebediah Quuxley", "zebediah.quuxley@quuxmail.test"


def close(case: Case) -> Case:
    case.refresh_from_db()
    if case.status in (Status.NEW, Status.TRIAGED):
        case_services.case_transition(case=case, to=Status.CLOSED, reason="done")
    else:
        if case.status == Status.AWAITING_CLIENT:
            case_services.case_transition(case=case, to=Status.IN_PROGRESS)
        if case.status == Status.IN_PROGRESS:
            case_services.case_transition(case=case, to=Status.RESOLVED)
        case_services.case_transition(case=case, to=Status.CLOSED)
    case.refresh_from_db()
    assert case.status == Status.CLOSED
    return case


def with_attachment(case: Case, text: str = "secret") -> Attachment:
    return case_services.case_add_attachment(
        case=case, filename="notes.txt", content=text.encode(), content_type="text/plain"
    )


def closed_case(**kwargs) -> Case:
    case = open_case(**kwargs)
    with_attachment(case)
    return close(case)


def later():
    return clock.now() + LATER


def policy(name="default", action=RetentionAction.ANONYMISE, after_days=365, purge=None, **scope):
    return RetentionPolicy.objects.create(
        name=name, action=action, after_days=after_days, purge_attachments_after_days=purge, **scope
    )


@pytest.fixture
def manager(db):
    return make_agent("mona", role="manager")


@pytest.fixture
def agent(db):
    return make_agent("arno")


# --- the job ----------------------------------------------------------------------------------------------


def test_dry_run_counts_equal_applied_counts_and_rerun_is_idempotent(organisation):
    billing = Category.objects.order_by("pk").first()
    policy("default", RetentionAction.ANONYMISE, 365, purge=30)
    policy("northwind", RetentionAction.DELETE, 200, organisation=organisation)
    policy("billing", RetentionAction.KEEP, None, purge=10, category=billing)
    plain = [closed_case() for _ in range(3)]
    northwind = [closed_case(customer=CustomerFactory(organisation=organisation)) for _ in range(2)]
    kept = closed_case(category=billing)
    still_open = open_case()
    with_attachment(still_open)

    dry = retention.run(now=later(), dry_run=True)
    assert dry.applied == []
    planned = {p.policy: p.as_dict() for p in dry.planned}
    assert planned["default"] == {
        "policy": "default",
        "action": "anonymise",
        "purge_attachments": 3,
        "anonymise": 3,
        "delete": 0,
        "held": 0,
    }
    assert planned["northwind"]["delete"] == 2
    assert planned["billing"]["purge_attachments"] == 1 and planned["billing"]["anonymise"] == 0
    assert not CaseSkeleton.objects.exists()  # the dry run changed nothing

    report = retention.run(now=later(), batch=2)  # several batches
    assert [p.as_dict() for p in report.applied] == [p.as_dict() for p in report.planned]
    assert [p.as_dict() for p in report.planned] == [p.as_dict() for p in dry.planned]
    assert report.failed == []

    for case in plain:
        case.refresh_from_db()
        assert case.subject == services.ANONYMISED_SUBJECT
        assert not case.attachments.exists()
        assert case.customer.external_id == services.ANONYMOUS_EXTERNAL_ID
        note = case.events.filter(kind="note", data__privacy="anonymised").get()
        assert note.actor_label == "retention" and "default" in note.reason
    assert not Case.objects.filter(pk__in=[c.pk for c in northwind]).exists()
    assert set(CaseSkeleton.objects.values_list("disposal", flat=True)) == {"anonymised", "deleted"}
    kept.refresh_from_db()
    assert kept.subject != services.ANONYMISED_SUBJECT and not kept.attachments.exists()
    assert kept.events.filter(data__privacy="attachments_purged").count() == 1
    assert still_open.attachments.exists()  # open cases are not governed by retention
    # Files go with their rows: one file on disk per attachment left (the open case's).
    files = [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
    assert len(files) == Attachment.objects.count() == 1

    again = retention.run(now=later())
    assert all(not (p.purge_attachments or p.anonymise or p.delete) for p in again.applied)
    assert CaseEvent.objects.filter(data__privacy="anonymised").count() == 3
    assert CaseSkeleton.objects.count() == 5


def test_nothing_is_due_before_its_days():
    policy("default", RetentionAction.DELETE, 365, purge=30)
    closed_case()
    counts = retention.plan(now=clock.now() + timedelta(days=29))[0]
    assert (counts.purge_attachments, counts.delete) == (0, 0)
    counts = retention.plan(now=clock.now() + timedelta(days=31))[0]
    assert (counts.purge_attachments, counts.delete) == (1, 0)


def test_skeleton_keeps_the_audit_facts_and_no_personal_data():
    policy("default", RetentionAction.DELETE, 1)
    customer = CustomerFactory(name=NAME, email=EMAIL)
    case = open_case(subject=f"Help for {NAME}", description=f"Write to {EMAIL}", customer=customer)
    case_services.case_add_message(
        case=case, kind=MessageKind.CUSTOMER, body=f"Thanks, {NAME}", customer=customer
    )
    case = close(case)
    retention.run(now=later())
    skeleton = CaseSkeleton.objects.get()
    assert skeleton.reference == case.reference and skeleton.disposal == "deleted"
    assert skeleton.closed_at == case.closed_at and skeleton.priority == case.priority
    kinds = [kind for kind, _at in skeleton.event_kinds]
    assert kinds[0] == "opened" and "message_added" in kinds and "status_changed" in kinds
    text = json.dumps(
        {f.name: str(getattr(skeleton, f.attname)) for f in CaseSkeleton._meta.concrete_fields}
    ).lower()
    assert "zebediah" not in text and "quux" not in text


# --- legal hold -------------------------------------------------------------------------------------------


def test_legal_hold_blocks_everything_and_is_on_the_timeline(manager, organisation):
    policy("default", RetentionAction.ANONYMISE, 10, purge=5)
    held = closed_case()
    org_case = closed_case(customer=CustomerFactory(organisation=organisation, email=EMAIL, name=NAME))
    free = closed_case()

    hold = services.case_set_legal_hold(case=held, actor=manager, reason="Litigation 2026-17")
    event = held.events.get(data__privacy="legal_hold_set")
    assert event.actor == manager and "Litigation 2026-17" in event.reason
    services.organisation_set_legal_hold(organisation=organisation, actor=manager, reason="Audit")
    assert org_case.events.filter(data__privacy="legal_hold_set", reason__contains="Audit").exists()

    counts = retention.plan(now=later())[0]
    assert (counts.anonymise, counts.purge_attachments, counts.held) == (1, 1, 2)
    report = retention.run(now=later())
    assert report.applied[0].anonymise == 1 and report.applied[0].held == 2
    for case in (held, org_case):
        case.refresh_from_db()
        assert case.subject != services.ANONYMISED_SUBJECT and case.attachments.count() == 1
    free.refresh_from_db()
    assert free.subject == services.ANONYMISED_SUBJECT

    # Each door refuses a held case by itself too, with a clear error.
    for door in (services.case_anonymise, services.case_delete, services.case_purge_attachments):
        with pytest.raises(Conflict) as refused:
            door(case=held, actor=manager, reason="x")
        assert refused.value.code == "legal_hold" and "Litigation" in refused.value.message
    with pytest.raises(Conflict) as refused:
        services.customer_erase(customer=org_case.customer, actor=manager, reason="asked")
    assert refused.value.code == "legal_hold"
    assert Customer.objects.filter(email=EMAIL).exists()
    dry = services.customer_erase(customer=org_case.customer, actor=manager, reason="asked", dry_run=True)
    assert dry["blocked_by"] and dry["counts"]["cases"] == 1

    services.case_release_legal_hold(case=held, actor=manager, reason="Settled")
    assert LegalHold.objects.get(pk=hold.pk).released_at is not None
    assert held.events.filter(data__privacy="legal_hold_released", reason__contains="Settled").exists()
    assert retention.run(now=later()).applied[0].anonymise == 1


def test_only_managers_set_holds_and_erase(agent, case):
    with pytest.raises(PermissionDenied):
        services.case_set_legal_hold(case=case, actor=agent, reason="mine")
    with pytest.raises(PermissionDenied):
        services.customer_erase(customer=case.customer, actor=agent, reason="asked", dry_run=True)
    assert not LegalHold.objects.exists()


def test_a_hold_needs_a_reason_and_cannot_be_set_twice(manager, case):
    from casework.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        services.case_set_legal_hold(case=case, actor=manager, reason="  ")
    services.case_set_legal_hold(case=case, actor=manager, reason="Litigation")
    with pytest.raises(Conflict):
        services.case_set_legal_hold(case=case, actor=manager, reason="Again")
    with pytest.raises(Conflict):
        services.organisation_release_legal_hold(
            organisation=Organisation.objects.create(name="Unheld"), actor=manager, reason="x"
        )


# --- erasure ----------------------------------------------------------------------------------------------


def _dump() -> str:
    """Every row of every table as text (the `grep the dump` check, on SQLite and PostgreSQL)."""
    out = io.StringIO()
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(include_views=False):
            quoted = connection.ops.quote_name(table)
            try:
                cursor.execute(f"SELECT * FROM {quoted}")
            except Exception:
                continue
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("utf-8", "replace")
                    out.write(f"{table}\t{value}\n")
    return out.getvalue().lower()


def _erasable_world(manager):
    from casework.search.index import reindex

    customer = CustomerFactory(name=NAME, email=EMAIL, phone="+44 1234 999")
    case = open_case(subject=f"{NAME} cannot log in", description=f"Mail me at {EMAIL}", customer=customer)
    case_services.case_add_message(
        case=case,
        kind=MessageKind.CUSTOMER,
        body=f"Regards, {NAME}",
        customer=customer,
        message_id=f"<abc@{EMAIL.split('@')[1]}>",
        meta={"from": EMAIL},
    )
    case_services.case_add_attachment(
        case=case,
        filename="zebediah-passport.txt",
        content=f"{NAME} passport".encode(),
        content_type="text/plain",
    )
    # A public reply queues mail to them (pending in the outbox).
    case_services.case_add_message(case=case, kind=MessageKind.REPLY, body=f"Hello {NAME}", actor=manager)
    # They also wrote on a colleague's case.
    colleague = open_case(
        subject="Colleague's case", customer=CustomerFactory(email="colleague@quuxmail.test")
    )
    case_services.case_add_message(
        case=colleague, kind=MessageKind.CUSTOMER, body=f"Cc {NAME}: me too", customer=customer
    )
    reindex(cases=[case, colleague])
    return customer, case, colleague


def test_erasure_leaves_no_trace(manager):
    customer, case, colleague = _erasable_world(manager)
    assert Outbox.objects.filter(status=OutboxStatus.PENDING, to__icontains=EMAIL).exists()
    assert "zebediah" in _dump()

    out = io.StringIO()
    call_command("erase-customer", EMAIL, "--dry-run", stdout=out)
    dry = json.loads(out.getvalue())
    assert dry["counts"]["cases"] == 1 and dry["counts"]["messages"] >= 3
    assert Customer.objects.filter(email=EMAIL).exists()  # the dry run changed nothing

    result = services.customer_erase(customer=customer, actor=manager, reason="Art. 17 request #42")
    assert result["applied"] == result["counts"] == dry["counts"]
    assert result["files_removed"] == 1

    dump = _dump()
    for needle in ("zebediah", "quuxley", EMAIL, "1234 999"):
        found = [line for line in dump.splitlines() if needle.lower() in line]
        assert found == [], needle
    # the colleague's own address stays: only our customer is erased
    assert "colleague@quuxmail.test" in dump
    assert not [
        p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file() and b"Zebediah" in p.read_bytes()
    ]

    case.refresh_from_db()
    assert case.subject == services.ANONYMISED_SUBJECT
    assert case.events.filter(data__privacy="erased", reason__contains="Art. 17").exists()
    assert colleague.events.filter(data__privacy="messages_erased").exists()
    assert CaseSkeleton.objects.get(reference=case.reference).disposal == "erased"
    assert not CaseDocument.objects.filter(case=case).exists()
    assert not Outbox.objects.filter(status=OutboxStatus.PENDING, case=case).exists()
    assert Outbox.objects.filter(case=case, last_error__startswith="cancelled").exists()
    assert not Customer.objects.filter(email=EMAIL).exists()

    # Erasing again finds nothing; the anonymised case is not touched again.
    with pytest.raises(CommandError):
        call_command("erase-customer", EMAIL, stdout=io.StringIO())
    assert case.events.filter(data__privacy="erased").count() == 1


def test_erase_customer_command_reports_the_hold(manager):
    _customer, case, _colleague = _erasable_world(manager)
    services.case_set_legal_hold(case=case, actor=manager, reason="Subpoena")
    with pytest.raises(CommandError, match="legal hold"):
        call_command("erase-customer", EMAIL, stdout=io.StringIO())
    assert Message.objects.filter(case=case, body__contains=NAME).exists()


def test_legal_hold_command_and_retention_command(case):
    close(case)
    out = io.StringIO()
    call_command("legal-hold", "set", "--case", case.reference, "--reason", "Audit", stdout=out)
    assert "set on" in out.getvalue()
    assert case.events.filter(data__privacy="legal_hold_set").get().actor_label == "command:legal-hold"
    policy("default", RetentionAction.ANONYMISE, 0)
    out = io.StringIO()
    call_command("retention", "--dry-run", stdout=out)
    assert json.loads(out.getvalue())["planned"][0]["held"] == 1
    with pytest.raises(CommandError, match="already under legal hold"):
        call_command("legal-hold", "set", "--case", case.reference, "--reason", "Again", stdout=io.StringIO())


# --- API --------------------------------------------------------------------------------------------------


def test_api_hold_preview_and_erase(client, manager, agent, case):
    from casework.api.models import ApiToken
    from conftest import ApiClient

    api = ApiClient(client, ApiToken.issue(user=manager, name="t", scopes=["read", "write", "admin"])[1])
    weak = ApiClient(client, ApiToken.issue(user=agent, name="a", scopes=["read", "write", "admin"])[1])

    path = f"/api/v1/cases/{case.reference}/legal-hold"
    assert weak.post(path, {"held": True, "reason": "x"}).status_code == 403
    assert api.post(path, {"held": 1, "reason": "x"}).status_code == 422  # strict booleans
    answer = api.post(path, {"held": True, "reason": "Litigation"})
    assert answer.status_code == 200, answer.content
    again = api.post(path, {"held": True, "reason": "Litigation"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_held"

    policy("default", RetentionAction.ANONYMISE, 0)
    close(case)
    preview = api.get("/api/v1/retention/preview").json()
    assert preview["policies"][0]["held"] == 1

    erase = f"/api/v1/customers/{case.customer_id}/erase"
    dry = api.post(erase, {"reason": "asked"}).json()
    assert dry["dry_run"] is True and dry["blocked_by"] == [case.reference]
    refused = api.post(erase, {"reason": "asked", "dry_run": False})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "legal_hold"
    assert api.post(path, {"held": False, "reason": "Settled"}).status_code == 200
    done = api.post(erase, {"reason": "asked", "dry_run": False})
    assert done.status_code == 200 and done.json()["applied"]["cases"] == 1


def test_the_scheduler_runs_the_policies_daily():
    from casework.core import scheduler

    job = next(j for j in scheduler.jobs() if j.name == "retention-policies")
    assert job.every == timedelta(days=1)
    policy("default", RetentionAction.ANONYMISE, 0)
    case = closed_case()
    from casework.core.models import ScheduledJob

    ScheduledJob.objects.create(name=job.name, every=job.every, next_due_at=clock.now())
    assert scheduler.run_job("retention-policies") == "ok"
    case.refresh_from_db()
    assert case.subject == services.ANONYMISED_SUBJECT
