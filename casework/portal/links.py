"""Links into the customer portal that sign the customer in.

How a link in a notification signs a customer in
------------------------------------------------
`case_url(case)` returns ``{BASE_URL}/portal/go/<token>/``. The token is a Django signed value
(`django.core.signing`, HMAC keyed by ``SECRET_KEY`` with the salt ``casework.portal.link``, timestamped)
carrying ``{"c": customer id, "k": case id or None, "n": random nonce}``. Nothing is stored when a link is
minted, so building one inside a write's transaction (an acknowledgement or status mail rendered into the
outbox) costs no query.

Following the link (`casework.portal.views.follow`):

* valid signature, not older than ``CASEWORK_PORTAL_LINK_MAX_AGE_DAYS`` (case links in notifications) or
  ``CASEWORK_PORTAL_MAGIC_LINK_MINUTES`` (links asked for on the sign-in page, kind ``magic``), nonce never
  seen → the nonce is recorded (`portal.UsedLink`, unique, so a link is **single use** even under a race), the
  customer is signed into a portal session (``request.session["portal_customer_id"]``, session key rotated)
  and the browser is redirected to the case page (or the case list for a plain magic link).
  The token never stays in the address bar, so it cannot leak through history or a Referer header.
* the link was already used, but the browser already has a live portal session for the **same** customer →
  the page just opens (clicking the same mail twice is normal).
* used (without such a session), expired or forged → a clear "this link cannot be used" page (HTTP 410 for
  used/expired, 400 for forged) offering a fresh link. For a used or expired link whose signature is genuine
  the page has a one-click button that mails a fresh magic link to the address on file (rate limited); a
  forged token only offers the sign-in form.

A link only ever signs in the customer it was minted for; what they may see is decided per request
by `casework.portal.access` (own cases, plus the organisation's cases for admin contacts), so a link to
a case the customer may no longer see shows a 404 after sign-in like any other URL.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "casework.portal.link"

CASE = "case"  # links in notifications: open one case, long lifetime
MAGIC = "magic"  # links asked for on the sign-in page: short lifetime


VALID = "valid"
EXPIRED = "expired"
FORGED = "forged"


@dataclass(frozen=True)
class LinkClaim:
    """What a token says, once its signature is checked. `state` is VALID, EXPIRED or FORGED; for a
    forged token every other field is empty."""

    state: str
    customer_id: int | None = None
    case_id: int | None = None
    kind: str = ""
    nonce: str = ""


def max_age(kind: str) -> timedelta:
    if kind == MAGIC:
        return timedelta(minutes=settings.CASEWORK["PORTAL_MAGIC_LINK_MINUTES"])
    return timedelta(days=settings.CASEWORK["PORTAL_LINK_MAX_AGE_DAYS"])


def read_token(token: str) -> LinkClaim:
    """Check a token's signature and age (pure: no database)."""
    try:
        payload = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return LinkClaim(FORGED)
    try:
        customer_id, case_id, kind, nonce = (
            int(payload["c"]),
            payload["k"],
            str(payload["t"]),
            str(payload["n"]),
        )
        case_id = int(case_id) if case_id is not None else None
    except (KeyError, TypeError, ValueError):
        return LinkClaim(FORGED)
    if kind not in (CASE, MAGIC):
        return LinkClaim(FORGED)
    try:
        signing.loads(token, salt=SALT, max_age=max_age(kind))
    except signing.SignatureExpired:
        return LinkClaim(EXPIRED, customer_id, case_id, kind, nonce)
    return LinkClaim(VALID, customer_id, case_id, kind, nonce)


def make_token(*, customer_id: int, case_id: int | None = None, kind: str = CASE) -> str:
    payload = {"c": customer_id, "k": case_id, "t": kind, "n": secrets.token_urlsafe(12)}
    return signing.dumps(payload, salt=SALT, compress=False)


def absolute(path: str) -> str:
    return f"{settings.BASE_URL}{path}"


def case_url(case) -> str:
    """Absolute URL that signs the case's customer in and opens the case in the portal."""
    token = make_token(customer_id=case.customer_id, case_id=case.pk, kind=CASE)
    return absolute(reverse("portal:follow", args=[token]))


def magic_url(customer, *, case_id: int | None = None) -> str:
    """Absolute, short-lived sign-in link (sent by the sign-in page)."""
    token = make_token(customer_id=customer.pk, case_id=case_id, kind=MAGIC)
    return absolute(reverse("portal:follow", args=[token]))


def case_page_url(case) -> str:
    """Absolute URL of the case page without sign-in (for a customer who already has a session)."""
    return absolute(reverse("portal:case", args=[case.public_token]))
