"""A periodic job for the worker tests: every run appends a "start" and an "end" line (worker id, pid,
wall-clock time) to the JSON-lines file named by CASEWORK_PROBE_LOG, sleeping CASEWORK_PROBE_SLEEP seconds
in between. A worker loads it with CASEWORK_JOB_MODULES=casework.testing.periodic_probe; nothing else
imports it, so production never registers the job.

Each line is one `os.write` on an O_APPEND descriptor, so lines from several worker processes never
interleave. A run killed mid-way leaves its "start" without an "end".
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path

from casework.core.leases import process_holder_id
from casework.core.scheduler import register

NAME = "probe"


def _append(record: dict) -> None:
    path = os.environ.get("CASEWORK_PROBE_LOG")
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    finally:
        os.close(fd)


def probe() -> None:
    who = {"holder": process_holder_id(), "pid": os.getpid()}
    started = time.time()
    _append({"event": "start", "t": started, **who})
    time.sleep(float(os.environ.get("CASEWORK_PROBE_SLEEP", "0.3")))
    _append({"event": "end", "start": started, "t": time.time(), **who})


def read_runs(path) -> tuple[list[dict], list[dict]]:
    """(finished runs as {holder, pid, start, end}, starts without an end) from a probe log."""
    starts: dict[tuple, dict] = {}
    finished = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return [], []
    for line in lines:
        record = json.loads(line)
        if record["event"] == "start":
            starts[(record["pid"], record["t"])] = record
        else:
            begun = starts.pop((record["pid"], record["start"]))
            finished.append(
                {"holder": begun["holder"], "pid": begun["pid"], "start": begun["t"], "end": record["t"]}
            )
    return sorted(finished, key=lambda r: r["start"]), sorted(starts.values(), key=lambda r: r["t"])


register(NAME, timedelta(seconds=float(os.environ.get("CASEWORK_PROBE_EVERY", "1"))), probe)
