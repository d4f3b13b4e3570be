"""The `notify` stage of the reaction pipeline (`cases/pipeline.py`): every effect that leaves the
database becomes an outbox row in the write that caused it, and the worker delivers it.

    message_added (public reply)   the reply email to the customer, with a signed Message-ID, threading
                                   headers and the reply token; the message records "queued"

Internal notes, calls and customer mail are not sent. Acknowledgements, status notifications, agent
alerts and CSAT surveys join here as further rows (issue 13), never as callbacks after the commit.
"""

from __future__ import annotations

from casework.cases.models import CaseEvent, EventKind, MessageKind
from casework.cases.services.unit_of_work import Work

from .services import enqueue_reply_email


def react(work: Work, events: list[CaseEvent]) -> None:
    for event in events:
        if event.kind != EventKind.MESSAGE_ADDED or event.message is None:
            continue
        if (event.new or {}).get("kind") == MessageKind.REPLY:
            # The message was added by this very write, so no mail can be queued for it yet.
            enqueue_reply_email(message=event.message, check_existing=False)
