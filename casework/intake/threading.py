"""Pure threading decision: which case does an inbound mail belong to, and why.

The caller supplies a ``ThreadLookup`` (database-backed in the app, a dict in tests); this module only
decides. Signals are tried in the order written in DESIGN.md §4, first match wins, and the decision carries
the evidence so it can be stored on the message and shown to agents.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from casework.intake.parsing import ParsedMessage
from casework.intake.signing import find_reply_token, verify_message_id


@dataclass(frozen=True)
class CaseRef:
    id: int
    reference: str


class ThreadLookup(Protocol):
    def case_for_message_ids(self, ids: Sequence[str]) -> CaseRef | None: ...

    def case_for_reference(self, ref: str) -> CaseRef | None: ...

    def sender_belongs(self, case: CaseRef, address: str) -> bool: ...

    def case_exists(self, case_id: int) -> CaseRef | None: ...


@dataclass(frozen=True)
class ThreadDecision:
    case: CaseRef | None
    matched_by: str  # signed_message_id | references | body_token | subject_reference | new_case
    evidence: str
    rejected: list[str] = field(default_factory=list)


def _candidate_ids(parsed: ParsedMessage) -> list[tuple[str, str]]:
    """(header, id) pairs: In-Reply-To first, then References newest (last) first, without repeats."""
    seen: set[str] = set()
    result = []
    for header, ids in (
        ("In-Reply-To", parsed.in_reply_to),
        ("References", list(reversed(parsed.references))),
    ):
        for msgid in ids:
            if msgid not in seen:
                seen.add(msgid)
                result.append((header, msgid))
    return result


def decide_thread(
    parsed: ParsedMessage, *, key: bytes, lookup: ThreadLookup, reference_pattern: str = r"CW-\d{6,}"
) -> ThreadDecision:
    rejected: list[str] = []
    candidates = _candidate_ids(parsed)

    for header, msgid in candidates:
        case_id = verify_message_id(msgid, key)
        if case_id is None:
            if msgid.startswith("cw."):
                rejected.append(f"{header} <{msgid}> looks like ours but its signature does not verify")
            continue
        case = lookup.case_exists(case_id)
        if case is None:
            rejected.append(f"{header} <{msgid}> is signed for case id {case_id}, which no longer exists")
            continue
        return ThreadDecision(
            case, "signed_message_id", f"{header} <{msgid}> is our reply on {case.reference}", rejected
        )

    for header, msgid in candidates:
        case = lookup.case_for_message_ids([msgid])
        if case is not None:
            return ThreadDecision(
                case, "references", f"{header} <{msgid}> is a known message on {case.reference}", rejected
            )

    # The token may sit in the quoted part, which reply_text has dropped, so search the full bodies.
    for text in (parsed.text_body, parsed.html_body, parsed.subject):
        case_id = find_reply_token(text, key) if text else None
        if case_id is None:
            continue
        case = lookup.case_exists(case_id)
        if case is not None:
            return ThreadDecision(
                case, "body_token", f"signed token for {case.reference} found in the body", rejected
            )
        rejected.append(f"signed token for case id {case_id} found, but that case no longer exists")

    for match in re.finditer(reference_pattern, parsed.subject, re.IGNORECASE):
        reference = match.group(0).upper()
        case = lookup.case_for_reference(reference)
        if case is None:
            rejected.append(f"subject reference {reference} matches no case")
            continue
        if not parsed.from_address or not lookup.sender_belongs(case, parsed.from_address):
            sender = parsed.from_address or "no sender"
            rejected.append(f"subject reference {reference} from a sender outside the customer ({sender})")
            continue
        return ThreadDecision(
            case,
            "subject_reference",
            f"subject names {reference} and {parsed.from_address} belongs to it",
            rejected,
        )

    return ThreadDecision(None, "new_case", "no threading signal matched", rejected)


def classify(parsed: ParsedMessage) -> Literal["normal", "auto_reply", "bounce"]:
    # Bounces win over auto-replies: a DSN often carries Auto-Submitted too, and must attach as a failure.
    if parsed.is_bounce:
        return "bounce"
    if parsed.is_auto_reply:
        return "auto_reply"
    return "normal"
