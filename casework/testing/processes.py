"""Real `casework` processes for crash and concurrency tests: an environment that points one process tree at
its own database, and starting/stopping `casework worker` by the PID we started (never by name).

The pytest database is invisible to other processes (a transaction, or an in-memory SQLite file), so these
tests give the subprocesses a database of their own: a SQLite file in a temp dir, or a database created in
the throwaway PostgreSQL cluster.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path


def casework_env(var_dir: Path, database_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment minus every CASEWORK_*/DATABASE_URL setting, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CASEWORK_"))}
    env.update(
        CASEWORK_VAR_DIR=str(var_dir),
        CASEWORK_MEDIA_DIR=str(var_dir / "media"),
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="casework.settings",
        CASEWORK_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


def casework_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "casework", *args]


def run_casework(env: Mapping[str, str], *args: str, timeout: float = 300) -> str:
    """Run one command to completion; its stdout, or an error showing what it printed."""
    done = subprocess.run(
        casework_command(*args), env=dict(env), capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise AssertionError(f"casework {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def start_worker(env: Mapping[str, str], log: Path, *args: str) -> subprocess.Popen:
    """`casework worker` with its output in `log` (read it when a test fails). Without the warm-up
    imports unless `env` asks for them: tests start workers by the dozen (the crash and chaos tests
    restart them after every kill), and 1–2 s of CPU each would only slow them down."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            casework_command("worker", "--interval", "0.1", *args),
            env={"CASEWORK_WORKER_WARM_IMPORTS": "false", **env},
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def stop_worker(proc: subprocess.Popen, timeout: float = 60) -> int:
    """SIGTERM (the worker finishes what it is doing), SIGKILL if it does not exit in time. 60 s: a
    worker finishing a batch on a loaded 2-core CI machine took over 20 s (the earlier limit), and the
    tests that assert a clean exit then failed on the SIGKILL; a healthy worker exits in well under 1 s."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def wait_until(condition: Callable[[], object], *, timeout: float, what: str, interval: float = 0.05):
    """Poll `condition` until it returns something truthy (returned); AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
