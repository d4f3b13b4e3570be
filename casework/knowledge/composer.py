"""Reply composer pieces that need no database: placeholders in canned text.

Placeholders are `{name}`; unknown names and stray braces are left as typed, so a reply that talks about
`{json}` is never broken by the template.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDERS = {
    "customer_name": "The customer's name (or 'there')",
    "reference": "The case reference, e.g. CW-000123",
    "subject": "The case subject",
    "agent_name": "Your name",
    "sla_due": "When the next SLA target is due (or 'soon')",
}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def fill(text: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text)


def unknown_placeholders(text: str) -> list[str]:
    return sorted({m.group(1) for m in _PLACEHOLDER.finditer(text)} - set(PLACEHOLDERS))
