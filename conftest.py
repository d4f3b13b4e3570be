"""Shared fixtures: personas (alice L1, bob L2, carol admin; mallory is not an agent), a customer, an
opened case and an authenticated API client."""

from __future__ import annotations

import json

import pytest
from hypothesis import settings as hypothesis_settings

from casework.testing.factories import (
    CustomerFactory,
    OrganisationFactory,
    TeamFactory,
    make_agent,
    open_case,
)

pytest_plugins = ["casework.testing.pytest_plugin"]

# Two cores shared by two test workers (and, on a developer machine, more): a property test's single example
# can take longer than hypothesis' 200 ms deadline without being slow code. Timing belongs to `make bench`.
hypothesis_settings.register_profile("casework", deadline=None)
hypothesis_settings.load_profile("casework")


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _handover_journal_in_tmp(settings, tmp_path):
    """The outbox's hand-over journal (notify/handover.py) of each test in its own directory, never var/."""
    settings.CASEWORK = {**settings.CASEWORK, "OUTBOX_HANDOVER_DIR": str(tmp_path / "outbox-handover")}


@pytest.fixture(autouse=True)
def _live_queue_counts(settings):
    """Tests see every write in the sidebar counters at once (no sharing window; one test turns it on)."""
    settings.CASEWORK = {**settings.CASEWORK, "QUEUE_COUNTS_SECONDS": 0}


@pytest.fixture(autouse=True)
def _live_weekly_report_rows(settings):
    """Tests see every write in the weekly charts (no cached past weeks; one test turns it on)."""
    settings.CASEWORK = {**settings.CASEWORK, "REPORTS_PAST_WEEKS_SECONDS": 0}


@pytest.fixture(autouse=True)
def _no_triage_model(settings, tmp_path):
    """Every test starts with no learned triage model (rules alone) unless it trains one in its own dir."""
    from casework.triage import model_store

    settings.CASEWORK = {**settings.CASEWORK, "TRIAGE_MODEL_DIR": tmp_path / "triage-models"}
    model_store.reset_cache()
    yield
    model_store.reset_cache()


# Reference data that data migrations install (categories, default triage rules, SLA calendars and
# policies). A transactional test flushes every table afterwards, so the next transactional test would
# run without it; `serialized_rollback` does not restore it reliably with the browser fixtures.
SEED_MIGRATIONS = [
    ("casework.cases.migrations.0002_seed_categories", "seed"),
    ("casework.triage.migrations.0002_default_rules", "install"),
    ("casework.triage.migrations.0003_rule_gives_way_to_model", "mark_shipped_keyword_rules"),
    ("casework.sla.migrations.0002_seed_defaults", "seed"),
]


@pytest.fixture(autouse=True)
def _reference_data(request):
    marker = request.node.get_closest_marker("django_db")
    transactional = marker is not None and (
        marker.kwargs.get("transaction") or (marker.args and marker.args[0])
    )
    if not transactional and not {"transactional_db", "live_server"} & set(request.fixturenames):
        return
    request.getfixturevalue("transactional_db")
    import importlib

    from django.apps import apps

    from casework.cases.models import Category

    if Category.objects.exists():
        return
    for module, function in SEED_MIGRATIONS:
        getattr(importlib.import_module(module), function)(apps, None)


@pytest.fixture
def teams(db):
    return {
        1: TeamFactory(name="L1 Support", tier_level=1),
        2: TeamFactory(name="L2 Support", tier_level=2),
        3: TeamFactory(name="L3 Engineering", tier_level=3),
    }


@pytest.fixture
def alice(db, teams):
    return make_agent("alice", tier=1, teams=[teams[1]])


@pytest.fixture
def bob(db, teams):
    return make_agent("bob", tier=2, teams=[teams[2]])


@pytest.fixture
def carol(db, teams):
    return make_agent("carol", tier=3, teams=[teams[3]], staff=True)


@pytest.fixture
def mallory(db):
    from casework.testing.factories import UserFactory

    return UserFactory(username="mallory")


@pytest.fixture
def organisation(db):
    return OrganisationFactory(name="Northwind", tier="enterprise", vip=True, domains=["northwind.test"])


@pytest.fixture
def customer(db, organisation):
    return CustomerFactory(name="Nora North", email="nora@northwind.test", organisation=organisation)


@pytest.fixture
def case(db, customer):
    return open_case(
        subject="Export crashes", description="The CSV export fails with error 500.", customer=customer
    )


class ApiClient:
    """Django test client speaking JSON with a bearer token."""

    def __init__(self, client, token: str | None) -> None:
        self.client = client
        self.token = token

    def _headers(self) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, params: dict | None = None):
        return self.client.get(path, params or {}, **self._headers())

    def _send(self, method: str, path: str, body) -> object:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return getattr(self.client, method)(
            path, data=data, content_type="application/json", **self._headers()
        )

    def post(self, path: str, body=None):
        return self._send("post", path, body if body is not None else {})

    def patch(self, path: str, body=None):
        return self._send("patch", path, body if body is not None else {})


@pytest.fixture
def api(client, alice):
    """alice's token with every scope, alice promoted to manager: the API's behaviour tests act with
    every right; what each role and scope may do is casework/api/tests/test_access_matrix.py's."""
    from casework.api.models import ApiToken

    alice.agent.role = "manager"
    alice.agent.save(update_fields=["role"])
    _, raw = ApiToken.issue(alice, name="tests", scopes=["read", "write", "admin"])
    return ApiClient(client, raw)


@pytest.fixture
def anon_api(client):
    return ApiClient(client, None)


INBOUND_SECRET = "inbound-test-secret-0123456789"


@pytest.fixture
def inbound_headers(settings):
    """Headers for POST /api/v1/inbound/email: the endpoint's own secret, never an agent token."""
    settings.CASEWORK = {**settings.CASEWORK, "INBOUND_SECRETS": [INBOUND_SECRET]}
    return {"HTTP_AUTHORIZATION": f"Bearer {INBOUND_SECRET}"}


@pytest.fixture
def manager_alice(alice):
    """alice as a manager: for behaviour tests whose case lands outside her team (triage sends the
    standard test case to L2); what each role may do is the access matrix's job."""
    alice.agent.role = "manager"
    alice.agent.save(update_fields=["role"])
    return alice
