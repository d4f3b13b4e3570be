"""SQLite for several processes that write: Django's backend, with writers queued on a lock file.

Every casework transaction takes SQLite's write lock up front (`BEGIN IMMEDIATE`, see settings). When it
is taken, SQLite's busy handler makes the next writer *sleep and retry* — 1, 2, 5, 10, 15, 20, 25 ms and
up — so under a steady stream of writes from two web workers and a worker, a transaction that needs 5 ms
waits 8, 18 or 33 ms for a lock that was free long before: measured on API creates, half the CPU sat idle.
Here a writer first takes an exclusive `flock` on `<database>.writelock`, which the kernel hands to the
next waiter the moment it is released (and releases by itself if the holder dies), and only then begins
its transaction; the busy handler is left for writers that do not take the file lock (a `sqlite3` shell).

Used as ENGINE "casework.core.db.sqlite3" in settings for file databases; an in-memory database (the test
suite's) has nobody to queue with and skips the lock.

`process_mmap_size` lowers `PRAGMA mmap_size` for one process (every connection it has or opens): every
page of a memory-mapped database that a process reads stays in its resident set, up to the mmap size
(CASEWORK_SQLITE_MMAP_MB, 128 MB) — for a process that walks a whole, growing database, such as an mbox
import, that was most of its RSS growth (bench_memory).
"""

from __future__ import annotations

import fcntl
import os

from django.db.backends.sqlite3 import base

_mmap_override: int | None = None


def process_mmap_size(size: int) -> None:
    """Map at most `size` bytes of the database in this process, on its open connections and the ones it
    opens later (other processes keep the settings' PRAGMA). Connections to other databases (PostgreSQL)
    are left alone."""
    global _mmap_override
    _mmap_override = max(0, int(size))
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if isinstance(connection, DatabaseWrapper):
            connection.apply_mmap_override()


class DatabaseWrapper(base.DatabaseWrapper):
    _write_lock_fd: int | None = None

    def get_new_connection(self, conn_params):
        conn = super().get_new_connection(conn_params)
        if _mmap_override is not None:
            conn.execute(f"PRAGMA mmap_size={_mmap_override:d}")
        return conn

    def apply_mmap_override(self) -> None:
        if _mmap_override is not None and self.connection is not None:
            self.connection.execute(f"PRAGMA mmap_size={_mmap_override:d}")

    def _lock_path(self) -> str | None:
        name = str(self.settings_dict["NAME"])
        if self.is_in_memory_db() or not name:
            return None
        return f"{name}.writelock"

    def _start_transaction_under_autocommit(self) -> None:
        path = self._lock_path()
        if path is not None and self._write_lock_fd is None:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            self._write_lock_fd = fd
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_write_lock()
            raise

    def _release_write_lock(self) -> None:
        fd, self._write_lock_fd = self._write_lock_fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock

    def _commit(self) -> None:
        try:
            super()._commit()
        finally:
            self._release_write_lock()

    def _rollback(self) -> None:
        try:
            super()._rollback()
        finally:
            self._release_write_lock()

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            self._release_write_lock()
