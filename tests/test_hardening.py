"""Abuse limits, security headers, attachment sniffing and the stored-payload browser test (issue 17)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from casework.core import ratelimit, uploads
from casework.core.errors import ValidationFailed

pytestmark = pytest.mark.django_db

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent / "casework"


# --- Content-Security-Policy and headers -----------------------------------------------------------------


def test_every_response_carries_the_policy_and_headers(client, alice):
    for response in (client.get("/login/"), client.get("/api/v1/cases"), client.get("/healthz")):
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        assert response["X-Content-Type-Options"] == "nosniff"


def test_templates_hold_no_inline_script_or_handlers():
    """The policy forbids inline script; a template that needed one would break silently in browsers."""
    inline = re.compile(
        r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>|\son[a-z]+\s*=|javascript:", re.I
    )
    offenders = [
        f"{path.relative_to(TEMPLATE_ROOT)}: {m.group(0)}"
        for path in TEMPLATE_ROOT.glob("*/templates/**/*.html")
        for m in inline.finditer(path.read_text())
    ]
    assert offenders == []


def test_page_templates_hold_no_inline_style():
    """`style-src 'self'`: a style attribute or <style> block in a page is dropped by the browser (charts
    were drawn black). Mail templates are exempt: mail clients need inline styles and no CSP applies."""
    inline = re.compile(r"\sstyle\s*=|<style[\s>]", re.I)
    offenders = [
        f"{path.relative_to(TEMPLATE_ROOT)}: {m.group(0)}"
        for path in TEMPLATE_ROOT.glob("*/templates/**/*.html")
        if not path.name.startswith("mail") and "/mail/" not in path.as_posix()
        for m in inline.finditer(path.read_text())
    ]
    assert offenders == []


# --- rate limits ------------------------------------------------------------------------------------------


def test_counter_store_counts_and_refuses_past_the_limit():
    assert [ratelimit.allow("t", "k", limit=3, window=timedelta(minutes=1)) for _ in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert ratelimit.allow("t", "other-key", limit=3, window=timedelta(minutes=1))
    assert ratelimit.allow("t", "k", limit=0, window=timedelta(minutes=1))  # 0 = no limit
    usage = ratelimit.hit("t2", "k", "1/h")
    assert (usage.count, usage.limited) == (1, False)
    usage = ratelimit.hit("t2", "k", "1/h")
    assert usage.limited and 0 < usage.retry_after <= 3600


def test_counter_store_counts_an_attempt_with_one_statement(django_assert_num_queries):
    # django-ratelimit sends add() then incr(); the add is the counting upsert and the incr reuses it.
    for expected in (1, 2, 3):
        with django_assert_num_queries(1):
            usage = ratelimit.hit("one", "k", "10/m")
        assert (usage.count, usage.limited) == (expected, False)
    # Reading without counting still works (increment=False: add of 0, then a read).
    assert ratelimit.hit("one", "k", "10/m", increment=False).count == 3


def test_counter_store_restarts_an_expired_window(time_machine):
    time_machine.move_to("2026-12-03 10:00:00+00:00", tick=False)
    assert ratelimit.hit("w", "k", "1/m").limited is False
    assert ratelimit.hit("w", "k", "1/m").limited is True
    time_machine.move_to("2026-12-03 10:05:00+00:00", tick=False)
    assert ratelimit.hit("w", "k", "1/m").limited is False
    assert ratelimit.prune_expired() >= 0


def test_api_token_limit_answers_429_with_retry_after(api, settings):
    settings.CASEWORK = {**settings.CASEWORK, "RATE_API_TOKEN": "3/m"}
    statuses = [api.get("/api/v1/cases").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    refused = api.get("/api/v1/cases")
    assert refused.json()["error"]["code"] == "rate_limited" and int(refused["Retry-After"]) >= 1


def test_api_ip_limit_counts_requests_without_a_valid_token(anon_api, settings):
    settings.CASEWORK = {**settings.CASEWORK, "RATE_API_IP": "2/m"}
    anon_api.token = "cw_guess"
    assert [anon_api.get("/api/v1/cases").status_code for _ in range(4)] == [401, 401, 429, 429]


def test_inbound_limit_per_ip(client, inbound_headers, settings):
    settings.CASEWORK = {**settings.CASEWORK, "RATE_INBOUND_IP": "1/m"}
    post = lambda: client.post(  # noqa: E731
        "/api/v1/inbound/email", data=b"", content_type="message/rfc822", **inbound_headers
    )
    assert [post().status_code, post().status_code] == [422, 429]


# --- attachments ------------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PE = b"MZ" + b"\x00" * 58 + b"\x40\x00\x00\x00" + b"\x00" * 64 + b"PE\x00\x00"


def test_sniffing_names_the_real_type_and_refuses_programs():
    assert uploads.inspect("photo.txt", PNG, "text/plain") == uploads.Inspection("image/png", None)
    assert uploads.inspect("notes.txt", b"hello", "text/plain").refused is None
    assert "program" in uploads.inspect("invoice.pdf", PE, "application/pdf").refused
    assert ".js files" in uploads.inspect("run.JS", b"alert(1)", "text/plain").refused


def test_agent_upload_of_a_program_is_refused_and_nothing_stored(case, manager_alice):
    from casework.cases import services

    with pytest.raises(ValidationFailed) as refused:
        services.case_add_attachment(
            case=case, filename="tool.exe", content=PE, content_type="image/png", actor=manager_alice
        )
    assert refused.value.code == "attachment_type_blocked" and case.attachments.count() == 0
    stored = services.case_add_attachment(
        case=case, filename="screen.txt", content=PNG, content_type="text/plain", actor=manager_alice
    )
    assert stored.content_type == "image/png"


# --- retention of transient rows ----------------------------------------------------------------------------


def test_purge_transient_counts_first_then_deletes_only_what_is_old(case, time_machine):
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.utils import timezone

    from casework.core.models import RateCounter
    from casework.core.retention import purge_transient
    from casework.notify.models import Outbox

    old = timezone.now() - timedelta(days=400)
    Outbox.objects.create(
        from_address="s@example.test",
        to=["a@example.test"],
        subject="s",
        body_text="b",
        status="sent",
        next_attempt_at=old,
        created_at=old,
    )
    Outbox.objects.create(
        from_address="s@example.test",
        to=["a@example.test"],
        subject="s",
        body_text="b",
        status="pending",
        next_attempt_at=old,
        created_at=old,
    )
    session = SessionStore()
    session.set_expiry(-10)
    session.save()
    RateCounter.objects.create(key="gone", value=1, expires=old)
    before = purge_transient(dry_run=True)
    assert (before["outbox"], before["sessions"], before["rate_windows"]) == (1, 1, 1)
    assert Outbox.objects.count() == 2
    call_command("purge-transient")
    assert list(Outbox.objects.values_list("status", flat=True)) == ["pending"]
    assert purge_transient(dry_run=True) == {k: 0 for k in before}


# --- customer data export ---------------------------------------------------------------------------------


def test_customer_export_is_complete_without_internal_notes_and_recorded(case, customer):
    import json as jsonlib
    from io import StringIO

    from django.core.management import call_command

    from casework.cases import services

    services.case_add_message(case=case, kind="note", body="internal: VIP, be careful", actor=None)
    services.case_add_message(case=case, kind="reply", body="We are on it", actor=None)
    out = StringIO()
    call_command("export-customer", customer.email, "--dry-run", stdout=out)
    assert jsonlib.loads(out.getvalue()) == {"cases": 1, "messages": 2}
    assert not case.events.filter(data__privacy="export").exists()
    out = StringIO()
    call_command("export-customer", customer.email.upper(), stdout=out)
    export = jsonlib.loads(out.getvalue())
    assert export["customer"]["email"] == customer.email
    bodies = [m["body"] for m in export["cases"][0]["messages"]]
    assert "We are on it" in bodies and not any("internal" in b for b in bodies)
    assert case.events.filter(data__privacy="export").count() == 1
