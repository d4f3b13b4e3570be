"""The OpenAI-compatible draft provider against a local fake server (127.0.0.1): a good answer, a slow one
(timeout), an HTTP error and a malformed body each end as a draft or a recorded error, never a crash."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from casework.knowledge import drafting, services
from casework.knowledge.models import ReplyDraft

pytestmark = pytest.mark.django_db


class FakeProvider(BaseHTTPRequestHandler):
    mode = "ok"
    requests: list = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeProvider.requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        if self.mode == "slow":
            time.sleep(1.5)
        if self.mode == "error":
            self.send_response(500)
            self.end_headers()
            return
        payload = (
            b"not json"
            if self.mode == "garbage"
            else json.dumps(
                {"choices": [{"message": {"role": "assistant", "content": " Hi Nora, try X. "}}]}
            ).encode()
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def fake_provider():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeProvider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeProvider.requests = []
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def configured(settings, fake_provider):
    settings.CASEWORK = {
        **settings.CASEWORK,
        "DRAFT_URL": f"http://127.0.0.1:{fake_provider.server_address[1]}/v1",
        "DRAFT_MODEL": "test-model",
        "DRAFT_API_KEY": "sk-test",
        "DRAFT_TIMEOUT_SECONDS": 0.5,
    }
    return fake_provider


@pytest.mark.parametrize(
    "mode,error",
    [
        ("ok", ""),
        ("slow", "unreachable or too slow"),
        ("error", "HTTP 500"),
        ("garbage", "not JSON"),
    ],
)
def test_worker_completes_the_draft_or_records_why_not(configured, alice, case, mode, error):
    FakeProvider.mode = mode
    services.article_create(title="Export crashes fix", body="Clear the export cache.", status="published")
    draft = drafting.propose(case=case, agent=alice)
    assert not draft.ready and FakeProvider.requests == []  # nothing called inside the request
    offline_text = draft.text
    done = drafting.complete_http_draft(draft.pk)  # what the worker's task runs
    assert done.ready
    if error:
        assert error in done.error and done.text == offline_text and done.provider == "offline"
    else:
        assert done.text == "Hi Nora, try X." and done.error == "" and done.provider == "http"
        (request,) = FakeProvider.requests
        assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
        assert request["body"]["model"] == "test-model"
        assert "Clear the export cache." in request["body"]["messages"][1]["content"]
    assert ReplyDraft.objects.get(pk=draft.pk).outcome == "proposed"  # never sent by itself
