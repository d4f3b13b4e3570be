"""Custom case fields: what a definition allows, as pure code (no database).

A `CustomFieldDefinition` row (admin: Cases › Custom fields) names a key of `Case.custom_fields`, its label,
its kind (text, number, yes/no, choice, date) and, for a choice, the allowed values. `clean_custom_fields`
turns submitted values into stored ones: defined keys are checked and coerced, an empty value removes
the key, keys nobody defined yet are kept as they are (older data, API clients that were first).
Routing reads `custom_fields["product"]` as a skill (routing/README.md); triage rules can test any key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KINDS = ("text", "number", "boolean", "choice", "date")
TEXT_MAX = 500
_TRUE = {"true", "1", "yes", "on", "y"}
_FALSE = {"false", "0", "no", "off", "n"}


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label: str
    kind: str = "text"
    choices: tuple[str, ...] = field(default_factory=tuple)


class InvalidValue(ValueError):
    pass


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def clean_value(spec: FieldSpec, value: Any) -> Any:
    """The stored form of one value for `spec`, or InvalidValue with a message a person can act on."""
    if spec.kind == "text":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidValue(f"{spec.label} must be text")
        text = " ".join(str(value).split())
        if len(text) > TEXT_MAX:
            raise InvalidValue(f"{spec.label} is at most {TEXT_MAX} characters")
        return text
    if spec.kind == "number":
        if isinstance(value, bool):
            raise InvalidValue(f"{spec.label} must be a number")
        try:
            number = float(str(value).strip().replace(",", "."))
        except ValueError as exc:
            raise InvalidValue(f"{spec.label} must be a number, not {value!r}") from exc
        if number != number or number in (float("inf"), float("-inf")):
            raise InvalidValue(f"{spec.label} must be a finite number")
        return int(number) if number.is_integer() else number
    if spec.kind == "boolean":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise InvalidValue(f"{spec.label} must be yes or no")
    if spec.kind == "choice":
        text = str(value).strip()
        for choice in spec.choices:
            if text.casefold() == choice.casefold():
                return choice
        raise InvalidValue(f"{spec.label} must be one of {', '.join(spec.choices)}")
    if spec.kind == "date":
        if isinstance(value, dt.date):
            return value.isoformat()[:10]
        try:
            return dt.date.fromisoformat(str(value).strip()).isoformat()
        except ValueError as exc:
            raise InvalidValue(f"{spec.label} must be a date (YYYY-MM-DD)") from exc
    raise InvalidValue(f"{spec.label} has an unknown kind {spec.kind!r}")


def clean_custom_fields(values: Mapping[str, Any], specs: Mapping[str, FieldSpec]) -> tuple[dict, dict]:
    """(cleaned, errors by key). Empty values of defined fields are dropped; undefined keys kept."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, value in values.items():
        spec = specs.get(key)
        if spec is None:
            cleaned[key] = value
            continue
        if _empty(value):
            continue
        try:
            cleaned[key] = clean_value(spec, value)
        except InvalidValue as exc:
            errors[key] = str(exc)
    return cleaned, errors


def display(spec: FieldSpec | None, value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if _empty(value):
        return "—"
    return str(value)
