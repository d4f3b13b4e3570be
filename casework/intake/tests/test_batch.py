"""`ingest_many`: mail that arrives together is decided from one read and stored with bulk writes, yet every
mail gets exactly the outcome `ingest_raw` would give it alone."""

from __future__ import annotations

import pytest

from casework.cases import services as case_services
from casework.cases.models import Attachment, Case, CaseEvent, EventKind, Message
from casework.intake.identity import support_address
from casework.intake.models import InboundMail, Outcome, Quarantine
from casework.intake.services import _Mail, _Options, independent_runs, ingest_many, ingest_raw
from casework.intake.tests.mailbuilder import build_bounce, build_mail
from casework.people.models import Customer

pytestmark = pytest.mark.django_db


def _mail(n: int, **kwargs) -> bytes:
    kwargs.setdefault("sender", f"Customer {n} <c{n}@example.com>")
    kwargs.setdefault("subject", f"Problem number {n}")
    kwargs.setdefault("text", f"Hello,\nproblem {n} happened.\n")
    return build_mail(message_id=f"<m{n}@example.com>", **kwargs)


def _parsed(raws: list[bytes]) -> list[_Mail]:
    options = _Options("test", None, False, False)
    return [_Mail.parse(raw, options) for raw in raws]


def test_a_mixed_batch_gets_the_same_outcomes_as_one_mail_at_a_time(django_capture_on_commit_callbacks):
    existing = ingest_raw(_mail(0, sender="Old Customer <old@example.com>"), source="test")
    batch = [
        _mail(1, attachments=[("log.txt", "text/plain", b"line 1\n")]),
        _mail(2, headers={"In-Reply-To": "<m1@example.com>"}),  # replies to mail 1 of this batch
        _mail(1),  # the same mail again
        _mail(3, sender="old@example.com", subject=f"Re: [{existing.case_reference}] more"),
        _mail(4, headers={"Auto-Submitted": "auto-replied"}, subject="Out of office"),
        build_bounce(original_message_id="m0@example.com"),
        _mail(5, sender=support_address()),
        _mail(6, sender="nobody"),
        _mail(7, sender="Customer 1 <C1@Example.com>"),  # the same customer as mail 1
    ]
    with django_capture_on_commit_callbacks(execute=True):
        results = list(ingest_many(batch, source="test", batch_size=50))

    assert [r.outcome for r in results] == [
        Outcome.INGESTED,
        Outcome.THREADED,
        Outcome.DUPLICATE,
        Outcome.THREADED,
        Outcome.IGNORED_AUTO_REPLY,
        Outcome.BOUNCE,
        Outcome.IGNORED_OWN,
        Outcome.QUARANTINED,
        Outcome.INGESTED,
    ]
    first, reply, again, tagged = results[:4]
    assert reply.case_reference == first.case_reference == again.case_reference
    assert reply.matched_by == "references" and tagged.matched_by == "subject_reference"
    assert tagged.case_reference == results[5].case_reference == existing.case_reference
    assert results[8].case_reference != first.case_reference
    # One customer for both of Customer 1's mails, whatever the case of the address.
    assert Customer.objects.filter(email="c1@example.com").count() == 1
    case = Case.objects.get(reference=first.case_reference)
    assert case.messages.count() == 2 and case.attachments.get().filename == "log.txt"
    kinds = list(case.events.values_list("kind", flat=True))
    assert kinds.count(EventKind.OPENED) == 1 and EventKind.ATTACHMENT_ADDED in kinds
    # Every mail but the duplicate left its intake record; the refused one is held with its reason.
    assert InboundMail.objects.count() == 1 + len(batch) - 1
    assert Quarantine.objects.get().reason_code == "not_acceptable"


def test_new_cases_of_a_batch_are_numbered_in_mail_order():
    results = list(ingest_many([_mail(n) for n in range(1, 6)], source="test"))
    numbers = [Case.objects.get(reference=r.case_reference).number for r in results]
    assert numbers == sorted(numbers) and numbers[-1] - numbers[0] == 4
    subjects = [Case.objects.get(reference=r.case_reference).subject for r in results]
    assert subjects == [f"Problem number {n}" for n in range(1, 6)]


def test_the_rate_limit_counts_the_mails_of_the_same_batch(settings):
    settings.CASEWORK = {**settings.CASEWORK, "INTAKE_RATE_LIMIT": 3}
    storm = [_mail(n, sender="storm@example.com") for n in range(1, 6)]
    results = list(ingest_many(storm, source="test"))
    assert [r.quarantined for r in results] == [False, False, False, True, True]
    assert Quarantine.objects.filter(reason_code="rate_limited").count() == 2


def test_dependent_mails_start_a_new_run():
    mails = _parsed(
        [
            _mail(1),
            _mail(2),
            _mail(3, headers={"References": "<x@elsewhere> <m2@example.com>"}),
            _mail(4),
            _mail(4),
            build_bounce(original_message_id="m4@example.com"),
            _mail(5),
        ]
    )
    runs = independent_runs(mails)
    assert [len(run) for run in runs] == [2, 2, 1, 2]


def test_a_batch_that_fails_is_retried_mail_by_mail_and_the_error_surfaces_on_its_mail(monkeypatch):
    real = case_services.case_open_many

    def fragile(openings):
        if any("boom" in o.subject for o in openings):
            raise RuntimeError("disk on fire")
        return real(openings)

    monkeypatch.setattr(case_services, "case_open_many", fragile)
    batch = [_mail(1), _mail(2, subject="boom"), _mail(3)]
    stream = ingest_many(batch, source="test")
    first = next(stream)
    # The first mail was stored and committed on its own before the failing one raised.
    assert first.created and Case.objects.filter(reference=first.case_reference).exists()
    with pytest.raises(RuntimeError):
        next(stream)
    assert Case.objects.count() == 1 and InboundMail.objects.count() == 1
    monkeypatch.undo()
    again = list(ingest_many(batch, source="test"))
    assert [r.outcome for r in again] == [Outcome.DUPLICATE, Outcome.INGESTED, Outcome.INGESTED]


def test_a_crash_in_a_batch_leaves_none_of_its_mails_half_written(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(InboundMail.objects, "bulk_create", explode)
    with pytest.raises(RuntimeError):
        list(ingest_many([_mail(1), _mail(2, attachments=[("a.txt", "text/plain", b"x")])], source="t"))
    assert Case.objects.count() == Message.objects.count() == Customer.objects.count() == 0
    assert CaseEvent.objects.count() == Attachment.objects.count() == 0


def test_a_batch_writes_its_new_cases_with_a_fixed_number_of_statements(django_assert_max_num_queries):
    ingest_raw(_mail(0), source="test")  # warm caches (own addresses, categories)
    # 40 new mails, 10 with an attachment, with every reaction (sentiment, rules, tier history, two SLA
    # clocks each): statements do not grow with the number of mails. Today ~33: the intake reads, the
    # customers, the counter, cases/messages/attachments/intake rows, the policy fingerprint, then one
    # UPDATE of the cases, the events, the messages' sentiment, history, clocks, ledger (SQLite's
    # variable limit splits the widest inserts in two).
    batch = [
        _mail(n, attachments=[("a.txt", "text/plain", b"x")] if n % 4 == 0 else None) for n in range(1, 41)
    ]
    with django_assert_max_num_queries(36):
        results = list(ingest_many(batch, source="test", batch_size=100))
    assert all(r.created for r in results) and Attachment.objects.count() == 10
