"""Every mail of ../shared/data/email through ingest_raw on the database: each one is ingested, threaded,
recorded as a bounce/auto-reply, or quarantined with a reason. None raises; sisimai bounces and
auto-replies never open a case and are never marked for acknowledgement."""

from __future__ import annotations

import collections
import json

import pytest

from casework.cases.models import Case, Message
from casework.intake.models import InboundMail, Outcome
from casework.intake.services import ingest_raw
from casework.intake.tests.test_corpus import CORPUS, EMAIL, _expected_kind, _mbox_messages

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not CORPUS, reason="shared email corpus not present"),
]


def test_every_corpus_mail_gets_a_verdict(capsys):
    outcomes: collections.Counter[str] = collections.Counter()
    reasons: collections.Counter[str] = collections.Counter()
    problems = []
    mails = [(str(p.relative_to(EMAIL)), p.read_bytes(), _expected_kind(p)) for p in CORPUS]
    mails += [(name, raw, "bounce") for name, raw in _mbox_messages()]
    for name, raw, expected in mails:
        cases_before = Case.objects.count()
        result = ingest_raw(raw, source="corpus")
        outcomes[result.outcome] += 1
        if result.quarantined:
            assert result.reason.strip(), name
            reasons[result.reason.split(":", 1)[0]] += 1
        opened = Case.objects.count() != cases_before or result.created
        if expected in ("bounce", "auto_reply", "not_normal") and opened:
            problems.append(f"{name}: {expected} opened a case ({result.outcome})")
    # Nothing automatic is ever marked for an acknowledgement.
    flagged = Message.objects.filter(meta__acknowledge=True)
    auto = InboundMail.objects.filter(kind__in=["bounce", "auto_reply"], message__in=flagged)
    assert not auto.exists()
    assert problems == []
    assert sum(outcomes.values()) == len(mails)
    assert InboundMail.objects.count() + outcomes[Outcome.DUPLICATE] == len(mails)
    with capsys.disabled():
        print(
            "\ncorpus through ingest_raw:",
            json.dumps(
                {"mails": len(mails), "outcomes": dict(outcomes), "quarantine_reasons": dict(reasons)}
            ),
        )
