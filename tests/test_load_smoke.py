"""`make load` runs: the same driver (bench/load.py) with a few clients for a few seconds on SQLite,
gunicorn and the worker included. No timing is asserted (a shared 2-core VM); errors are: any non-2xx
answer, any traceback or `database is locked` in the server's or the worker's log fails it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_make_load_runs_with_a_few_clients_and_no_errors(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "load.py"),
            *("--db", "sqlite", "--clients", "5", "--duration", "4", "--cases", "150", "--workers", "2"),
            *("--out-dir", str(tmp_path)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (path,) = tmp_path.glob("load-sqlite-*.json")
    result = json.loads(path.read_text())
    assert result["problems"] == 0 and result["load"]["errors"] == 0, result["load"]["error_samples"]
    assert result["server_log"]["database_is_locked"] == 0 and result["worker_log"]["tracebacks"] == 0
    # Both kinds of client worked: the API ones and the agent signed in to the web UI.
    routes = result["load"]["routes"]
    assert routes["ui_login"]["ok"] == 1 and routes["create"]["ok"] >= 1, routes
    assert result["machine"]["cpus"] and result["rows_after"]["cases_case"] >= 150
