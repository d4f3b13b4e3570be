"""THE door for writes to cases (split by concept into the modules of this package).

Every change to a case — from the agent UI, the API, email intake, commands, tasks or rules — goes through
one of these keyword-only functions. Each one runs inside a unit of work (`unit_of_work.py`): it locks
the case row once per write, validates before writing anything, changes the case in memory and records the
CaseEvent(s) that explain the change. Before the transaction commits, the reaction pipeline
(`cases/pipeline.py`) decides what the events imply (triage, routing, SLA clocks, outgoing mail) and the
unit of work writes it all. Nothing else assigns `Case.status` or creates events; nothing is left for
after the commit.
"""

from ._core import Actor, resolve_category
from .activity import (
    SystemEvent,
    case_add_attachment,
    case_add_task,
    case_log_call,
    case_record_system_event,
    case_record_system_events,
    task_complete,
)
from .bulk import BulkResult, cases_bulk_merge, cases_bulk_update
from .email import message_move, message_record_email, message_split_to_new_case
from .lifecycle import (
    CustomerMessage,
    NewAttachment,
    Opening,
    case_add_customer_messages,
    case_add_message,
    case_open,
    case_open_for_contact,
    case_open_many,
    case_open_with_message,
    case_reopen,
    case_transition,
)
from .ownership import (
    case_assign,
    case_escalate,
    case_merge,
    case_set_category,
    case_set_priority,
    case_set_sentiment,
    case_set_tags,
    case_set_team,
    case_update,
    priority_is_higher,
)

__all__ = [
    "Actor",
    "BulkResult",
    "CustomerMessage",
    "NewAttachment",
    "Opening",
    "SystemEvent",
    "case_add_attachment",
    "case_add_customer_messages",
    "case_add_message",
    "case_add_task",
    "case_assign",
    "case_escalate",
    "case_log_call",
    "case_merge",
    "case_open",
    "case_open_for_contact",
    "case_open_many",
    "case_open_with_message",
    "case_record_system_event",
    "case_record_system_events",
    "case_reopen",
    "case_set_category",
    "case_set_priority",
    "case_set_sentiment",
    "case_set_tags",
    "case_set_team",
    "case_transition",
    "case_update",
    "cases_bulk_merge",
    "cases_bulk_update",
    "message_move",
    "message_record_email",
    "message_split_to_new_case",
    "priority_is_higher",
    "resolve_category",
    "task_complete",
]
