"""Chaos under load (issue 17): an mbox import, API writes and the worker run together while each is SIGKILLed
from outside at random moments and started again. Afterwards every mail is imported exactly once, every
write the API answered 2xx is there, no mail reached the SMTP sink twice and every outbox row was sent,
and no case is half-written (opened event, both SLA clocks, sentiment, triage trace, tier history).

`make test` runs one short round (CASEWORK_CHAOS_MAILS/WRITES default 300/200, 4 kills); `make chaos` runs
CASEWORK_CHAOS_RUNS rounds of 1,000 mails and 1,000 writes with 8 kills each. Set CASEWORK_CHAOS_REPORT to a
file to get each round's figures as a JSON line. See casework/testing/chaos_load.py.
"""

from __future__ import annotations

import json
import os

import pytest

from casework.testing import chaos, chaos_load
from casework.testing.chaos import Database

RUNS = chaos.chaos_runs()
each_run = pytest.mark.parametrize("run", range(RUNS), ids=lambda run: f"round{run + 1}of{RUNS}")


@pytest.fixture(scope="session")
def template(tmp_path_factory):
    with chaos.database_template(
        tmp_path_factory.mktemp("chaos-load-template"), os.environ.get("DATABASE_URL")
    ) as t:
        yield t


@pytest.fixture
def db(template, tmp_path) -> Database:
    with template.copy(tmp_path) as database:
        yield database


@each_run
def test_import_and_api_writes_survive_random_kills(run, template, db, smtp_sink, tmp_path):
    figures = chaos_load.run_round(
        index=run,
        database=db,
        env=template.env(db.url, tmp_path),
        directory=tmp_path,
        token=template.token,
        sink=smtp_sink,
        seed=int(os.environ.get("CASEWORK_CHAOS_SEED", "0") or 0) * 1000 + run,
    )
    report = os.environ.get("CASEWORK_CHAOS_REPORT")
    if report:
        with open(report, "a") as out:
            out.write(json.dumps({"database": "postgresql" if db.postgres else "sqlite", **figures}) + "\n")
    assert not figures["problems"], "\n".join(figures["problems"]) + "\n" + json.dumps(figures, default=str)
    assert sum(figures["kills"].values()) >= min(3, chaos_load.round_size()["kills"]), figures
    assert figures["mails_lost"] == 0 and figures["mail_duplicates"] == 0, figures
    assert figures["mails_delivered_twice"] == 0, figures
