"""Signed Message-IDs and body tokens, so replies find their case and forged ids do not.

The signature is HMAC-SHA256 over the case id (and the nonce, for Message-IDs) keyed with a server secret,
truncated to 80 bits and base32-encoded: short enough for a subject-safe token, far beyond guessing range.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

SIGNATURE_CHARS = 16  # 16 base32 characters = 80 bits
_MSGID = re.compile(r"^<?cw\.(\d{1,18})\.([A-Za-z0-9_-]{1,64})\.([a-z2-7]{16})@[^<>@\s]+>?$")
_TOKEN = re.compile(r"\[cw-ref:(\d{1,18})-([a-z2-7]{16})\]", re.IGNORECASE)


def _sign(message: str, key: bytes) -> str:
    if not key:
        raise ValueError("an empty signing key would make every signature forgeable")
    digest = hmac.new(key, message.encode("ascii"), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:SIGNATURE_CHARS]


def make_message_id(*, case_id: int, nonce: str, key: bytes, domain: str) -> str:
    """``cw.<case_id>.<nonce>.<sig>@<domain>`` (without angle brackets)."""
    if case_id < 0:
        raise ValueError("case_id must be non-negative")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", nonce):
        raise ValueError("nonce must be 1-64 characters of [A-Za-z0-9_-]")
    return f"cw.{case_id}.{nonce}.{_sign(f'msgid:{case_id}:{nonce}', key)}@{domain}"


def verify_message_id(msgid: str, key: bytes) -> int | None:
    """The case id a Message-ID we generated points to, or None when it is not ours or was tampered with."""
    match = _MSGID.match(msgid.strip())
    if not match:
        return None
    case_text, nonce, signature = match.groups()
    if case_text != str(int(case_text)):  # leading zeros would give one signature two spellings
        return None
    expected = _sign(f"msgid:{case_text}:{nonce}", key)
    return int(case_text) if hmac.compare_digest(expected, signature) else None


def make_reply_token(case_id: int, key: bytes) -> str:
    """``[cw-ref:<case_id>-<sig>]``: put in outgoing bodies; survives clients that drop References."""
    if case_id < 0:
        raise ValueError("case_id must be non-negative")
    return f"[cw-ref:{case_id}-{_sign(f'token:{case_id}', key)}]"


def find_reply_token(text: str, key: bytes) -> int | None:
    """Case id of the first correctly signed token in ``text`` (forged tokens are skipped)."""
    for match in _TOKEN.finditer(text):
        case_text, signature = match.groups()
        if case_text != str(int(case_text)):
            continue
        if hmac.compare_digest(_sign(f"token:{case_text}", key), signature.lower()):
            return int(case_text)
    return None
