"""`python -m casework.testing.api_writer TOKEN ROUND WRITES LOG`: the chaos rounds' API client, resumable.

It makes WRITES API writes through Django's test client in this very process (the whole request cycle —
middleware, authentication, the view, its unit of work — runs here, as in `api_call.py`), so a SIGKILL
from outside lands at a random point of a real request: before, inside or after its transaction.

Write `i` is, by `i % 5`: 0–1 open a case, 2–3 a public reply (an outbox mail to the customer) on a case
this writer opened, 4 a status change of such a case (read first, then in_progress ⇄ awaiting_client).
Each carries a token `API-<round>-<i>` (the subject, the reply's body, the transition's reason), so the
test finds it in the database.

LOG (JSON lines, flushed one by one) is the client's memory and the test's record: `{"i", "started": true}`
before each call, `{"i", "kind", "status", "token", "reference"}` after its answer. Started again after a
kill, the writer reads LOG and resumes after the last call it started (a call cut off by the kill is
not retried: it may or may not have been committed, and nobody was told either way), knowing the cases
its earlier answered creates opened.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

NEXT_STATUS = {"new": "in_progress", "triaged": "in_progress", "in_progress": "awaiting_client"}


def token_for(round_: int, i: int) -> str:
    return f"API-{round_}-{i:05d}"


def reply_body(token: str) -> str:
    return f"We are on it, reference {token}."


def read_log(path: Path) -> tuple[int, list[str], list[dict]]:
    """(the next write to make, the references of answered creates, every answer) from LOG."""
    started, refs, answers = -1, [], []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:  # a line cut off by the kill
                continue
            if entry.get("started"):
                started = max(started, entry["i"])
            else:
                answers.append(entry)
                if entry["kind"] == "create" and entry["status"] == 201:
                    refs.append(entry["reference"])
    return started + 1, refs, answers


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    token, round_, writes, log_path = argv[0], int(argv[1]), int(argv[2]), Path(argv[3])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casework.settings")
    import django

    django.setup()
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    first, refs, _ = read_log(log_path)
    with log_path.open("a") as out:

        def record(entry: dict) -> None:
            out.write(json.dumps(entry) + "\n")
            out.flush()

        def send(method: str, path: str, body: dict):
            return client.generic(method, path, json.dumps(body), content_type="application/json")

        for i in range(first, writes):
            tag = token_for(round_, i)
            kind = ("create", "create", "reply", "reply", "transition")[i % 5]
            if kind != "create" and not refs:
                kind = "create"
            ref = refs[(i * 7919) % len(refs)] if refs else None
            record({"i": i, "started": True})
            if kind == "create":
                response = send(
                    "POST",
                    "/api/v1/cases",
                    {
                        "subject": f"Export broken {tag}",
                        "description": "The CSV export crashes with error 500 when I pick last year.",
                        "customer_email": f"writer.{i % 40}@fabrikam.test",
                    },
                )
                if response.status_code == 201:
                    ref = response.json()["reference"]
                    refs.append(ref)
            elif kind == "reply":
                response = send("POST", f"/api/v1/cases/{ref}/messages", {"body": reply_body(tag)})
            else:
                status = client.get(f"/api/v1/cases/{ref}").json().get("status")
                target = NEXT_STATUS.get(status, "in_progress")
                response = send("POST", f"/api/v1/cases/{ref}/transitions", {"to": target, "reason": tag})
            record({"i": i, "kind": kind, "status": response.status_code, "token": tag, "reference": ref})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
