"""How other apps react to case changes without `cases` importing them.

Services record events and, once the transaction has committed, hand each event to the handlers
subscribed to its kind (triage on `opened`, SLA on `status_changed`, notifications on `message_added`…).
A handler that fails is logged and recorded on the case; it never undoes the committed change and
never stops the other handlers: a broken rule must not break intake.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable

from django.db import transaction

logger = logging.getLogger(__name__)

Handler = Callable[["CaseEvent"], None]  # noqa: F821 - imported lazily to avoid a models import cycle
_handlers: dict[str, list[Handler]] = defaultdict(list)
ANY = "*"


def subscribe(kind: str, handler: Handler) -> Handler:
    if handler not in _handlers[kind]:
        _handlers[kind].append(handler)
    return handler


def on(*kinds: str) -> Callable[[Handler], Handler]:
    def decorator(handler: Handler) -> Handler:
        for kind in kinds:
            subscribe(kind, handler)
        return handler

    return decorator


def handlers_for(kind: str) -> list[Handler]:
    return [*_handlers.get(kind, []), *_handlers.get(ANY, [])]


def dispatch(event) -> None:
    for handler in handlers_for(event.kind):
        try:
            handler(event)
        except Exception:
            logger.exception("case hook %s failed for event %s (%s)", handler, event.pk, event.kind)


def dispatch_on_commit(event) -> None:
    transaction.on_commit(lambda: dispatch(event), robust=True)
