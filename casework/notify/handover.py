"""The hand-over journal: a per-host, append-only record of the outbox rows a server accepted (SMTP 250,
Slack 2xx), written the moment the answer arrives and before the row's `sent` UPDATE.

Why: SMTP cannot be exactly-once. A worker killed after the server's 250 and before its `sent` UPDATE
committed leaves the row `sending`; after the lease another worker reclaims it and, without this journal,
sends it again. On SQLite that UPDATE can wait for the database's write lock behind an import batch
(hundreds of milliseconds), so the window is wide. The journal does not wait on the database:

- `record()` is one `write()` of one line to a file opened with `O_APPEND` (atomic for a line this short,
  also between processes), then `fsync()`. Once `write()` returned the line is in the kernel's page cache
  and survives a SIGKILL of the process; the `fsync()` makes it survive a power cut too. So the window in
  which a killed worker causes a duplicate shrinks from "the UPDATE, including its lock wait" to "the
  `write()` system call right after the answer".
- `find()` is what the reclaimer asks before sending a reclaimed row again: a line with the row's id and
  Message-ID (fixed on the row before the first send, unique) means the server already has it; the row
  becomes `sent` without a second conversation (delivery.py logs and records why).

Per host: the file lives next to the SQLite database (every SQLite process is on that host), or under
`CASEWORK_VAR_DIR` on PostgreSQL, where a reclaim by a worker on another host finds no line and sends
again exactly as before (at-least-once, same Message-ID). An entry is only ever a fact ("this row with
this Message-ID was accepted"), so a journal can never make a row `sent` that was not handed over; the
key includes the Message-ID so a row id reused after a purge cannot match an old line.

One file per UTC day (`handover-YYYYMMDD.log`); files older than `keep_days` are removed when a process
opens a new day's file. A row reclaimed later than that (no worker ran for that long) is sent again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

logger = logging.getLogger(__name__)

FILE_PATTERN = re.compile(r"^handover-(\d{8})\.log$")
_UNSAFE = re.compile(r"[\t\r\n]")


@dataclass(frozen=True)
class Handover:
    """One journal line: row `outbox_id` with `message_id` was accepted at `at` by `holder`'s attempt."""

    at: datetime
    outbox_id: int
    message_id: str
    holder: str
    attempt: int


def _clean(value: object) -> str:
    return _UNSAFE.sub(" ", str(value))


def format_line(entry: Handover) -> bytes:
    fields = (
        entry.at.astimezone(UTC).isoformat(),
        entry.outbox_id,
        entry.message_id,
        entry.holder,
        entry.attempt,
    )
    return ("\t".join(_clean(f) for f in fields) + "\n").encode("utf-8", "replace")


def parse_line(line: bytes) -> Handover | None:
    """A journal line, or None for anything else (a line cut by a full disk, garbage)."""
    parts = line.rstrip(b"\n").decode("utf-8", "replace").split("\t")
    if len(parts) != 5:
        return None
    try:
        return Handover(
            at=datetime.fromisoformat(parts[0]),
            outbox_id=int(parts[1]),
            message_id=parts[2],
            holder=parts[3],
            attempt=int(parts[4]),
        )
    except ValueError:
        return None


def file_day(name: str) -> date | None:
    match = FILE_PATTERN.match(name)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d").date()
    except ValueError:
        return None


class HandoverJournal:
    """The journal in `directory` (created on first use). Safe for many processes and threads."""

    def __init__(self, directory: Path, *, keep_days: int = 7, fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.keep_days = keep_days
        self.fsync = fsync
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._fd_day: date | None = None
        self._fd_pid: int | None = None

    def path_for(self, day: date) -> Path:
        return self.directory / f"handover-{day:%Y%m%d}.log"

    # -- writing --------------------------------------------------------------------------------------

    def record(self, *, outbox_id: int, message_id: str, holder: str, attempt: int, now: datetime) -> None:
        """Append one line (one `write()`), then fsync. Raises OSError when the disk refuses."""
        line = format_line(
            Handover(at=now, outbox_id=outbox_id, message_id=message_id, holder=holder, attempt=attempt)
        )
        with self._lock:
            fd = self._open(now.astimezone(UTC).date())
            written = os.write(fd, line)
            if written != len(line):  # a full disk: the line is cut, find() ignores it
                raise OSError(f"hand-over journal: wrote {written} of {len(line)} bytes")
            if self.fsync:
                os.fsync(fd)

    def prepare(self, now: datetime) -> None:
        """Open the file `record(now=…)` will append to, so that call is a write and an fsync only."""
        with self._lock:
            self._open(now.astimezone(UTC).date())

    def _open(self, day: date) -> int:
        if self._fd is not None and self._fd_day == day and self._fd_pid == os.getpid():
            return self._fd
        if self._fd is not None and self._fd_pid == os.getpid():
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = None
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path_for(day), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._fd, self._fd_day, self._fd_pid = fd, day, os.getpid()
        self.prune(day)
        return fd

    def close(self) -> None:
        with self._lock:
            if self._fd is not None and self._fd_pid == os.getpid():
                with contextlib.suppress(OSError):
                    os.close(self._fd)
            self._fd = None

    def prune(self, today: date) -> list[Path]:
        """Remove the files older than `keep_days` (another process may remove them at the same time)."""
        oldest = today - timedelta(days=self.keep_days)
        removed = []
        for path in self._files():
            day = file_day(path.name)
            if day is not None and day < oldest:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
        return removed

    # -- reading --------------------------------------------------------------------------------------

    def _files(self) -> list[Path]:
        try:
            return sorted(p for p in self.directory.iterdir() if file_day(p.name) is not None)
        except FileNotFoundError:
            return []

    def find(self, *, outbox_id: int, message_id: str, since: datetime | None = None) -> Handover | None:
        """The line recording that this row (id and Message-ID) was handed over, looking only at files
        from `since`'s day on (the row's creation: it cannot have been handed over before)."""
        if not message_id:
            return None
        needle = f"\t{outbox_id}\t{_clean(message_id)}\t".encode("utf-8", "replace")
        first_day = since.astimezone(UTC).date() - timedelta(days=1) if since else None
        for path in self._files():
            day = file_day(path.name)
            if first_day is not None and day is not None and day < first_day:
                continue
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            at = data.find(needle)
            while at != -1:
                start = data.rfind(b"\n", 0, at) + 1
                end = data.find(b"\n", at)
                entry = parse_line(data[start : end if end != -1 else len(data)])
                if entry is not None and entry.outbox_id == outbox_id and entry.message_id == message_id:
                    return entry
                at = data.find(needle, at + 1)
        return None


# --------------------------------------------------------------------------------------------------
# the process's journal, from the settings
# --------------------------------------------------------------------------------------------------

_journal: HandoverJournal | None = None
_journal_key: tuple | None = None


def journal_directory() -> Path | None:
    """`CASEWORK_OUTBOX_HANDOVER_DIR`; empty: next to the SQLite file, or `<VAR_DIR>/outbox-handover` on
    PostgreSQL; `off`: no journal (every reclaim sends again)."""
    from django.conf import settings
    from django.db import connection

    configured = str(settings.CASEWORK.get("OUTBOX_HANDOVER_DIR") or "").strip()
    if configured.lower() == "off":
        return None
    if configured:
        return Path(configured)
    if connection.vendor == "sqlite":
        name = str(connection.settings_dict["NAME"])
        if name == ":memory:" or name.startswith("file:") or "mode=memory" in name:
            return None
        database = Path(name)
        return database.with_name(f"{database.name}-outbox-handover")
    return Path(settings.VAR_DIR) / "outbox-handover"


def journal() -> HandoverJournal | None:
    """This process's journal (None when switched off), rebuilt if the settings change (tests)."""
    global _journal, _journal_key
    from django.conf import settings

    directory = journal_directory()
    keep = settings.CASEWORK.get("OUTBOX_HANDOVER_KEEP_DAYS", 7)
    key = (directory, keep)
    if key != _journal_key:
        if _journal is not None:
            _journal.close()
        _journal = HandoverJournal(directory, keep_days=keep) if directory is not None else None
        _journal_key = key
    return _journal
