"""The metric tests again on PostgreSQL, in the SQLite run: percentiles (window functions), durations
(EXTRACT EPOCH vs julianday), JSON status comparisons and local-day truncation are SQL that differs per
database. A subprocess runs the metric modules with DATABASE_URL pointing at the throwaway cluster of the
`postgres_server` fixture (which fails, not skips, under CI=true when PostgreSQL is missing). In CI's
PostgreSQL run those modules run natively, so this one has nothing to add there."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from casework.testing.processes import casework_env

MODULES = [
    "casework/reports/tests/test_metrics.py",
    "casework/reports/tests/test_sql.py",
    "casework/reports/tests/test_views.py",
    "casework/reports/tests/test_mail.py",
    "casework/reports/tests/test_api.py",
    "casework/reports/tests/test_bench_data.py",
]
ROOT = Path(__file__).resolve().parents[3]


def test_metric_definitions_on_postgresql(postgres_url, tmp_path):
    if connection.vendor == "postgresql":
        pytest.skip("this run is on PostgreSQL already: the metric modules run natively")
    url = postgres_url.rsplit("/", 1)[0] + f"/cw_reports_{uuid.uuid4().hex[:8]}"
    env = casework_env(tmp_path, url, {"CASEWORK_LOG_LEVEL": "WARNING"})
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_XDIST_WORKER_COUNT", None)
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            *MODULES,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = (done.stdout + done.stderr)[-6000:]
    assert done.returncode == 0, f"metric tests failed on PostgreSQL:\n{tail}"
    assert " passed" in done.stdout and "skipped" not in done.stdout.splitlines()[-1], tail
    assert os.environ.get("DATABASE_URL", "") != url
