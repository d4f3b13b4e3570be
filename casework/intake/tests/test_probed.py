"""Mail that probing found mishandled (issue 17, "Found when probed"): each failed before its fix."""

from __future__ import annotations

import time

import pytest

from casework.cases.models import Case
from casework.intake.parsing import check_acceptable, parse_message
from casework.intake.services import ingest_raw

pytestmark = pytest.mark.django_db


def _raw(headers: str, body: str = "The export is empty again.") -> bytes:
    return (headers.strip().replace("\n", "\r\n") + "\r\n\r\n" + body + "\r\n").encode()


def test_an_encoded_display_name_cannot_pose_as_the_sender_address():
    raw = _raw(
        """
From: =?utf-8?q?Eve=0D=0ABcc:_evil@attacker.example?= <real@sender.example>
Subject: Export empty
Message-ID: <eve@sender.example>
"""
    )
    parsed = parse_message(raw)
    assert parsed.from_address == "real@sender.example"
    assert "\n" not in parsed.from_name and "\r" not in parsed.from_name
    result = ingest_raw(raw, source="test")
    case = Case.objects.get(reference=result.case_reference)
    assert case.customer.email == "real@sender.example"


def test_encoded_names_in_an_address_list_keep_their_addresses():
    parsed = parse_message(
        _raw(
            """
From: =?utf-8?q?M=C3=BCller=2C_Hans?= <hans@example.de>
To: =?utf-8?b?w4Rrc2Vs?= <a@example.com>, =?utf-8?q?Bob_=3Cb@evil.example=3E?= <b@example.com>
Subject: hi
"""
        )
    )
    assert (parsed.from_name, parsed.from_address) == ("Müller, Hans", "hans@example.de")
    assert parsed.to == ["a@example.com", "b@example.com"]


def test_a_quoted_local_part_is_a_customer_not_quarantine():
    result = ingest_raw(
        _raw('From: "test test"@example.com\nSubject: Export\nMessage-ID: <q@x>'), source="test"
    )
    assert not result.quarantined, result.reason
    assert Case.objects.get(reference=result.case_reference).customer.email == '"test test"@example.com'


@pytest.mark.parametrize("header", ["Sender", "Reply-To", "Return-Path"])
def test_mail_without_from_takes_the_sender_from_the_other_headers(header):
    value = "<joe@example.com>" if header == "Return-Path" else "Joe <joe@example.com>"
    parsed = parse_message(_raw(f"{header}: {value}\nSubject: hi"))
    assert parsed.from_address == "joe@example.com" and check_acceptable(parsed) is None
    assert any(header in defect for defect in parsed.defects)


def test_mail_with_no_sender_anywhere_is_still_quarantined():
    result = ingest_raw(_raw("Subject: who am I"), source="test")
    assert result.quarantined and "no sender" in result.reason


def test_two_hundred_thousand_recipients_are_read_in_linear_time_and_capped():
    to = ", ".join(f"user{i}@example.com" for i in range(200_000))
    raw = _raw(f"From: a@example.com\nTo: {to}\nSubject: spam")
    started = time.perf_counter()
    parsed = parse_message(raw)
    elapsed = time.perf_counter() - started
    assert len(parsed.to) == 500 and parsed.to[0] == "user0@example.com"
    # Quadratic de-duplication took minutes here; linear takes well under a second. A generous bound, so a
    # busy CI machine cannot fail it, that a quadratic regression still cannot meet.
    assert elapsed < 20
