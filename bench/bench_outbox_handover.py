"""The outbox's duplicate window on SQLite: how long after the SMTP server's 250 a killed worker still causes
a second copy, with each way of recording the hand-over (issue 17, notify/handover.py).

A worker killed between the 250 and the moment its record of the hand-over is durable against a process kill
sends the mail again after the lease. This measures that moment for three records, while a real
`casework import-mbox` of MAILS mails runs against the same SQLite file (as in `make chaos`) and, for
reference, on an idle database:

- `sent_update`: the row's one-statement `sent` UPDATE on the main database (what the worker relied on before
  the journal) — it waits for the write lock behind the importer's batches;
- `journal_write`: the hand-over journal's one `write()` to its append-only file (after which a SIGKILL
  cannot lose the line), and `journal_fsync`, the `fsync()` after it (what a power cut needs);
- `side_sqlite`: an INSERT + COMMIT into a separate SQLite file in WAL mode with `synchronous=FULL` (the
  alternative considered), one writer here — several workers would also queue on its lock.

Each sample is one of each, in that order, every 20 ms. Figures in milliseconds (median, p95, p99, max).

Run: ``.venv/bin/python bench/bench_outbox_handover.py`` (prints JSON; `CASEWORK_BENCH_HANDOVER_MAILS`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

import benchlib  # noqa: E402  (bench/ on sys.path first)

MAILS = int(os.environ.get("CASEWORK_BENCH_HANDOVER_MAILS", "1000"))
IDLE_SAMPLES = 200


def _stats(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        "median": round(benchlib.pct(ms, 50), 3),
        "p95": round(benchlib.pct(ms, 95), 3),
        "p99": round(benchlib.pct(ms, 99), 3),
        "max": round(max(ms), 3),
        "mean": round(sum(ms) / len(ms), 3),
    }


def _sample(row_pk: int, journal, side: sqlite3.Connection, i: int) -> dict[str, float]:
    from django.db import transaction
    from django.utils import timezone

    from casework.notify.models import Outbox

    now = timezone.now()
    t0 = time.perf_counter()
    journal.record(outbox_id=i, message_id=f"bench-{i}@handover.test", holder="bench", attempt=1, now=now)
    t1 = time.perf_counter()
    os.fsync(journal._fd)
    t2 = time.perf_counter()
    side.execute(
        "INSERT INTO handover (outbox_id, message_id, at) VALUES (?, ?, ?)", (i, f"b{i}", now.isoformat())
    )
    side.commit()
    t3 = time.perf_counter()
    with transaction.atomic():
        Outbox.objects.filter(pk=row_pk).update(
            status="sent", sent_at=now, last_error="", lease_expires_at=None
        )
    t4 = time.perf_counter()
    return {
        "journal_write": t1 - t0,
        "journal_fsync": t2 - t1,
        "side_sqlite": t3 - t2,
        "sent_update": t4 - t3,
    }


def run() -> dict[str, Any]:
    var_dir = tempfile.mkdtemp(prefix="bench-handover-")
    benchlib.setup_django(var_dir)
    from django.utils import timezone

    from casework.notify.handover import HandoverJournal
    from casework.notify.models import Outbox
    from casework.testing.chaos_load import write_mbox

    benchlib.setup_team()
    now = timezone.now()
    row = Outbox.objects.create(
        from_address="s@bench.test", to=["a@bench.test"], subject="s", body_text="b", next_attempt_at=now,
        created_at=now, status="sent",
    )  # fmt: skip
    journal = HandoverJournal(Path(var_dir) / "outbox-handover", fsync=False)
    side = sqlite3.connect(Path(var_dir) / "handover.sqlite3", timeout=30, isolation_level="DEFERRED")
    side.execute("PRAGMA journal_mode=WAL")
    side.execute("PRAGMA synchronous=FULL")
    side.execute("CREATE TABLE handover (outbox_id INTEGER, message_id TEXT PRIMARY KEY, at TEXT)")
    side.commit()

    def loop(count: int | None, until=None) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        i = len(loop.done)
        while (count is None or i - len(loop.done) < count) and (until is None or not until()):
            for name, value in _sample(row.pk, journal, side, i).items():
                found.setdefault(name, []).append(value)
            i += 1
            time.sleep(0.02)
        loop.done.extend(range(len(loop.done), i))
        return found

    loop.done = []
    load_before = os.getloadavg()
    idle = loop(IDLE_SAMPLES)

    mbox = Path(var_dir) / "mails.mbox"
    write_mbox(mbox, 1, MAILS)
    env = {**os.environ}
    started = time.perf_counter()
    log = Path(var_dir) / "import.log"
    with log.open("wb") as sink:  # a file, not a pipe: a full pipe would stall the importer holding the lock
        importer = subprocess.Popen(
            [sys.executable, "-m", "casework", "import-mbox", str(mbox), "--no-progress"],
            env=env, stdout=subprocess.DEVNULL, stderr=sink,
        )  # fmt: skip
    busy = loop(None, until=lambda: importer.poll() is not None)
    import_seconds = time.perf_counter() - started
    stderr = log.read_text(errors="replace")
    side.close()
    journal.close()
    return {
        "mails_imported_meanwhile": MAILS,
        "import_exit": importer.returncode,
        "import_seconds": round(import_seconds, 1),
        "import_stderr_tail": stderr[-500:] if importer.returncode else "",
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "during_import_ms": {name: _stats(values) for name, values in busy.items()},
        "idle_ms": {name: _stats(values) for name, values in idle.items()},
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
