"""Crash safety: SIGKILL `casework import-mbox` in the middle, run it again, every mail is in exactly once.

The import runs as a real subprocess on its own SQLite file in a temp CASEWORK_VAR_DIR (never the pytest
database, which another process cannot see), so this test behaves the same in the SQLite and the
PostgreSQL CI runs. The test reads the file with sqlite3 directly.
"""

from __future__ import annotations

import json
import mailbox
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from casework.intake.tests.mailbuilder import build_mail

MAILS = 120
KILL_AFTER = 25  # InboundMail rows committed before the kill


def _env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CASEWORK_"))}
    env.update(
        CASEWORK_VAR_DIR=str(var_dir),
        CASEWORK_MEDIA_DIR=str(var_dir / "media"),
        DATABASE_URL=f"sqlite:///{var_dir / 'crash.sqlite3'}",
        DJANGO_SETTINGS_MODULE="casework.settings",
        CASEWORK_LOG_LEVEL="ERROR",
    )
    return env


def _casework(*args: str) -> list[str]:
    return [sys.executable, "-m", "casework", *args]


def _count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return con.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # not created yet, or mid-migration
        return 0


def _mbox(path: Path) -> tuple[int, int]:
    """MAILS mails: every 4th a reply to the one before, every 10th without a Message-ID."""
    box = mailbox.mbox(str(path))
    with_id = new = 0
    for i in range(MAILS):
        message_id = None if i % 10 == 9 else f"<crash{i}@customer.test>"
        headers = {"In-Reply-To": f"<crash{i - 1}@customer.test>"} if i % 4 == 3 and i % 10 != 0 else {}
        box.add(
            build_mail(
                sender=f"c{i % 50}@customer.test",
                subject=f"Crash test {i}",
                text=f"Mail number {i}\n",
                message_id=message_id,
                headers=headers,
            )
        )
        with_id += message_id is not None
        new += not headers
    box.flush()
    return with_id, new


def test_sigkill_midway_then_rerun_imports_every_mail_exactly_once(tmp_path):
    env = _env(tmp_path)
    db = tmp_path / "crash.sqlite3"
    subprocess.run(_casework("migrate", "--noinput", "-v", "0"), env=env, check=True, timeout=300)
    source = tmp_path / "inbox.mbox"
    _mbox(source)

    proc = subprocess.Popen(
        _casework("import-mbox", str(source), "--no-progress"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while _count(db, "SELECT COUNT(*) FROM intake_inboundmail") < KILL_AFTER:
        assert proc.poll() is None, "the import finished before it could be killed; raise MAILS"
        assert time.monotonic() < deadline, "the import made no progress"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    partial = _count(db, "SELECT COUNT(*) FROM intake_inboundmail")
    assert KILL_AFTER <= partial < MAILS

    rerun = subprocess.run(
        _casework("import-mbox", str(source), "--no-progress"),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    summary = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert summary["total"] == MAILS and summary["duplicates"] == partial
    assert summary["created"] + summary["threaded"] == MAILS - partial

    assert _count(db, "SELECT COUNT(*) FROM intake_inboundmail") == MAILS
    assert _count(db, "SELECT COUNT(DISTINCT dedup_key) FROM intake_inboundmail") == MAILS
    # Every mail is exactly one customer message; none was half-written by the kill.
    assert _count(db, "SELECT COUNT(*) FROM cases_message WHERE kind = 'customer'") == MAILS
    assert _count(db, "SELECT COUNT(*) FROM intake_inboundmail WHERE message_id IS NULL") == 0
    assert (
        _count(db, "SELECT COUNT(*) FROM cases_message WHERE message_id LIKE 'crash%'") == MAILS - MAILS // 10
    )
    orphans = (
        "SELECT COUNT(*) FROM cases_case c"
        " WHERE NOT EXISTS (SELECT 1 FROM cases_message m WHERE m.case_id = c.id)"
    )
    assert _count(db, orphans) == 0
