"""The hand-over journal (notify/handover.py) on its own: lines round-trip, the key is id + Message-ID, only
files from the row's day on are read, old files are pruned, damaged lines are ignored, and many processes
appending at once leave whole lines. Its use by the delivery: test_delivery_lease.py, test_crash_outbox.py."""

from __future__ import annotations

import multiprocessing
import os
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from casework.notify.handover import Handover, HandoverJournal, file_day, format_line, parse_line

NOW = datetime(2026, 12, 3, 16, 30, 5, 123456, tzinfo=UTC)


def test_a_recorded_hand_over_is_found_by_id_and_message_id(tmp_path):
    journal = HandoverJournal(tmp_path / "j")
    journal.record(outbox_id=41, message_id="a@x.test", holder="host:1:w", attempt=1, now=NOW)
    journal.record(outbox_id=42, message_id="b@x.test", holder="host:2:w", attempt=3, now=NOW)
    found = journal.find(outbox_id=42, message_id="b@x.test", since=NOW - timedelta(minutes=1))
    assert found == Handover(at=NOW, outbox_id=42, message_id="b@x.test", holder="host:2:w", attempt=3)
    assert (tmp_path / "j" / "handover-20261203.log").read_bytes().count(b"\n") == 2


def test_an_id_alone_or_a_message_id_alone_does_not_match(tmp_path):
    """A row id reused after a purge (SQLite) or another row's Message-ID never marks a row sent."""
    journal = HandoverJournal(tmp_path)
    journal.record(outbox_id=7, message_id="old@x.test", holder="w", attempt=1, now=NOW)
    assert journal.find(outbox_id=7, message_id="new@x.test") is None
    assert journal.find(outbox_id=70, message_id="old@x.test") is None
    assert journal.find(outbox_id=7, message_id="") is None
    # a prefix of the id or of the Message-ID is not a match either
    journal.record(outbox_id=123, message_id="m@x.test.long", holder="w", attempt=1, now=NOW)
    assert journal.find(outbox_id=23, message_id="m@x.test.long") is None
    assert journal.find(outbox_id=123, message_id="m@x.test") is None
    assert journal.find(outbox_id=123, message_id="m@x.test.long") is not None


def test_nothing_recorded_or_no_directory_finds_nothing(tmp_path):
    assert HandoverJournal(tmp_path / "missing").find(outbox_id=1, message_id="a@x") is None


def test_only_files_from_the_day_before_the_row_was_created_on_are_read(tmp_path):
    journal = HandoverJournal(tmp_path, keep_days=30)
    old = NOW - timedelta(days=5)
    journal.record(outbox_id=1, message_id="a@x", holder="w", attempt=1, now=old)
    assert journal.find(outbox_id=1, message_id="a@x", since=old) is not None
    assert journal.find(outbox_id=1, message_id="a@x", since=NOW) is None  # cannot predate the row
    assert journal.find(outbox_id=1, message_id="a@x") is not None


def test_each_day_has_its_file_and_old_files_are_pruned_when_a_new_day_opens(tmp_path):
    journal = HandoverJournal(tmp_path, keep_days=7)
    for age in (10, 8, 7, 1):
        (tmp_path / f"handover-{(NOW - timedelta(days=age)):%Y%m%d}.log").write_text("")
    (tmp_path / "handover-notadate.log").write_text("")
    (tmp_path / "other.txt").write_text("")
    journal.record(outbox_id=1, message_id="a@x", holder="w", attempt=1, now=NOW)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "handover-20261126.log",
        "handover-20261202.log",
        "handover-20261203.log",
        "handover-notadate.log",
        "other.txt",
    ]
    journal.record(outbox_id=2, message_id="b@x", holder="w", attempt=1, now=NOW + timedelta(days=1))
    assert (tmp_path / "handover-20261204.log").exists() and not (tmp_path / "handover-20261126.log").exists()
    assert journal.find(outbox_id=1, message_id="a@x") is not None


def test_a_cut_or_damaged_line_is_ignored_and_the_next_one_still_found(tmp_path):
    journal = HandoverJournal(tmp_path)
    path = journal.path_for(NOW.date())
    line = format_line(Handover(at=NOW, outbox_id=5, message_id="c@x", holder="w", attempt=1))
    path.write_bytes(line[:20] + b"garbage\t5\tc@x\tw\tnot-a-number\n" + b"\x00\xff\n")
    assert journal.find(outbox_id=5, message_id="c@x") is None
    journal.record(outbox_id=5, message_id="c@x", holder="w", attempt=2, now=NOW)
    assert journal.find(outbox_id=5, message_id="c@x").attempt == 2


def test_separators_in_values_cannot_forge_a_line(tmp_path):
    journal = HandoverJournal(tmp_path)
    journal.record(outbox_id=1, message_id="a@x", holder="evil\n2\tz@x\tw\t1", attempt=1, now=NOW)
    assert journal.find(outbox_id=2, message_id="z@x") is None
    assert journal.path_for(NOW.date()).read_bytes().count(b"\n") == 1


@given(
    outbox_id=st.integers(min_value=0, max_value=2**63),
    message_id=st.text(min_size=1, max_size=80).filter(lambda s: not set(s) & set("\t\r\n")),
    holder=st.text(max_size=40).filter(lambda s: not set(s) & set("\t\r\n")),
    attempt=st.integers(min_value=0, max_value=10_000),
    at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
)
def test_lines_round_trip(outbox_id, message_id, holder, attempt, at):
    entry = Handover(at=at, outbox_id=outbox_id, message_id=message_id, holder=holder, attempt=attempt)
    line = format_line(entry)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert parse_line(line) == Handover(
        at=at,
        outbox_id=outbox_id,
        message_id=message_id.encode("utf-8", "replace").decode("utf-8", "replace"),
        holder=holder.encode("utf-8", "replace").decode("utf-8", "replace"),
        attempt=attempt,
    )


def test_file_names():
    assert file_day("handover-20261203.log") == date(2026, 12, 3)
    assert file_day("handover-20261332.log") is None
    assert file_day("handover-2026120.log") is None
    assert file_day("x-20261203.log") is None


def _append(directory: str, worker: int, count: int) -> None:
    journal = HandoverJournal(directory, fsync=False)
    for i in range(count):
        journal.record(
            outbox_id=worker * 100_000 + i,
            message_id=f"{worker}.{i}@{'x' * (i % 90)}.test",
            holder=f"host:{worker}",
            attempt=1,
            now=NOW,
        )


def test_many_processes_appending_at_once_leave_whole_lines(tmp_path):
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append, args=(str(tmp_path), w, 400)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    lines = (tmp_path / "handover-20261203.log").read_bytes().splitlines(keepends=True)
    assert len(lines) == 1600 and all(parse_line(line) is not None for line in lines)
    journal = HandoverJournal(tmp_path)
    assert journal.find(outbox_id=3 * 100_000 + 399, message_id=f"3.399@{'x' * (399 % 90)}.test")


def test_a_forked_child_opens_its_own_descriptor(tmp_path):
    journal = HandoverJournal(tmp_path)
    journal.record(outbox_id=1, message_id="a@x", holder="parent", attempt=1, now=NOW)
    pid = os.fork()
    if pid == 0:  # the child: its first record reopens the file (the parent's descriptor is not its own)
        try:
            journal.record(outbox_id=2, message_id="b@x", holder="child", attempt=1, now=NOW)
            os._exit(0 if journal._fd_pid == os.getpid() else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    journal.record(outbox_id=3, message_id="c@x", holder="parent", attempt=1, now=NOW)
    assert [
        journal.find(outbox_id=i, message_id=m) is not None for i, m in ((1, "a@x"), (2, "b@x"), (3, "c@x"))
    ] == [True] * 3
