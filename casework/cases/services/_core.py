"""Shared plumbing of the case services: who acts, locking, validation and event recording."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.utils.text import get_valid_filename, slugify

from casework.core import clock, uploads
from casework.core.errors import ValidationFailed
from casework.people.models import Customer

from ..models import (
    Attachment,
    Case,
    CaseEvent,
    Category,
    EventKind,
    Message,
    Tag,
)
from ..selectors import categories_by_slug
from .unit_of_work import active

# --------------------------------------------------------------------------------------------------
# shared plumbing
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user, or an automated source named by `label` ("rule:Outage", "email", "api")."""

    user: Any = None
    label: str = ""

    @classmethod
    def of(cls, actor: Any) -> Actor:
        if isinstance(actor, Actor):
            return actor
        if actor is None:
            return cls(label="system")
        if isinstance(actor, str):
            return cls(label=actor)
        return cls(user=actor)

    @property
    def display(self) -> str:
        if self.user is not None:
            return self.user.get_full_name() or self.user.username
        return self.label or "system"


def _limits() -> dict[str, int]:
    return settings.CASEWORK


def _lock(case: Case) -> Case:
    """The write's current, locked instance of the case (one query the first time in a write)."""
    return active().lock(case)


def _set(case: Case, **values: Any) -> None:
    """Change case fields in memory; the unit of work writes them once, at the end of the write."""
    active().set(case, **values)


def _sync(stale: Case, fresh: Case) -> None:
    """Give the caller's instance the current values, now and again once reactions have run."""
    active().sync(stale, fresh)


def _event(
    case: Case,
    kind: str,
    actor: Actor,
    *,
    old: Any = None,
    new: Any = None,
    reason: str = "",
    data: dict | None = None,
    message: Message | None = None,
    at: datetime | None = None,
) -> CaseEvent:
    """An unsaved event; `_record` saves one, `_record_all` saves many in one statement."""
    return CaseEvent(
        case=case,
        kind=kind,
        actor=actor.user,
        actor_label="" if actor.user is not None else actor.label,
        old=old,
        new=new,
        reason=(reason or "").replace("\x00", ""),
        data=data or {},
        message=message,
        created_at=at or clock.now(),
    )


def _record(case: Case, kind: str, actor: Actor, **fields: Any) -> CaseEvent:
    """Append an event to the write; the reaction pipeline reads it and the flush saves it."""
    return active().record(_event(case, kind, actor, **fields))


def _record_all(events: list[CaseEvent]) -> list[CaseEvent]:
    """Append events built by `_event`, in order (saved with one INSERT at the flush)."""
    return active().record_all(events)


def _attachment(
    case: Case,
    message: Message | None,
    filename: str,
    content: bytes,
    content_type: str,
    inline: bool,
    actor: Actor,
    at: datetime | None = None,
) -> tuple[Attachment, CaseEvent]:
    """An attachment row (unsaved, its file already written) and the event that records it."""
    limit = _limits()["MAX_ATTACHMENT_BYTES"]
    if len(content) > limit:
        raise ValidationFailed(
            f"Attachment {filename!r} is larger than {limit} bytes",
            code="too_large",
            details={"field": "attachment", "limit": limit},
        )
    safe_name = get_valid_filename(filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1])[:200] or "attachment"
    # The stored type is what the content is, not what the sender said (casework/core/uploads.py).
    inspection = uploads.inspect(safe_name, content, content_type)
    if inspection.refused:
        raise ValidationFailed(
            inspection.refused, code="attachment_type_blocked", details={"field": "attachment"}
        )
    content_type = inspection.content_type
    at = at or clock.now()
    attachment = Attachment(
        case=case,
        message=message,
        filename=safe_name,
        content_type=content_type[:200],
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        inline=inline,
        uploaded_by=actor.user,
        created_at=at,
    )
    # The file is written before the row; if the transaction then fails, an orphan file is harmless and
    # the retention job removes it, whereas a row pointing at no file would be a broken case.
    attachment.file.save(safe_name, ContentFile(content), save=False)
    event = _event(
        case,
        EventKind.ATTACHMENT_ADDED,
        actor,
        new={"filename": safe_name, "size": len(content), "content_type": content_type},
        message=message,
        at=at,
    )
    return attachment, event


def _attachment_event(attachment: Attachment, event: CaseEvent) -> CaseEvent:
    """The event names the saved attachment's id (known only after its row is written)."""
    event.new = {"attachment": attachment.pk, **event.new}
    return event


def _customer_actor(customer: Customer) -> Actor:
    return Actor(label=f"{customer.display_name} (customer)")


def _check_text(value: str, *, field: str, required: bool = True, max_chars: int | None = None) -> str:
    value = value if isinstance(value, str) else ""
    # PostgreSQL text cannot hold NUL; it never carries meaning in a support message.
    value = value.replace("\x00", "")
    if required and not value.strip():
        raise ValidationFailed(f"{field} must not be empty", code="required", details={"field": field})
    limit = max_chars or _limits()["MAX_MESSAGE_BYTES"]
    if len(value.encode("utf-8", "surrogatepass")) > limit and max_chars is None:
        raise ValidationFailed(
            f"{field} is larger than {limit} bytes",
            code="too_large",
            details={"field": field, "limit": limit},
        )
    if max_chars is not None and len(value) > max_chars:
        raise ValidationFailed(
            f"{field} is longer than {max_chars} characters",
            code="too_large",
            details={"field": field, "limit": max_chars},
        )
    return value


@functools.cache
def _allowed(choices: type) -> frozenset[str]:
    # Django's `Choices.values` builds a new list on every access; doors check choices on every call.
    return frozenset(choices.values)


def _check_custom_fields(value: Any) -> dict:
    """Custom field values checked against their definitions (cached configuration);
    a wrong value refuses the write, naming each field."""
    from ..custom_fields import clean_custom_fields
    from ..selectors import custom_field_definitions

    if not isinstance(value, dict):
        raise ValidationFailed("custom_fields must be an object", code="invalid_custom_fields")
    if not value:
        return {}
    specs = {d.key: d.spec() for d in custom_field_definitions() if d.key in value}
    cleaned, errors = clean_custom_fields(value, specs)
    if errors:
        raise ValidationFailed(
            "; ".join(errors.values()), code="invalid_custom_fields", details={"fields": errors}
        )
    return cleaned


def _check_choice(value: str, choices: type, *, field: str) -> str:
    if value not in _allowed(choices):
        raise ValidationFailed(
            f"Unknown {field} '{value}'",
            code=f"invalid_{field}",
            details={"field": field, "allowed": list(choices.values)},
        )
    return value


def resolve_category(category: Category | str | None) -> Category | None:
    if category is None or category == "":
        return None
    if isinstance(category, Category):
        return category
    categories = categories_by_slug()
    slug, name = slugify(str(category)), str(category).casefold()
    found = next((c for c in categories if c.slug == slug), None) or next(
        (c for c in categories if c.name.casefold() == name), None
    )
    if found is None:
        allowed = [c.slug for c in categories if c.active]
        raise ValidationFailed(
            f"Unknown category '{category}'",
            code="invalid_category",
            details={"field": "category", "allowed": allowed},
        )
    return found


def _reference(number: int) -> str:
    return f"{_limits()['REFERENCE_PREFIX']}-{number:06d}"


def _tags(names: Iterable[str]) -> list[Tag]:
    tags = []
    for raw in names:
        if isinstance(raw, Tag):
            tags.append(raw)
            continue
        name = slugify(str(raw), allow_unicode=True)[:50]
        if not name:
            raise ValidationFailed(f"'{raw}' is not a usable tag", code="invalid_tag")
        tags.append(Tag.objects.get_or_create(name=name)[0])
    return tags
