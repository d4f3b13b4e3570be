"""Memory of the worker's heavy work (issue 20: "a worker stays under 300 MB RSS during a 1M-case sweep
and a 100k-mail import"): each part runs in a process of its own, which prints its peak resident set
(`ru_maxrss`) and what it did.

1. **Sweep**: the `sla-sweep` job run until it has nothing left to do, then every other registered
   periodic job once, on an install filled before (`--var-dir`, e.g. bench_scale's `--reuse` directory
   with 1,000,000 generated cases; `--database-url` for PostgreSQL).
2. **Import**: `casework import-mbox` of an mbox of `--mails` generated mails (new cases, replies that
   thread by subject tag, a few with attachments and HTML) into a fresh SQLite install, every reaction on.

    .venv/bin/python bench/bench_memory.py --var-dir /tmp/sqlite1m --mails 100000

JSON on stdout (and `--out`). Goal: each peak < 300 MB.
"""

from __future__ import annotations

import argparse
import functools
import json
import mailbox
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email import policy
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import bench_api  # noqa: E402

SWEEP_SOURCE = r"""
import json, resource, time
from casework.core.scheduler import jobs
from casework.core.workers import warm_imports
registry = {job.name: job for job in jobs()}
out = {"runs": {}}
t0 = time.perf_counter()
warm_imports()  # as `casework worker` does at start (core/workers.WARM_IMPORTS), before any job
out["warm_imports"] = {"s": round(time.perf_counter() - t0, 2)}
t0 = time.perf_counter()
runs, result = 0, None
while runs < 200:
    runs += 1
    result = str(registry["sla-sweep"].func())
    if all(n == "0" for n in __import__("re").findall(r"\d+", result)):
        break
def peak():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
out["runs"]["sla-sweep"] = {"runs": runs, "s": round(time.perf_counter() - t0, 2), "last": result[:200],
                            "peak_rss_mb_so_far": peak()}
if FORCE_RETRAIN:  # measure a retrain even when nobody labelled a case since the install's model
    from casework.triage import training
    training._no_training_needed = lambda: None
for name, job in registry.items():
    if name in ("sla-sweep", "imap-poll"):
        continue
    t1 = time.perf_counter()
    try:
        first = job.func()
        row = {"s": round(time.perf_counter() - t1, 2)}
        result = first
        # The retrain answers at once and fits in a child (triage/training.py): run it again, as the
        # scheduler does, until the child finished; the child's peak is RUSAGE_CHILDREN once reaped.
        while name == "triage-retrain" and isinstance(result, dict) and result.get("backlog"):
            time.sleep(0.5)
            result = job.func()
        if result is not first:
            row["until_done_s"] = round(time.perf_counter() - t1, 1)
            row["child_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
        res = str(result)[:160]
    except Exception as exc:
        row, res = {"s": round(time.perf_counter() - t1, 2)}, "ERROR " + repr(exc)[:160]
    out["runs"][name] = {**row, "result": res, "peak_rss_mb_so_far": peak()}
out["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
print("MEM-JSON:" + json.dumps(out))
"""

IMPORT_WRAPPER = (
    "import resource, subprocess, sys\n"
    "p = subprocess.run(sys.argv[1:])\n"
    "print('IMPORT-RSS-KB:%d' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(p.returncode)\n"
)

WORDS = (
    "invoice",
    "login",
    "password",
    "export",
    "report",
    "dashboard",
    "sync",
    "mobile",
    "app",
    "slow",
    "error",
    "timeout",
    "payment",
    "refund",
    "account",
    "settings",
    "permission",
    "team",
    "calendar",
    "upload",
    "file",
    "import",
    "csv",
    "api",
    "webhook",
    "integration",
    "billing",
    "crash",
    "update",
    "browser",
    "screen",
    "button",
    "email",
    "order",
    "customer",
)


class _HeaderClasses(HeaderRegistry):
    """policy.default's registry builds a new header class for every header it makes (20 a mail): writing
    went from 2 ms a mail at 2,000 mails to 6 ms at 20,000 (124 s). With each class built once: 5,000 mails
    in 28 s instead of 43 s, side by side at load 5-6. The mails are the same."""

    @functools.cache  # noqa: B019 - one registry for the whole process
    def __getitem__(self, name: str) -> type:
        return super().__getitem__(name)


_POLICY = policy.default.clone(header_factory=_HeaderClasses())


def write_mbox(path: Path, n: int, seed: int = 7) -> None:
    """`n` mails: 80 % new requests from 5,000 senders, 20 % replies from the same customer to an earlier
    one (In-Reply-To and References, "Re:" subject), 5 % with a small attachment, a third with HTML."""
    rng = random.Random(seed)
    box = mailbox.mbox(str(path), create=True)
    box.lock()
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    opened: list[tuple[str, str, str]] = []  # (Message-ID, sender, subject) of the new requests
    try:
        for i in range(n):
            msg = EmailMessage(policy=_POLICY)
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 120)))
            message_id = make_msgid(idstring=f"mem{i}", domain="bench.example")
            if opened and rng.random() < 0.2:
                parent, sender, first_subject = rng.choice(opened)
                subject = f"Re: {first_subject}"
                msg["In-Reply-To"] = parent
                msg["References"] = parent
            else:
                sender = f"customer{rng.randint(1, 5000)}@client{rng.randint(1, 400)}.example"
                subject = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} problem {i}"
                opened.append((message_id, sender, subject))
            msg["From"] = sender
            msg["To"] = "support@casework.localhost"
            msg["Subject"] = subject
            msg["Date"] = format_datetime(start + timedelta(seconds=37 * i))
            msg["Message-ID"] = message_id
            msg.set_content(f"Hello,\n\n{words}\n\nThanks,\n{sender.split('@')[0]}\n")
            if i % 3 == 0:
                msg.add_alternative(f"<p>Hello,</p><p>{words}</p>", subtype="html")
            if i % 20 == 0:
                msg.add_attachment(
                    os.urandom(2048), maintype="application", subtype="octet-stream", filename=f"log-{i}.bin"
                )
            box.add(msg)
    finally:
        box.flush()
        box.unlock()
        box.close()


def sweep(var_dir: Path, database_url: str | None, *, retrain: bool = False) -> dict:
    install = bench_api.Install(var_dir)
    if database_url:
        install.env["DATABASE_URL"] = database_url
    started = time.perf_counter()
    source = f"FORCE_RETRAIN = {retrain!r}\n" + SWEEP_SOURCE
    out = install.manage("shell", "--no-imports", "-c", source, timeout=3600)
    line = next(ln for ln in out.splitlines() if ln.startswith("MEM-JSON:"))
    result = json.loads(line[len("MEM-JSON:") :])
    result["wall_s"] = round(time.perf_counter() - started, 1)
    return result


def import_mbox(n: int) -> dict:
    var_dir = Path(tempfile.mkdtemp(prefix="casework-mem-"))
    install = bench_api.Install(var_dir)
    install.prepare(capacity=1000)
    path = var_dir / "import.mbox"
    t0 = time.perf_counter()
    write_mbox(path, n)
    written = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    # A fresh wrapper process whose only child is the import: RUSAGE_CHILDREN is the largest child ever
    # waited for, so measured from here it would include the set-up commands (and an earlier sweep).
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_WRAPPER, str(bench_api.BIN / "casework"), "import-mbox", str(path)],
        cwd=install.src,
        env=install.env,
        capture_output=True,
        text=True,
        timeout=7200,
    )
    wall = time.perf_counter() - t0
    rss_line = [ln for ln in proc.stderr.splitlines() if ln.startswith("IMPORT-RSS-KB:")]
    peak = int(rss_line[-1].split(":")[1]) if rss_line else 0
    return {
        "mails": n,
        "mbox_mb": round(path.stat().st_size / 2**20, 1),
        "write_s": written,
        "import_s": round(wall, 1),
        "msgs_per_s": round(n / wall, 1),
        "returncode": proc.returncode,
        "summary": (proc.stdout.strip().splitlines() or [""])[-1][:300],
        "stderr_tail": proc.stderr[-300:] if proc.returncode else "",
        "note": "the import process alone (its wrapper's only child)",
        "max_rss_mb": round(peak / 1024, 1),
        "var_dir": str(var_dir),
    }


def run() -> dict:
    """For `make bench`: the import part at 2,000 mails (the sweep needs a filled install; run it by hand
    with --var-dir, e.g. bench_scale's --reuse directory)."""
    return {"import": import_mbox(2000), "goal_mb": 300}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", help="a filled install for the sweep (skip the sweep without it)")
    parser.add_argument("--database-url")
    parser.add_argument(
        "--retrain", action="store_true", help="the sweep's triage-retrain fits even without new labels"
    )
    parser.add_argument("--mails", type=int, default=0, help="mails to import (0: skip the import)")
    parser.add_argument("--out")
    args = parser.parse_args()
    result: dict = {"load_before": os.getloadavg()}
    if args.var_dir:
        result["sweep"] = sweep(Path(args.var_dir), args.database_url, retrain=args.retrain)
    if args.mails:
        result["import"] = import_mbox(args.mails)
    result["load_after"] = os.getloadavg()
    result["goal_mb"] = 300
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
