"""Small text helpers shared by intake, triage and the UI."""

from __future__ import annotations

import re

_WS = re.compile(r"\s+")


def normalise_whitespace(value: str) -> str:
    return _WS.sub(" ", (value or "").replace("\x00", "")).strip()


def truncate(value: str, length: int, ellipsis: str = "…") -> str:
    value = value or ""
    return value if len(value) <= length else value[: max(0, length - len(ellipsis))].rstrip() + ellipsis


def email_domain(address: str) -> str:
    address = (address or "").strip().lower()
    return address.rsplit("@", 1)[1] if "@" in address else ""
