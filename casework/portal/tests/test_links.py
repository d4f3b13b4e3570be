"""Sign-in links: signed, expiring, single use; the rate limiter."""

from datetime import timedelta

import pytest
import time_machine
from django.core import signing

from casework.core import clock
from casework.portal import links, ratelimit, services


def _token(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


class FakeCase:
    pk = 7
    customer_id = 3


def test_case_url_is_absolute_and_carries_customer_and_case(settings):
    settings.BASE_URL = "https://help.example.test"
    url = links.case_url(FakeCase())
    assert url.startswith("https://help.example.test/portal/go/")
    claim = links.read_token(_token(url))
    assert (claim.state, claim.customer_id, claim.case_id, claim.kind) == (links.VALID, 3, 7, links.CASE)
    assert _token(links.case_url(FakeCase())) != _token(url)  # a fresh nonce every time


def test_forged_and_tampered_tokens_are_refused():
    token = links.make_token(customer_id=3, case_id=7)
    assert links.read_token(token[:-2] + ("AA" if not token.endswith("AA") else "BB")).state == links.FORGED
    assert links.read_token("nonsense").state == links.FORGED
    # Signed with another salt (e.g. a CSAT or web-form value): not a sign-in link.
    other = signing.dumps({"c": 3, "k": 7, "t": "case", "n": "x"}, salt="something.else")
    assert links.read_token(other).state == links.FORGED
    # Signed correctly but of an unknown kind.
    odd = signing.dumps({"c": 3, "k": None, "t": "admin", "n": "x"}, salt=links.SALT)
    assert links.read_token(odd).state == links.FORGED


def test_links_expire_by_kind(settings):
    settings.CASEWORK = {**settings.CASEWORK, "PORTAL_MAGIC_LINK_MINUTES": 30, "PORTAL_LINK_MAX_AGE_DAYS": 14}
    with time_machine.travel("2026-03-02 09:00Z", tick=False):
        magic = links.make_token(customer_id=1, kind=links.MAGIC)
        case = links.make_token(customer_id=1, case_id=2, kind=links.CASE)
    with time_machine.travel("2026-03-02 09:29Z", tick=False):
        assert links.read_token(magic).state == links.VALID
    with time_machine.travel("2026-03-02 09:31Z", tick=False):
        assert links.read_token(magic).state == links.EXPIRED
        assert links.read_token(case).state == links.VALID
    with time_machine.travel("2026-03-16 09:01Z", tick=False):
        expired = links.read_token(case)
        assert expired.state == links.EXPIRED and expired.customer_id == 1 and expired.case_id == 2


@pytest.mark.django_db
def test_a_link_is_used_once(customer):
    claim = links.read_token(_token(links.magic_url(customer)))
    assert services.use_link(claim) is True
    assert services.use_link(claim) is False


@pytest.mark.django_db
def test_rate_limit_counts_a_sliding_window():
    hour = timedelta(hours=1)
    with time_machine.travel("2026-03-02 09:00Z", tick=False):
        assert [ratelimit.allow("t", "k", limit=2, window=hour) for _ in range(3)] == [True, True, False]
        assert ratelimit.allow("t", "other", limit=2, window=hour) is True
        assert ratelimit.allow("u", "k", limit=2, window=hour) is True
    with time_machine.travel("2026-03-02 10:00:01Z", tick=False):
        assert clock.now().hour == 10
        assert ratelimit.allow("t", "k", limit=2, window=hour) is True
