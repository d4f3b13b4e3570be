"""casework's SQLite backend queues writers on a lock file: the next writer waits for the commit (not
for SQLite's busy handler to wake up), and the lock is released however the transaction ends."""

from __future__ import annotations

import fcntl
import os
import threading

import pytest
from django.db import connection

from casework.core.db.sqlite3.base import DatabaseWrapper

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite backend only"),
]


def _wrapper(path) -> DatabaseWrapper:
    settings = {**connection.settings_dict, "NAME": str(path), "TEST": {}}
    return DatabaseWrapper(settings, alias=f"lockfile-{id(path)}")


def _lock_is_free(path) -> bool:
    fd = os.open(f"{path}.writelock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_a_second_writer_waits_for_the_first_ones_commit(tmp_path):
    db = tmp_path / "w.sqlite3"
    first = _wrapper(db)
    with first.cursor() as cursor:
        cursor.execute("CREATE TABLE t (n integer)")
    first._start_transaction_under_autocommit()
    first.cursor().execute("INSERT INTO t VALUES (1)")
    started = threading.Event()
    done = threading.Event()

    def write() -> None:  # a connection belongs to the thread that made it
        second = _wrapper(db)
        second.ensure_connection()
        started.set()
        second._start_transaction_under_autocommit()
        second.cursor().execute("INSERT INTO t VALUES (2)")
        second._commit()
        second.close()
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    started.wait(5)
    assert not done.wait(0.3)  # queued on the lock file, not busy-looping into SQLite
    assert not _lock_is_free(db)
    first._commit()
    assert done.wait(5)
    thread.join(5)
    assert _lock_is_free(db)
    with first.cursor() as cursor:
        cursor.execute("SELECT n FROM t ORDER BY n")
        assert [row[0] for row in cursor.fetchall()] == [1, 2]
    first.close()


def test_the_lock_is_released_on_rollback_and_on_close(tmp_path):
    db = tmp_path / "r.sqlite3"
    conn = _wrapper(db)
    conn.ensure_connection()
    conn._start_transaction_under_autocommit()
    assert not _lock_is_free(db)
    conn._rollback()
    assert _lock_is_free(db)
    conn._start_transaction_under_autocommit()
    conn.close()
    assert _lock_is_free(db)


def test_an_in_memory_database_takes_no_lock_file(tmp_path):
    assert connection.is_in_memory_db() or connection.vendor != "sqlite"
    assert connection._lock_path() is None


def test_process_mmap_size_turns_the_map_down_on_open_and_new_connections(tmp_path, monkeypatch):
    from casework.core.db.sqlite3 import base

    monkeypatch.setattr(base, "_mmap_override", None)

    def mapped(wrapper: DatabaseWrapper) -> int:
        with wrapper.cursor() as cursor:
            cursor.execute("PRAGMA mmap_size")
            return cursor.fetchone()[0]

    db = tmp_path / "m.sqlite3"
    opened = _wrapper(db)
    assert mapped(opened) == 128 * 2**20  # settings: CASEWORK_SQLITE_MMAP_MB
    monkeypatch.setattr(base, "_mmap_override", 0)
    opened.apply_mmap_override()
    assert mapped(opened) == 0
    later = _wrapper(db)
    assert mapped(later) == 0
    opened.close()
    later.close()
