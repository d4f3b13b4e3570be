"""Who "we" are in mail: the signing key for Message-IDs and reply tokens, their domain, our own addresses."""

from __future__ import annotations

import hashlib
from email.utils import parseaddr

from django.conf import settings


def signing_key() -> bytes:
    # Derived, not the raw SECRET_KEY, so a leaked mail signature says nothing about session signing.
    return hashlib.sha256(b"casework-email-signing:" + settings.SECRET_KEY.encode("utf-8")).digest()


def support_address() -> str:
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1].lower() or "support@casework.localhost"


def message_id_domain() -> str:
    return support_address().rpartition("@")[2] or "casework.localhost"


def own_addresses() -> set[str]:
    """Addresses whose mail must never become a case: mail from them is our own, looping back."""
    from casework.intake.models import Mailbox

    addresses = {support_address(), *settings.CASEWORK["INTAKE_OWN_ADDRESSES"]}
    addresses.update(u.lower() for u in Mailbox.objects.values_list("username", flat=True) if "@" in u)
    return addresses
