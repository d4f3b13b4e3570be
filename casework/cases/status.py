"""The case lifecycle: statuses, priorities, channels and the enforced transition table.

New → Triaged → In Progress → Awaiting Client → Resolved → Closed, plus the shortcuts a real support team
takes (an agent picking up a new case directly, closing spam or a duplicate before work starts). Reopening
is Resolved → In Progress; a Closed case is final for agents. A customer's message reopens a resolved or
closed case within the reopen window (`CUSTOMER_REOPEN`) and opens a new case linked to it after that.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models


class Status(models.TextChoices):
    NEW = "new", "New"
    TRIAGED = "triaged", "Triaged"
    IN_PROGRESS = "in_progress", "In progress"
    AWAITING_CLIENT = "awaiting_client", "Awaiting client"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


OPEN_STATUSES = frozenset({Status.NEW, Status.TRIAGED, Status.IN_PROGRESS, Status.AWAITING_CLIENT})
DONE_STATUSES = frozenset({Status.RESOLVED, Status.CLOSED})


@dataclass(frozen=True)
class Transition:
    source: str
    target: str
    label: str
    # Closing a case nobody resolved (spam, duplicate, withdrawn) must say why.
    reason_required: bool = False
    is_reopen: bool = False


_TABLE: tuple[Transition, ...] = (
    Transition(Status.NEW, Status.TRIAGED, "Mark triaged"),
    Transition(Status.NEW, Status.IN_PROGRESS, "Start work"),
    Transition(Status.NEW, Status.CLOSED, "Close without action", reason_required=True),
    Transition(Status.TRIAGED, Status.IN_PROGRESS, "Start work"),
    Transition(Status.TRIAGED, Status.CLOSED, "Close without action", reason_required=True),
    Transition(Status.IN_PROGRESS, Status.AWAITING_CLIENT, "Wait for client"),
    Transition(Status.IN_PROGRESS, Status.RESOLVED, "Resolve"),
    Transition(Status.AWAITING_CLIENT, Status.IN_PROGRESS, "Resume work"),
    Transition(Status.AWAITING_CLIENT, Status.RESOLVED, "Resolve"),
    Transition(Status.RESOLVED, Status.CLOSED, "Close"),
    Transition(Status.RESOLVED, Status.IN_PROGRESS, "Reopen", is_reopen=True),
)

TRANSITIONS: dict[tuple[str, str], Transition] = {(t.source, t.target): t for t in _TABLE}

# Not in the table agents choose from (a Closed case is final for them): a customer who writes within
# CASEWORK_REOPEN_WINDOW_DAYS of a resolved case being closed reopens it; later, a reply opens a linked
# follow-up case instead (cases.services.case_add_message, which records why on the timeline).
CUSTOMER_REOPEN = Transition(Status.CLOSED, Status.IN_PROGRESS, "Reopen (customer replied)", is_reopen=True)


def transition_for(source: str, target: str) -> Transition | None:
    return TRANSITIONS.get((str(source), str(target)))


def allowed_targets(source: str) -> list[Transition]:
    return [t for t in _TABLE if t.source == source]


def is_open(status: str) -> bool:
    return status in OPEN_STATUSES


class Priority(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


# Written criteria, shown beside the priority picker so every agent applies the same yardstick.
PRIORITY_CRITERIA: dict[str, str] = {
    Priority.CRITICAL: "System down, data loss or a security incident; many users blocked.",
    Priority.HIGH: "A major function is broken with no workaround, or a VIP customer is blocked.",
    Priority.MEDIUM: "A problem with a workaround.",
    Priority.LOW: "A question, how-to or cosmetic issue.",
}

PRIORITY_RANK: dict[str, int] = {Priority.CRITICAL: 0, Priority.HIGH: 1, Priority.MEDIUM: 2, Priority.LOW: 3}


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    WEB = "web", "Web form"
    CHAT = "chat", "Chat"
    PHONE = "phone", "Phone"
    API = "api", "API"
    WEBHOOK = "webhook", "Webhook"


class Tier(models.IntegerChoices):
    L1 = 1, "L1"
    L2 = 2, "L2"
    L3 = 3, "L3"
