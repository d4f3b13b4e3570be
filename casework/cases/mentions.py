"""@mentions in agents' notes and replies: the pure parse and the lookup of whom they name.

`@username` names an agent by login (case-insensitive); `@Name` also finds an agent by first name when
exactly one active agent has it. E-mail addresses (`ops@example.com`) are not mentions: the `@` must not
follow a word character."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q

MENTION = re.compile(r"(?<![\w.@])@([A-Za-z0-9_.+-]*[A-Za-z0-9_])")
MAX_MENTIONS = 20


def mentioned_handles(text: str) -> list[str]:
    """The distinct handles after `@` in `text`, in order of first appearance (case-folded)."""
    seen: dict[str, None] = {}
    for handle in MENTION.findall(text or ""):
        seen.setdefault(handle.casefold(), None)
    return list(seen)[:MAX_MENTIONS]


def resolve_mentions(handles: list[str], *, exclude_user_id: Any = None) -> list[Any]:
    """Active agents the handles name (one query), in the handles' order, the author left out."""
    if not handles:
        return []
    query = Q()
    for handle in handles:
        query |= Q(username__iexact=handle) | Q(first_name__iexact=handle)
    users = list(
        get_user_model()
        .objects.filter(query, is_active=True)
        .filter(Q(agent__isnull=False) | Q(is_staff=True))
        .order_by("id")
    )
    found: dict[int, Any] = {}
    for handle in handles:
        by_login = [u for u in users if u.username.casefold() == handle]
        by_name = [u for u in users if (u.first_name or "").casefold() == handle]
        match = by_login or (by_name if len(by_name) == 1 else [])
        for user in match:
            if user.pk != exclude_user_id:
                found.setdefault(user.pk, user)
    return list(found.values())
