"""Case events that send mail. Handlers run after the case transaction committed (cases.hooks), and only
queue rows in the outbox; the worker sends them."""

from __future__ import annotations

from casework.cases.hooks import on
from casework.cases.models import MessageKind


@on("message_added")
def email_public_reply(event) -> None:
    # Internal notes, calls and customer mail are not sent; a public agent reply goes to the customer.
    if (event.new or {}).get("kind") != MessageKind.REPLY or event.message_id is None:
        return
    from .services import enqueue_reply_email

    enqueue_reply_email(message=event.message)
