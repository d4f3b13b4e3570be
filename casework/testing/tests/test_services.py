"""The service fixtures against the real servers; no Django involved."""

from __future__ import annotations

import contextlib
import http.server
import os
import smtplib
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

from casework.testing import services

if TYPE_CHECKING:
    from playwright.sync_api import Page

T = TypeVar("T")

# Loaded here as well as from the root conftest so this module also runs alone with
# `-p no:django --noconftest`. The plugin is imported lazily in the tests below so that pytest can
# still rewrite its asserts when it registers it.
pytest_plugins = ["casework.testing.pytest_plugin"]


def _require_service(name: str, service: AbstractContextManager[T]) -> Iterator[T]:
    from casework.testing.pytest_plugin import require_service

    return require_service(name, service)


def _mail(subject: str, body: str = "The export page shows a 500 error since this morning.") -> bytes:
    message = EmailMessage()
    message["From"] = "Dana Customer <dana@customer.test>"
    message["To"] = "support@example.test"
    message["Subject"] = subject
    message["Message-ID"] = f"<{time.monotonic_ns()}@customer.test>"
    message.set_content(body)
    return message.as_bytes()


def test_postgres_accepts_connections_and_runs_queries(postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(postgres_url, connect_timeout=5) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        conn.execute("CREATE TEMP TABLE probe (id serial PRIMARY KEY, note text)")
        conn.execute("INSERT INTO probe (note) VALUES (%s), (%s)", ["a", "b"])
        count = conn.execute("SELECT count(*) FROM probe").fetchone()
        superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()

    assert version is not None and int(version[0]) >= 150000
    assert count == (2,)
    # pytest-django creates one test database per xdist worker, which needs CREATEDB (superuser here).
    assert superuser == (True,)


def test_postgres_cluster_stops_by_pid_and_cleans_up() -> None:
    # A private second cluster, so stopping it cannot disturb the session one other tests share.
    service = _require_service("PostgreSQL", services.postgres_cluster())
    cluster = next(service)
    pid = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
    assert services._is_running(pid)

    service.close()

    assert not services._is_running(pid)
    assert not cluster.directory.exists()


def test_dovecot_append_then_fetch(dovecot: services.DovecotServer) -> None:
    from imap_tools import MailBoxUnencrypted

    dovecot.append("support@example.test", _mail("Export broken"))
    dovecot.append("support@example.test", _mail("Filed away"), folder="Archive", flags=[r"\Seen"])

    with MailBoxUnencrypted(dovecot.host, dovecot.port).login("support@example.test", "secret") as mailbox:
        inbox = list(mailbox.fetch(mark_seen=False))
        mailbox.folder.set("Archive")
        archived = list(mailbox.fetch(mark_seen=False))

    assert [m.subject for m in inbox] == ["Export broken"]
    assert inbox[0].from_ == "dana@customer.test"
    assert "500 error" in inbox[0].text
    assert [m.subject for m in archived] == ["Filed away"]
    assert "\\Seen" in archived[0].flags
    # APPEND stores into cur/ (new/ is for local delivery); either way the file is on disk.
    maildir = dovecot.maildir("support@example.test")
    assert [*(maildir / "cur").iterdir(), *(maildir / "new").iterdir()]


def test_dovecot_mailboxes_are_isolated_per_test(dovecot: services.DovecotServer) -> None:
    # The previous test appended two mails; a fresh server per test starts empty.
    with dovecot.login("support@example.test") as mailbox:
        assert list(mailbox.fetch()) == []


def test_dovecot_rejects_a_wrong_password(dovecot: services.DovecotServer) -> None:
    from imap_tools import MailBoxUnencrypted
    from imap_tools.errors import MailboxLoginError

    with pytest.raises(MailboxLoginError):
        MailBoxUnencrypted(dovecot.host, dovecot.port).login("support@example.test", "wrong")


def test_redis_answers_on_loopback_and_is_stopped_by_pid() -> None:
    import redis

    service = _require_service("Redis", services.redis_server())
    server = next(service)
    client = redis.Redis.from_url(server.url)
    assert client.ping() is True
    client.rpush("casework:test", "a", "b")
    assert client.lrange("casework:test", 0, -1) == [b"a", b"b"]
    assert client.config_get("save") == {"save": ""}  # memory only: nothing left on disk
    pid = int((server.directory / "redis.pid").read_text().split()[0])
    client.close()

    service.close()

    assert not services._is_running(pid)
    assert not server.directory.exists()


def test_smtp_sink_collects_sent_mail(smtp_sink: services.SmtpSink) -> None:
    raw = _mail("Re: [CW-000123] Export broken", body="We are on it.")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        client.sendmail("support@example.test", ["dana@customer.test", "ops@customer.test"], raw)

    ((mail_from, rcpt_tos, data),) = smtp_sink.wait_for(1, timeout=5)
    assert mail_from == "support@example.test"
    assert rcpt_tos == ["dana@customer.test", "ops@customer.test"]
    assert b"Subject: Re: [CW-000123] Export broken" in data
    assert smtp_sink.django_settings["EMAIL_PORT"] == smtp_sink.port


def test_smtp_sink_wait_for_times_out(smtp_sink: services.SmtpSink) -> None:
    with pytest.raises(TimeoutError, match="got 0"):
        smtp_sink.wait_for(1, timeout=0.1)


@pytest.fixture
def tiny_site() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>casework probe</title><h1 id='hello'>Hello, agent</h1>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((services.LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{services.LOOPBACK}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_browser_reads_a_loopback_page(page: Page, tiny_site: str, tmp_path: Path) -> None:
    page.goto(tiny_site)
    assert page.title() == "casework probe"
    assert page.locator("#hello").inner_text() == "Hello, agent"
    shot = tmp_path / "probe.png"
    page.screenshot(path=str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] == "true"


def test_browser_renders_a_data_url(page: Page) -> None:
    page.goto("data:text/html,<title>inline</title><p>ok</p>")
    assert page.title() == "inline"


def test_service_fixtures_add_markers(request: pytest.FixtureRequest, smtp_sink: services.SmtpSink) -> None:
    assert request.node.get_closest_marker("service") is not None
    assert request.node.get_closest_marker("browser") is None


def test_require_service_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    @contextlib.contextmanager
    def missing() -> Iterator[None]:
        raise services.ServiceUnavailable("frobnicator not installed")
        yield

    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="frobnicator"):
        next(_require_service("Frobnicator", missing()))
    for value in ("true", "1", "TRUE"):
        monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.fail.Exception, match="required in CI"):
            next(_require_service("Frobnicator", missing()))


def test_missing_chromium_is_reported_as_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CASEWORK_CHROMIUM", str(tmp_path / "no-such-browser"))
    with pytest.raises(services.ServiceUnavailable):
        services.chromium_path()
