"""Email intake: the one door from raw mail bytes to a case (IMAP poll, MTA pipe, mbox import, HTTP push).

`ingest_raw` parses outside the transaction (so a slow parse never holds SQLite's write lock), then in ONE
transaction decides and writes: the InboundMail row (the idempotency key), the customer, the case or
message (through cases.services), its attachments, or a Quarantine row. A crash leaves nothing behind and
the same mail delivered again is reported as a duplicate.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from casework.cases import services as case_services
from casework.cases.models import Case, EventKind, Message, MessageKind
from casework.cases.status import Channel
from casework.core import clock
from casework.core.errors import ApplicationError, Conflict
from casework.people.models import Customer, OrganisationDomain
from casework.people.services import customer_get_or_create

from .identity import own_addresses, signing_key
from .models import InboundMail, Outcome, Quarantine, QuarantineReason, QuarantineState
from .parsing import ParsedMessage, UnparseableMessage, check_acceptable, html_to_text, parse_message
from .signing import find_reply_token, verify_message_id
from .threading import CaseRef, classify, decide_thread

logger = logging.getLogger(__name__)

# Auto-reply reasons that mean "a list or bulk sender", not "a machine answering us": such mail may open a
# case (a customer writing through a Google Group), but is never acknowledged (that would mail the list).
_LIST_REASONS = ("mailing list", "Precedence: list")
TRUNCATION_NOTE = "\n\n[… truncated by casework; the full mail is kept with its intake record]"


@dataclass(frozen=True)
class IngestResult:
    case_reference: str | None
    created: bool
    matched_by: str
    quarantined: bool
    reason: str = ""
    duplicate: bool = False
    outcome: str = ""

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {"case": data.pop("case_reference"), **data}


def may_acknowledge(message: Message) -> bool:
    """For the notifications app: send an automatic acknowledgement for this inbound message?

    Opt-in: only mail that intake marked `acknowledge: True` (a person writing, not an auto-reply, list,
    bounce or our own address) qualifies. Bounces and unthreaded auto-replies never even open a case."""
    return message.kind == MessageKind.CUSTOMER and message.meta.get("acknowledge") is True


class DbThreadLookup:
    """`intake.threading.ThreadLookup` backed by the database (Message.message_id is unique and indexed).

    Given the parsed mail, every id in its In-Reply-To/References is looked up in one query up front, so a
    long References chain costs one round trip instead of one per id."""

    def __init__(self, parsed: ParsedMessage | None = None) -> None:
        self._known: dict[str, CaseRef] | None = None
        if parsed is not None:
            ids = list(dict.fromkeys([*parsed.in_reply_to, *parsed.references]))[:200]
            rows = Message.objects.filter(message_id__in=ids).values_list(
                "message_id", "case_id", "case__reference"
            )
            self._known = {mid: CaseRef(case_id, ref) for mid, case_id, ref in rows} if ids else {}
            self._asked = set(ids)

    def case_for_message_ids(self, ids) -> CaseRef | None:
        ids = list(ids)
        if self._known is not None and set(ids) <= self._asked:
            return next((self._known[i] for i in ids if i in self._known), None)
        row = (
            Message.objects.filter(message_id__in=list(ids))
            .order_by("id")
            .values("case_id", "case__reference")
            .first()
        )
        return CaseRef(row["case_id"], row["case__reference"]) if row else None

    def case_for_reference(self, ref: str) -> CaseRef | None:
        row = Case.objects.filter(reference=ref).values("id", "reference").first()
        return CaseRef(row["id"], row["reference"]) if row else None

    def case_exists(self, case_id: int) -> CaseRef | None:
        return self.case_for_id(case_id)

    def case_for_id(self, case_id: int) -> CaseRef | None:
        row = Case.objects.filter(pk=case_id).values("id", "reference").first()
        return CaseRef(row["id"], row["reference"]) if row else None

    def sender_belongs(self, case: CaseRef, address: str) -> bool:
        """The case's customer, or anyone of the same organisation (by customer record or email domain)."""
        row = Case.objects.filter(pk=case.id).values("customer__email", "organisation_id").first()
        if row is None:
            return False
        address = address.lower()
        if row["customer__email"].lower() == address:
            return True
        org = row["organisation_id"]
        if org is None:
            return False
        domain = address.rpartition("@")[2]
        return (
            OrganisationDomain.objects.filter(organisation_id=org, domain=domain).exists()
            or Customer.objects.filter(email__iexact=address, organisation_id=org).exists()
        )


def dedup_key(parsed: ParsedMessage | None, raw: bytes) -> str:
    if parsed is not None and parsed.message_id:
        return f"mid:{parsed.message_id[:500]}"
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


# --------------------------------------------------------------------------------------------------
# the door
# --------------------------------------------------------------------------------------------------


def ingest_raw(
    raw: bytes,
    *,
    source: str,
    mailbox=None,
    bypass_rate_limit: bool = False,
    replay_date: bool = False,
    _existing: InboundMail | None = None,
) -> IngestResult:
    """Turn one raw mail into a case, a message on a case, a recorded bounce/auto-reply, or quarantine.

    `replay_date` (mbox migration) stamps the case rows with the mail's own Date so an imported history
    reads as it happened. Unexpected errors propagate (so an MTA pipe defers and retries) with nothing
    written; content problems never raise, they quarantine."""
    raw = bytes(raw)
    parsed: ParsedMessage | None = None
    parse_error = ""
    languages = settings.CASEWORK["INTAKE_REPLY_LANGUAGES"]
    try:
        parsed = parse_message(raw, reply_languages=languages)
    except UnparseableMessage as exc:
        parse_error = exc.reason
    except Exception as exc:  # the parser promises not to raise; if it does, keep the mail anyway
        logger.exception("parser raised on a %s-byte mail from %s", len(raw), source)
        parse_error = f"parser error: {type(exc).__name__}: {exc}"[:500]
    key = dedup_key(parsed, raw)
    when = _replay_time(parsed) if replay_date else None
    try:
        with transaction.atomic():
            if when is not None:
                with clock.frozen(when):
                    return _ingest(
                        raw, parsed, parse_error, key, source, mailbox, bypass_rate_limit, _existing
                    )
            return _ingest(raw, parsed, parse_error, key, source, mailbox, bypass_rate_limit, _existing)
    except IntegrityError:
        # A concurrent delivery of the same mail (two IMAP pollers, an MTA retry) committed first.
        if _existing is None and InboundMail.objects.filter(dedup_key=key).exists():
            return _duplicate(InboundMail.objects.get(dedup_key=key))
        raise


def _replay_time(parsed: ParsedMessage | None) -> datetime | None:
    if parsed is None or parsed.date is None:
        return None
    now = timezone.now()
    return parsed.date if parsed.date <= now else None


def _duplicate(row: InboundMail | None, message: Message | None = None) -> IngestResult:
    case = row.case if row is not None else (message.case if message else None)
    return IngestResult(
        case_reference=case.reference if case else None,
        created=False,
        matched_by=(row.matched_by if row is not None else "") or "duplicate",
        quarantined=False,
        reason="already received" + (f" ({row.get_outcome_display().lower()})" if row is not None else ""),
        duplicate=True,
        outcome=Outcome.DUPLICATE,
    )


def _ingest(
    raw: bytes,
    parsed: ParsedMessage | None,
    parse_error: str,
    key: str,
    source: str,
    mailbox,
    bypass_rate_limit: bool,
    existing: InboundMail | None,
) -> IngestResult:
    if existing is None:
        # Existence first, rows only on a hit: nearly every mail is new, and building the wide
        # select_related queries cost more than the rest of intake's reads together.
        if InboundMail.objects.filter(dedup_key=key).exists():
            return _duplicate(InboundMail.objects.filter(dedup_key=key).select_related("case").first())
        if (
            parsed is not None
            and parsed.message_id
            and Message.objects.filter(message_id=parsed.message_id).exists()
        ):
            message = Message.objects.filter(message_id=parsed.message_id).select_related("case").first()
            return _duplicate(None, message)
    record = _Record(raw=raw, parsed=parsed, key=key, source=source, mailbox=mailbox, existing=existing)

    if parsed is None:
        return record.quarantine(QuarantineReason.UNPARSEABLE, parse_error or "cannot be parsed")
    limit = settings.CASEWORK["INTAKE_MAX_BYTES"]
    if len(raw) > limit:
        return record.quarantine(
            QuarantineReason.TOO_LARGE, f"{len(raw)} bytes is over the {limit}-byte limit"
        )
    refusal = check_acceptable(parsed)
    if refusal:
        return record.quarantine(QuarantineReason.NOT_ACCEPTABLE, refusal)
    kind = classify(parsed)
    record.kind = kind
    if kind == "bounce":
        return _handle_bounce(record, parsed)
    sender = parsed.from_address
    if sender in own_addresses():
        return record.finish(Outcome.IGNORED_OWN, reason=f"sent from our own address {sender}")
    if not bypass_rate_limit and _over_rate_limit(sender):
        window = settings.CASEWORK["INTAKE_RATE_WINDOW_SECONDS"]
        count = settings.CASEWORK["INTAKE_RATE_LIMIT"]
        return record.quarantine(
            QuarantineReason.RATE_LIMITED, f"more than {count} mails from {sender} within {window} seconds"
        )

    prefix = settings.CASEWORK["REFERENCE_PREFIX"]
    decision = decide_thread(
        parsed, key=signing_key(), lookup=DbThreadLookup(parsed), reference_pattern=rf"{prefix}-\d{{6,}}"
    )
    list_mail = kind == "auto_reply" and (parsed.auto_reply_reason or "").startswith(_LIST_REASONS)
    if kind == "auto_reply" and decision.case is None and not list_mail:
        return record.finish(
            Outcome.IGNORED_AUTO_REPLY,
            reason=f"auto-reply ({parsed.auto_reply_reason}) that belongs to no case; never opens one",
            matched_by=decision.matched_by,
            evidence=decision.evidence,
        )
    meta = {
        "matched_by": decision.matched_by,
        "evidence": decision.evidence,
        "email": {"from": sender, "to": parsed.to, "cc": parsed.cc, "subject": parsed.subject[:300]},
        # The acknowledgement flag (see may_acknowledge): only people get one, never machines or lists.
        "acknowledge": kind == "normal",
    }
    if decision.rejected:
        meta["rejected_signals"] = decision.rejected
    if kind == "auto_reply":
        meta["auto_reply"] = parsed.auto_reply_reason
        meta["no_acknowledgement_reason"] = f"auto-reply: {parsed.auto_reply_reason}"
    try:
        with transaction.atomic():
            message, created = _store(parsed, decision.case, meta)
    except ApplicationError as exc:
        return record.quarantine(QuarantineReason.REJECTED, f"{exc.code}: {exc.message}")
    return record.finish(
        Outcome.INGESTED if created else Outcome.THREADED,
        reason=decision.evidence,
        case=message.case,
        message=message,
        matched_by=decision.matched_by,
        evidence=decision.evidence,
        created=created,
    )


def _over_rate_limit(sender: str) -> bool:
    window = timedelta(seconds=settings.CASEWORK["INTAKE_RATE_WINDOW_SECONDS"])
    recent = InboundMail.objects.filter(from_address=sender, received_at__gte=timezone.now() - window)
    return recent.count() >= settings.CASEWORK["INTAKE_RATE_LIMIT"]


def _fit(text: str, limit: int) -> tuple[str, bool]:
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text, False
    room = max(0, limit - len(TRUNCATION_NOTE.encode()) - 8)
    return data[:room].decode("utf-8", "ignore") + TRUNCATION_NOTE, True


def _store(parsed: ParsedMessage, target: CaseRef | None, meta: dict) -> tuple[Message, bool]:
    customer, _ = customer_get_or_create(email=parsed.from_address, name=parsed.from_name)
    limits = settings.CASEWORK
    html = parsed.html_body if len(parsed.html_body) <= limits["MAX_MESSAGE_BYTES"] else ""
    if target is None:
        # A new case keeps the whole text: a forwarded error report *is* the quoted part.
        text = parsed.text_body.strip() or html_to_text(parsed.html_body)
    else:
        text = parsed.reply_text.strip()
    if not text:
        text = (
            "(no text in this mail; see the attachments)" if parsed.attachments else "(no text in this mail)"
        )
    text, truncated = _fit(text, limits["MAX_MESSAGE_BYTES"])
    if truncated:
        meta["truncated"] = True
    subject = (parsed.subject or "(no subject)")[:300]
    if target is None:
        _, message = case_services.case_open_with_message(
            subject=subject,
            description=text,
            customer=customer,
            channel=Channel.EMAIL,
            message_meta=meta,
            message_id=parsed.message_id,
            body_html=html,
        )
        created = True
    else:
        message = case_services.case_add_message(
            case=Case.objects.get(pk=target.id),
            kind=MessageKind.CUSTOMER,
            body=text,
            customer=customer,
            channel=Channel.EMAIL,
            body_html=html,
            subject=subject,
            message_id=parsed.message_id,
            in_reply_to=(parsed.in_reply_to[0] if parsed.in_reply_to else "")[:500],
            meta=meta,
        )
        # A customer writing to a closed case gets a follow-up case: that is a new case too.
        created = message.case_id != target.id and message.meta.get("redirected_from") is None
    skipped = []
    for attachment in parsed.attachments:
        if attachment.size > limits["MAX_ATTACHMENT_BYTES"]:
            skipped.append({"filename": attachment.filename, "size": attachment.size})
            continue
        case_services.case_add_attachment(
            case=message.case,
            filename=attachment.filename,
            content=attachment.payload,
            content_type=attachment.content_type,
            actor="email",
            message=message,
            inline=attachment.inline,
        )
    if skipped:
        Message.objects.filter(pk=message.pk).update(meta={**message.meta, "skipped_attachments": skipped})
    return message, created


@dataclass
class _Record:
    """Writes the InboundMail (and Quarantine) row that closes one ingest, whatever the outcome."""

    raw: bytes
    parsed: ParsedMessage | None
    key: str
    source: str
    mailbox: Any
    existing: InboundMail | None
    kind: str = ""

    def _summary(self) -> dict:
        p = self.parsed
        if p is None:
            return {}
        return {
            "to": p.to[:20],
            "cc": p.cc[:20],
            "date": p.date.isoformat() if p.date else None,
            "attachments": len(p.attachments),
            "defects": p.defects[:20],
            "auto_reply": p.auto_reply_reason,
            "bounce": (
                {"recipient": p.bounce_recipient, "status": p.bounce_status, "reason": p.bounce_reason}
                if p.is_bounce
                else None
            ),
        }

    def finish(
        self,
        outcome: str,
        *,
        reason: str = "",
        case: Case | None = None,
        message: Message | None = None,
        matched_by: str = "",
        evidence: str = "",
        created: bool = False,
    ) -> IngestResult:
        p = self.parsed
        values = {
            "dedup_key": self.key,
            "header_message_id": (p.message_id or "")[:500] if p else "",
            "fingerprint": p.fingerprint if p else hashlib.sha256(self.raw).hexdigest(),
            "source": self.source[:120],
            "mailbox": self.mailbox,
            "from_address": (p.from_address if p else "")[:320],
            "subject": (p.subject if p else "")[:300],
            "raw": self.raw,
            "size": len(self.raw),
            "kind": self.kind,
            "outcome": outcome,
            "reason": reason,
            "summary": self._summary(),
            "case": case,
            "message": message,
            "matched_by": matched_by,
            "evidence": evidence,
        }
        if self.existing is not None:
            values.pop("dedup_key")
            values.pop("received_at", None)
            for field, value in values.items():
                setattr(self.existing, field, value)
            self.existing.save()
            self.row = self.existing
        else:
            self.row = InboundMail.objects.create(received_at=timezone.now(), **values)
        return IngestResult(
            case_reference=case.reference if case else None,
            created=created,
            matched_by=matched_by or outcome,
            quarantined=outcome == Outcome.QUARANTINED,
            reason=reason,
            outcome=outcome,
        )

    def quarantine(self, code: str, text: str) -> IngestResult:
        result = self.finish(Outcome.QUARANTINED, reason=f"{code}: {text}")
        p = self.parsed
        values = {
            "raw": self.raw,
            "reason_code": code,
            "reason_text": text,
            "source": self.source[:120],
            "from_address": (p.from_address if p else "")[:320],
            "subject": (p.subject if p else "")[:300],
        }
        held = Quarantine.objects.filter(inbound=self.row).first()
        if held is not None:
            Quarantine.objects.filter(pk=held.pk).update(**values, state=QuarantineState.HELD)
        else:
            Quarantine.objects.create(inbound=self.row, created_at=timezone.now(), **values)
        return result


def _handle_bounce(record: _Record, parsed: ParsedMessage) -> IngestResult:
    """A bounce never opens a case: it marks the mail it returns as failed, on the case it belongs to."""
    from casework.notify.services import outbox_mark_bounced

    detail = " ".join(
        part for part in (parsed.bounce_recipient, parsed.bounce_status, parsed.bounce_reason) if part
    )[:500]
    candidates = [m for m in (parsed.bounce_original_message_id, *parsed.in_reply_to) if m]
    candidates += list(reversed(parsed.references))
    key = signing_key()
    case = message = None
    evidence = ""
    for msgid in candidates:
        message = Message.objects.filter(message_id=msgid).select_related("case").first()
        if message is not None:
            case, evidence = message.case, f"returned message <{msgid}> is on {message.case.reference}"
            break
        case_id = verify_message_id(msgid, key)
        if case_id is not None and (case := Case.objects.filter(pk=case_id).first()):
            evidence = f"returned message <{msgid}> is our signed id for {case.reference}"
            break
    if case is None and (case_id := find_reply_token(parsed.text_body, key)) is not None:
        case = Case.objects.filter(pk=case_id).first()
        evidence = f"signed token for {case.reference} in the returned text" if case else ""
    if case is None:
        return record.finish(
            Outcome.BOUNCE, reason=f"bounce ({detail or 'no details'}) for a mail casework does not know"
        )
    for msgid in candidates:
        outbox_mark_bounced(message_id=msgid, detail=detail)
    data = {"bounce": {"recipient": parsed.bounce_recipient, "status": parsed.bounce_status}}
    if message is not None and message.direction == "outbound":
        case_services.message_record_email(
            message=message, delivery="failed", detail=detail, actor="email", data=data
        )
    else:
        case_services.case_record_system_event(
            case=case,
            kind=EventKind.NOTE,
            actor="email",
            reason=f"Email could not be delivered: {detail}"[:1000],
            data={"delivery_failure": data},
        )
    return record.finish(
        Outcome.BOUNCE,
        reason=f"delivery failure recorded on {case.reference}: {detail}",
        case=case,
        matched_by="bounce",
        evidence=evidence,
    )


# --------------------------------------------------------------------------------------------------
# quarantine decisions
# --------------------------------------------------------------------------------------------------


def quarantine_release(*, quarantine: Quarantine, actor: Any) -> IngestResult:
    """Ingest a held mail again, past the rate limit. If it is refused again it stays held with the
    new reason; the same InboundMail row (and idempotency key) is reused either way."""
    with transaction.atomic():
        held = Quarantine.objects.select_for_update().select_related("inbound").get(pk=quarantine.pk)
        if held.state != QuarantineState.HELD:
            raise Conflict(f"This mail was already {held.get_state_display().lower()}", code="not_held")
        raw = bytes(held.raw)
        result = ingest_raw(
            raw,
            source="release",
            mailbox=held.inbound.mailbox,
            bypass_rate_limit=True,
            _existing=held.inbound,
        )
        if not result.quarantined:
            Quarantine.objects.filter(pk=held.pk).update(
                state=QuarantineState.RELEASED,
                resolved_by=actor if getattr(actor, "pk", None) else None,
                resolved_at=timezone.now(),
                resolution=f"{result.outcome}: {result.case_reference or result.reason}",
            )
    return result


@transaction.atomic
def quarantine_discard(*, quarantine: Quarantine, actor: Any, note: str = "") -> None:
    held = Quarantine.objects.select_for_update().get(pk=quarantine.pk)
    if held.state != QuarantineState.HELD:
        raise Conflict(f"This mail was already {held.get_state_display().lower()}", code="not_held")
    Quarantine.objects.filter(pk=held.pk).update(
        state=QuarantineState.DISCARDED,
        resolved_by=actor if getattr(actor, "pk", None) else None,
        resolved_at=timezone.now(),
        resolution=note or "discarded",
    )
