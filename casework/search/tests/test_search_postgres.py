"""The search tests again, on PostgreSQL (tsvector + GIN), when the suite itself runs on SQLite.

Runs `test_search.py` (and the knowledge-base search tests) in a pytest subprocess pointed at a fresh
database in the throwaway cluster of the `postgres_url` fixture: under CI=true a missing PostgreSQL fails
this test instead of skipping it. When the whole suite runs on PostgreSQL (DATABASE_URL), those modules
already run there and this one has nothing to add.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[3]
MODULES = ["casework/search/tests/test_search.py", "casework/knowledge/tests/test_knowledge.py"]


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the suite already runs on PostgreSQL")
def test_search_suite_on_postgresql(postgres_url, tmp_path):
    import psycopg

    name = f"cw_search_{uuid.uuid4().hex[:8]}"
    base = postgres_url.rsplit("/", 1)[0]
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CASEWORK_", "PYTEST_"))}
    env.update(
        DATABASE_URL=f"{base}/{name}",
        CASEWORK_VAR_DIR=str(tmp_path),
        CASEWORK_MEDIA_DIR=str(tmp_path / "media"),
    )
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", *MODULES],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            con.execute(f'DROP DATABASE IF EXISTS "test_{name}" WITH (FORCE)')
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout.splitlines()[-1], done.stdout[-2000:]
