"""`python -m casework.testing.api_call TOKEN < calls.json`: API calls made in this very process.

stdin is a JSON list of `{"method", "path", "body"}`; each call goes through Django's test client with the
Bearer token — the whole request cycle (middleware, authentication, the view, its unit of work) runs here,
so a `CASEWORK_CRASH_AT` kill happens in the process that did the write. One JSON line per answered call
(`{"status", "body"}`) is printed and flushed at once, so the test sees which calls were answered before
the kill. Configure it like any casework process (DATABASE_URL, CASEWORK_*).
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    token = argv[0]
    calls = json.load(sys.stdin)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casework.settings")
    import django

    django.setup()
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", raise_request_exception=True)
    for call in calls:
        response = client.generic(
            call["method"].upper(),
            call["path"],
            json.dumps(call.get("body") or {}),
            content_type="application/json",
        )
        try:
            body = response.json()
        except ValueError:
            body = response.content.decode(errors="replace")[:2000]
        print(json.dumps({"status": response.status_code, "body": body}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
