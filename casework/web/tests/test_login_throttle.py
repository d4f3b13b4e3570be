"""Sign-in throttling (issue 17's probe: 30 wrong passwords in a row were neither throttled nor locked)."""

from __future__ import annotations

import pytest

from casework.testing.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _sign_in(client, password: str, ip: str = "192.0.2.10"):
    return client.post("/login/", {"username": "alice", "password": password}, REMOTE_ADDR=ip)


def test_wrong_passwords_lock_the_account_for_that_address(client, alice, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for _ in range(4):
        assert _sign_in(client, "wrong").status_code == 200  # the form again, with its error
    locked = _sign_in(client, "wrong")
    assert locked.status_code == 429 and b"Too many sign-in attempts" in locked.content
    # Now even the right password is refused from there…
    assert _sign_in(client, PASSWORD).status_code == 429
    # …while the same account from another address still signs in (no lock-out of a victim by a stranger
    # elsewhere), and that success does not unlock the attacker's address.
    other = client.__class__()
    assert _sign_in(other, PASSWORD, ip="198.51.100.7").status_code == 302
    assert _sign_in(client.__class__(), PASSWORD).status_code == 429


def test_a_success_resets_the_count(client, alice, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        _sign_in(client, "wrong")
    assert _sign_in(client, PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        assert _sign_in(client, "wrong").status_code == 200
    assert _sign_in(client, PASSWORD).status_code == 302


def test_admin_sign_in_is_throttled_too(client, alice, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        client.post("/admin/login/", {"username": "alice", "password": "wrong"}, REMOTE_ADDR="192.0.2.9")
    response = client.post(
        "/admin/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="192.0.2.9"
    )
    assert response.status_code == 429
