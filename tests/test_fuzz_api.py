"""Schemathesis against /api/v1/openapi.json, in process (WSGI): every operation with generated inputs,
checked for server errors and for answers the schema does not describe (status codes, bodies, headers).

CI runs CASEWORK_FUZZ_EXAMPLES (default 40) examples per operation (28 operations → over 1,000 in all);
`make fuzz` runs 500 each. The token is an admin's with every scope, so authorisation passes and the
handlers see the inputs; the access matrix (test_access_matrix.py) covers who may do what."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from casework.wsgi import application

# 0 server errors and 0 answers the document does not describe. Left out: schemathesis's data-acceptance
# checks, which expect every schema-valid input to succeed (a well-formed reference of a case that does not
# exist is a 404 here, as it should be).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

EXAMPLES = int(os.environ.get("CASEWORK_FUZZ_EXAMPLES", "40"))


@schemathesis.serializer("message/rfc822")
def _raw_mail(ctx, value):
    # The inbound endpoint's body is a raw mail: whatever string was generated, sent as bytes.
    return {"data": value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")}


schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


@pytest.fixture
def _keep_connection():
    """Django closes the database connection at the end of each request; the test's transaction lives on
    that connection (PostgreSQL), so do what Django's own test client does and keep it open."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_token(db, settings, _keep_connection):
    from casework.api.models import ApiToken
    from casework.testing.factories import CustomerFactory, make_agent, open_case

    settings.RATELIMIT_ENABLE = False
    settings.CASEWORK = {**settings.CASEWORK, "INBOUND_SECRETS": ["fuzz-secret"]}
    admin = make_agent("fuzzadmin", role="admin", staff=True)
    open_case(subject="Fuzz target", customer=CustomerFactory(email="fuzz@example.test"))
    return ApiToken.issue(admin, name="fuzz", scopes=["read", "write", "admin"])[1]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
    derandomize=True,
)
def test_api_fuzz(case, fuzz_token):
    secret = "fuzz-secret" if case.path == "/api/v1/inbound/email" else fuzz_token
    case.call_and_validate(headers={"Authorization": f"Bearer {secret}"}, checks=CHECKS)
