"""Keyset paging for case lists: a page starts *after* the previous page's last sort key.

`OFFSET n` reads and throws away n rows, so page 10,000 of a million cases walks 250,000 index
entries before it returns 25 (an API client syncing every case pays that on every page). A cursor
carries the last row's sort key instead, and the next page is one range of the order's index:
`(created_at, id) < (?, ?)` — a row-value comparison, which SQLite (3.15+) and PostgreSQL both turn into
an index range when the columns are the index's, in its order (docs/scaling.md, "Deep pages").

Only the orders whose keys are stored columns in one direction page by cursor; "due" (a computed next
SLA due time) and a relevance-ranked search keep offsets.

The cursor is opaque to clients (URL-safe base64 of a small JSON object) and checked on the way in: an
unreadable one, or one made for another order, is a `ValidationFailed` with the code `invalid_cursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from django.db.models import DateTimeField, F, Field, Func, QuerySet, Value
from django.db.models.lookups import GreaterThan, LessThan

from casework.core.errors import ValidationFailed

from .models import Case
from .selectors import ORDERINGS

# The orders a cursor can continue: every key a stored column, every key in the same direction.
KEYSET_ORDERINGS = ("newest", "oldest", "updated", "priority", "reference")


class _Row(Func):
    """`(a, b, c)`: a row value, compared as a whole by the database."""

    template = "(%(expressions)s)"
    output_field = Field()


def _keys(ordering: str) -> tuple[list[str], bool]:
    """The order's column names and whether it is descending."""
    fields = ORDERINGS[ordering]
    descending = fields[0].startswith("-")
    names = [f.lstrip("-") for f in fields]
    assert all(f.startswith("-") == descending for f in fields), ordering  # one direction only
    return names, descending


def pages_by_cursor(ordering: str) -> bool:
    """Can a list in this order continue by cursor? (Not by due time, nor ranked by relevance.)"""
    return ordering in KEYSET_ORDERINGS


def cursor_after(case: Case, ordering: str) -> str:
    """The cursor of the page that follows `case` (the last row of a page) in `ordering`."""
    names, _ = _keys(ordering)
    values = [getattr(case, name) for name in names]
    key = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    raw = json.dumps({"o": ordering, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(message, code="invalid_cursor")


def decode(cursor: str, ordering: str) -> list[Any]:
    """The sort key a cursor carries, typed as the columns are; `invalid_cursor` when it cannot be one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        raise _invalid("The cursor is not one this API gave out") from None
    if not isinstance(data, dict) or not isinstance(data.get("k"), list):
        raise _invalid("The cursor is not one this API gave out")
    if data.get("o") != ordering:
        raise _invalid(
            f"The cursor continues the {data.get('o')!r} order, not {ordering!r}: "
            "ask for the same ordering as the page it came from"
        )
    names, _ = _keys(ordering)
    if len(data["k"]) != len(names):
        raise _invalid("The cursor is not one this API gave out")
    values = []
    for name, value in zip(names, data["k"], strict=True):
        field = Case._meta.get_field(name)
        if isinstance(field, DateTimeField):
            try:
                parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
                # In UTC, as stored; an offset that pushes year 1 or 9999 out of range is no cursor.
                parsed = parsed.astimezone(UTC) if parsed and parsed.tzinfo else None
            except (ValueError, OverflowError):
                parsed = None
            if parsed is None:
                raise _invalid("The cursor is not one this API gave out")
            values.append(parsed)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63:
            values.append(value)
        else:
            raise _invalid("The cursor is not one this API gave out")
    return values


def after(qs: QuerySet[Case], ordering: str, values: list[Any]) -> QuerySet[Case]:
    """`qs` (already in `ordering`) from the row after the key `values` on."""
    names, descending = _keys(ordering)
    lhs = _Row(*(F(name) for name in names))
    rhs = _Row(*(Value(v, DateTimeField()) if isinstance(v, datetime) else Value(v) for v in values))
    return qs.filter((LessThan if descending else GreaterThan)(lhs, rhs))
