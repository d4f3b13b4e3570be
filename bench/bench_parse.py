"""Parse throughput: the shared email corpus and 1,000 generated typical support mails."""

from __future__ import annotations

import contextlib
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from casework.intake.parsing import UnparseableMessage, parse_message  # noqa: E402
from casework.intake.tests.mailbuilder import build_mail  # noqa: E402

EMAIL = ROOT / ".." / "shared" / "data" / "email"
FOLDERS = ("mikel/emails", "spamscope/mails", "cpython/data", "sisimai/maildir-bsd", "sisimai/maildir-not")


def _corpus() -> list[bytes]:
    files = [p for f in FOLDERS for p in sorted((EMAIL / f).rglob("*")) if p.is_file()]
    return [p.read_bytes() for p in files if not p.name.startswith(("LICENSE", "SOURCE", "."))]


def _generated(count: int = 1000) -> list[bytes]:
    rng = random.Random(42)
    words = [
        "printer",
        "login",
        "invoice",
        "error",
        "timeout",
        "password",
        "export",
        "report",
        "sync",
        "crash",
        "urgent",
        "data",
    ]
    mails = []
    for index in range(count):
        body = " ".join(rng.choices(words, k=120))
        text = f"Hello support,\n\n{body}\n\nThanks,\nCustomer {index}\n\nOn Mon, Support wrote:\n> earlier\n"
        html = f"<p>Hello support,</p><p>{body}</p><blockquote>earlier</blockquote>"
        files = [("log.txt", "text/plain", rng.randbytes(2048))] if index % 10 == 0 else []
        mails.append(
            build_mail(
                subject=f"Re: CW-{index:06d} {words[index % len(words)]}",
                text=text,
                html=html,
                attachments=files,
                message_id=f"<m{index}@customer.test>",
            )
        )
    return mails


def _throughput(mails: list[bytes]) -> dict:
    start = time.perf_counter()
    for raw in mails:
        with contextlib.suppress(UnparseableMessage):
            parse_message(raw)
    elapsed = time.perf_counter() - start
    return {
        "messages": len(mails),
        "seconds": round(elapsed, 3),
        "msgs_per_s": round(len(mails) / elapsed, 1),
    }


def run() -> dict:
    return {"corpus": _throughput(_corpus()), "generated_support_mails": _throughput(_generated())}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
