"""Email intake: the one door from raw mail bytes to a case (IMAP poll, MTA pipe, mbox import, HTTP push).

`ingest_raw` parses outside the transaction (so a slow parse never holds SQLite's write lock), then in ONE
transaction decides and writes: the InboundMail row (the idempotency key), the customer, the case or
message (through cases.services), its attachments, or a Quarantine row. A crash leaves nothing behind and
the same mail delivered again is reported as a duplicate.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from casework.cases import services as case_services
from casework.cases.models import Case, EventKind, Message, MessageKind
from casework.cases.services.unit_of_work import unit_of_work
from casework.cases.status import Channel
from casework.core import clock
from casework.core.batching import gc_paused
from casework.core.errors import ApplicationError, Conflict
from casework.people.models import Customer
from casework.people.services import Contact, customers_get_or_create, normalise_email

from .identity import own_addresses, signing_key
from .lookup import DbThreadLookup
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
    options = _Options(source, mailbox, bypass_rate_limit, replay_date)
    return _ingest_segment([_Mail.parse(raw, options)], options, existing=_existing)[0]


def ingest_many(
    raws: Iterable[bytes],
    *,
    source: str,
    mailbox=None,
    bypass_rate_limit: bool = False,
    replay_date: bool = False,
    batch_size: int | None = None,
) -> Iterator[IngestResult]:
    """`ingest_raw` for mail that arrives together (an IMAP poll, an mbox import): one result per mail, in
    order, each yielded only after the transaction that stored it committed, so a caller may then move the
    mail out of its inbox.

    Mails are handled in batches: a batch's reads (duplicates, threading ids, customers, rate counts) are
    one query each and its new cases are written with bulk inserts, in one transaction. The outcome of
    every mail is what `ingest_raw` would give it alone: a mail that depends on an earlier one of the
    same batch (a reply to it, a repeat of its Message-ID) starts the next batch, and if a batch fails
    unexpectedly its mails are retried one transaction each, so the error surfaces on the one mail that
    causes it with everything before it stored."""
    options = _Options(source, mailbox, bypass_rate_limit, replay_date)
    size = batch_size or settings.CASEWORK["INTAKE_BATCH"]
    stream = iter(raws)
    while chunk := list(itertools.islice(stream, size)):
        for segment in independent_runs(_parse_chunk(chunk, options)):
            try:
                with gc_paused():
                    results = _ingest_segment(segment, options)
            except Exception:
                if len(segment) == 1:
                    raise
                logger.warning(
                    "a batch of %s mails failed; ingesting them one by one", len(segment), exc_info=True
                )
                for mail in segment:
                    yield _ingest_segment([mail.fresh()], options)[0]
                continue
            yield from results


def _parse_chunk(raws: list[bytes], options: _Options) -> list[_Mail]:
    with gc_paused():  # bounded by the batch size; see core.batching
        return [_Mail.parse(raw, options) for raw in raws]


@dataclass(frozen=True)
class _Options:
    source: str
    mailbox: Any
    bypass_rate_limit: bool
    replay_date: bool


@dataclass
class _Mail:
    """One mail on its way through intake: parsed (outside any transaction), then decided, then written."""

    raw: bytes
    parsed: ParsedMessage | None
    parse_error: str
    key: str
    when: datetime | None
    options: _Options
    record: _Record | None = None
    result: IngestResult | None = None
    action: str = ""  # open | reply | bounce, when the mail is to be stored on a case
    target: CaseRef | None = None
    meta: dict = field(default_factory=dict)
    opening: case_services.Opening | None = None

    @classmethod
    def parse(cls, raw: bytes, options: _Options) -> _Mail:
        raw = bytes(raw)
        parsed: ParsedMessage | None = None
        parse_error = ""
        try:
            parsed = parse_message(raw, reply_languages=settings.CASEWORK["INTAKE_REPLY_LANGUAGES"])
        except UnparseableMessage as exc:
            parse_error = exc.reason
        except Exception as exc:  # the parser promises not to raise; if it does, keep the mail anyway
            logger.exception("parser raised on a %s-byte mail from %s", len(raw), options.source)
            parse_error = f"parser error: {type(exc).__name__}: {exc}"[:500]
        when = _replay_time(parsed) if options.replay_date else None
        return cls(raw, parsed, parse_error, dedup_key(parsed, raw), when, options)

    def fresh(self) -> _Mail:
        return _Mail(self.raw, self.parsed, self.parse_error, self.key, self.when, self.options)


def independent_runs(mails: Sequence[_Mail]) -> list[list[_Mail]]:
    """Split mails, in order, into runs in which no mail depends on an earlier one of the same run: none
    repeats an earlier mail's idempotency key or Message-ID, and none refers (In-Reply-To, References, a
    returned message) to one. Mails of a run can then be decided from one read of the database."""
    runs: list[list[_Mail]] = []
    seen: set[str] = set()
    for mail in mails:
        parsed = mail.parsed
        ids = {mail.key}
        refs: set[str] = set()
        if parsed is not None:
            if parsed.message_id:
                ids.add(f"id:{parsed.message_id}")
            refs = {f"id:{m}" for m in (*parsed.in_reply_to, *parsed.references)}
            if parsed.bounce_original_message_id:
                refs.add(f"id:{parsed.bounce_original_message_id}")
        if not runs or ids & seen or refs & seen:
            runs.append([])
            seen = set()
        runs[-1].append(mail)
        seen |= ids
    return runs


def _reference_pattern() -> str:
    return rf"{settings.CASEWORK['REFERENCE_PREFIX']}-\d{{6,}}"


def _replay_time(parsed: ParsedMessage | None) -> datetime | None:
    if parsed is None or parsed.date is None:
        return None
    now = timezone.now()
    return parsed.date if parsed.date <= now else None


class _Context:
    """What the mails of one run need to know from the database, read once for all of them."""

    def __init__(self, mails: Sequence[_Mail], check_duplicates: bool) -> None:
        parsed = [m.parsed for m in mails if m.parsed is not None]
        self.inbound: dict[str, dict] = {}
        self.message_cases: dict[str, str | None] = {}
        if check_duplicates:
            # Existence first, whole rows never: nearly every mail is new.
            keys = [m.key for m in mails]
            self.inbound = {
                row["dedup_key"]: row
                for row in InboundMail.objects.filter(dedup_key__in=keys).values(
                    "dedup_key", "case__reference", "matched_by", "outcome"
                )
            }
            mids = [p.message_id for p in parsed if p.message_id]
            if mids:
                self.message_cases = dict(
                    Message.objects.filter(message_id__in=mids).values_list("message_id", "case__reference")
                )
        self.own = own_addresses()
        self.recent: dict[str, int] = {}
        senders = {p.from_address for p in parsed if p.from_address}
        if senders:
            window = timedelta(seconds=settings.CASEWORK["INTAKE_RATE_WINDOW_SECONDS"])
            self.recent = dict(
                InboundMail.objects.filter(from_address__in=senders, received_at__gte=timezone.now() - window)
                .values_list("from_address")
                .annotate(n=Count("id"))
                .order_by()
            )
        self.threads = DbThreadLookup(parsed, _reference_pattern())
        self.now = timezone.now()


def _ingest_segment(
    mails: list[_Mail], options: _Options, *, existing: InboundMail | None = None
) -> list[IngestResult]:
    """Decide and store a run of independent mails in one transaction (see `ingest_many`): one write,
    so the reactions to the run's new cases and replies (triage, routing, clocks, mail) are decided
    together, with a constant number of statements for the shared parts, before it commits."""
    key = mails[0].key
    try:
        with unit_of_work("ingest"):
            context = _Context(mails, check_duplicates=existing is None)
            for mail in mails:
                mail.record = _Record(mail, existing, context)
                _decide(mail, context)
                if mail.result is None or not mail.result.duplicate:
                    # The rate limit counts every mail a sender got in, whatever became of it.
                    sender = mail.parsed.from_address if mail.parsed else ""
                    context.recent[sender] = context.recent.get(sender, 0) + 1
            _store(mails)
            _Record.save_all([m.record for m in mails if m.result is None or not m.result.duplicate])
    except IntegrityError:
        # A concurrent delivery of the same mail (two IMAP pollers, an MTA retry) committed first.
        if len(mails) == 1 and existing is None and InboundMail.objects.filter(dedup_key=key).exists():
            row = InboundMail.objects.values("dedup_key", "case__reference", "matched_by", "outcome")
            return [_duplicate(row.get(dedup_key=key))]
        raise
    return [mail.result for mail in mails]


def _duplicate(row: dict | None, case_reference: str | None = None) -> IngestResult:
    reason = "already received"
    if row is not None:
        case_reference = row["case__reference"]
        reason += f" ({Outcome(row['outcome']).label.lower()})"
    return IngestResult(
        case_reference=case_reference,
        created=False,
        matched_by=(row["matched_by"] if row is not None else "") or "duplicate",
        quarantined=False,
        reason=reason,
        duplicate=True,
        outcome=Outcome.DUPLICATE,
    )


def _decide(mail: _Mail, context: _Context) -> None:
    """What happens to this mail: sets `mail.result` for the outcomes that need no case write, or
    `mail.action` (open / reply / bounce) for `_store`."""
    record, parsed = mail.record, mail.parsed
    if record.existing is None:
        if mail.key in context.inbound:
            mail.result = _duplicate(context.inbound[mail.key])
            return
        if parsed is not None and parsed.message_id in context.message_cases:
            mail.result = _duplicate(None, context.message_cases[parsed.message_id])
            return
    if parsed is None:
        mail.result = record.quarantine(QuarantineReason.UNPARSEABLE, mail.parse_error or "cannot be parsed")
        return
    limit = settings.CASEWORK["INTAKE_MAX_BYTES"]
    if len(mail.raw) > limit:
        mail.result = record.quarantine(
            QuarantineReason.TOO_LARGE, f"{len(mail.raw)} bytes is over the {limit}-byte limit"
        )
        return
    refusal = check_acceptable(parsed)
    if refusal:
        mail.result = record.quarantine(QuarantineReason.NOT_ACCEPTABLE, refusal)
        return
    kind = classify(parsed)
    record.kind = kind
    if kind == "bounce":
        mail.action = "bounce"
        return
    sender = parsed.from_address
    if sender in context.own:
        mail.result = record.finish(Outcome.IGNORED_OWN, reason=f"sent from our own address {sender}")
        return
    if not mail.options.bypass_rate_limit and context.recent.get(sender, 0) >= (
        count := settings.CASEWORK["INTAKE_RATE_LIMIT"]
    ):
        window = settings.CASEWORK["INTAKE_RATE_WINDOW_SECONDS"]
        mail.result = record.quarantine(
            QuarantineReason.RATE_LIMITED, f"more than {count} mails from {sender} within {window} seconds"
        )
        return

    decision = decide_thread(
        parsed, key=signing_key(), lookup=context.threads, reference_pattern=_reference_pattern()
    )
    list_mail = kind == "auto_reply" and (parsed.auto_reply_reason or "").startswith(_LIST_REASONS)
    if kind == "auto_reply" and decision.case is None and not list_mail:
        mail.result = record.finish(
            Outcome.IGNORED_AUTO_REPLY,
            reason=f"auto-reply ({parsed.auto_reply_reason}) that belongs to no case; never opens one",
            matched_by=decision.matched_by,
            evidence=decision.evidence,
        )
        return
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
        normalise_email(sender)
        if decision.case is None:
            # Checked now, with a stand-in customer, so a refused case never leaves a customer behind.
            mail.opening = _opening(mail, meta, Customer(email=sender, name=parsed.from_name)).cleaned()
    except ApplicationError as exc:
        mail.result = record.quarantine(QuarantineReason.REJECTED, f"{exc.code}: {exc.message}")
        return
    mail.action = "reply" if decision.case is not None else "open"
    mail.target = decision.case
    mail.meta = meta
    record.decision = decision


def _fit(text: str, limit: int) -> tuple[str, bool]:
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text, False
    room = max(0, limit - len(TRUNCATION_NOTE.encode()) - 8)
    return data[:room].decode("utf-8", "ignore") + TRUNCATION_NOTE, True


def _content(parsed: ParsedMessage, new_case: bool, meta: dict) -> tuple[str, str, str]:
    """Subject, text and HTML to store for this mail (noting truncation and skipped attachments in meta)."""
    limits = settings.CASEWORK
    html = parsed.html_body if len(parsed.html_body) <= limits["MAX_MESSAGE_BYTES"] else ""
    if new_case:
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
    skipped = [
        {"filename": a.filename, "size": a.size}
        for a in parsed.attachments
        if a.size > limits["MAX_ATTACHMENT_BYTES"]
    ]
    if skipped:
        meta["skipped_attachments"] = skipped
    return (parsed.subject or "(no subject)")[:300], text, html


def _attachments(parsed: ParsedMessage) -> list[case_services.NewAttachment]:
    limit = settings.CASEWORK["MAX_ATTACHMENT_BYTES"]
    return [
        case_services.NewAttachment(a.filename, a.payload, a.content_type, a.inline)
        for a in parsed.attachments
        if a.size <= limit
    ]


def _opening(mail: _Mail, meta: dict, customer: Customer) -> case_services.Opening:
    subject, text, html = _content(mail.parsed, True, meta)
    return case_services.Opening(
        subject=subject,
        description=text,
        customer=customer,
        channel=Channel.EMAIL,
        message_meta=meta,
        message_id=mail.parsed.message_id,
        body_html=html,
        attachments=_attachments(mail.parsed),
        at=mail.when,
    )


def _store(mails: list[_Mail]) -> None:
    """Write what `_decide` chose: the run's new cases in one `case_open_many`, its replies in one
    `case_add_customer_messages`, then bounces one by one (all through the case services)."""
    writing = [m for m in mails if m.action in ("open", "reply")]
    contacts = [Contact(m.parsed.from_address, m.parsed.from_name) for m in writing]
    customers = customers_get_or_create(contacts) if contacts else {}
    opens = [m for m in writing if m.action == "open"]
    if opens:
        openings = [
            replace(m.opening, customer=c, actor=None).cleaned()
            for m in opens
            for c in [customers[m.parsed.from_address][0]]
        ]
        for mail, (case, message) in zip(opens, case_services.case_open_many(openings), strict=True):
            mail.result = mail.record.stored(case, message, created=True)
    replies = [m for m in writing if m.action == "reply"]
    if replies:
        _store_replies(replies, customers)
    for mail in mails:
        if mail.action == "bounce":
            with _at(mail.when):
                mail.result = _handle_bounce(mail.record, mail.parsed)


def _store_replies(replies: list[_Mail], customers: dict) -> None:
    items = []
    for mail in replies:
        parsed = mail.parsed
        subject, text, html = _content(parsed, False, mail.meta)
        items.append(
            case_services.CustomerMessage(
                # The service locks and reads the case itself; a reference by primary key is all it needs.
                case=Case(pk=mail.target.id, reference=mail.target.reference),
                customer=customers[parsed.from_address][0],
                body=text,
                channel=Channel.EMAIL,
                body_html=html,
                subject=subject,
                message_id=parsed.message_id,
                in_reply_to=(parsed.in_reply_to[0] if parsed.in_reply_to else "")[:500],
                meta=mail.meta,
                at=mail.when,
            )
        )
    try:
        messages = case_services.case_add_customer_messages(items)
    except ApplicationError as exc:
        if len(replies) > 1:
            raise  # ingest_many retries the run mail by mail, so only the refused one is quarantined
        replies[0].result = replies[0].record.quarantine(
            QuarantineReason.REJECTED, f"{exc.code}: {exc.message}"
        )
        return
    for mail, message in zip(replies, messages, strict=True):
        for attachment in _attachments(mail.parsed):
            with _at(mail.when):
                case_services.case_add_attachment(
                    case=message.case,
                    filename=attachment.filename,
                    content=attachment.content,
                    content_type=attachment.content_type,
                    actor="email",
                    message=message,
                    inline=attachment.inline,
                )
        # A customer writing to a closed case gets a follow-up case: that is a new case too.
        created = message.case_id != mail.target.id and message.meta.get("redirected_from") is None
        mail.result = mail.record.stored(message.case, message, created=created)


def _at(when: datetime | None):
    return clock.frozen(when) if when is not None else contextlib.nullcontext()


class _Record:
    """The InboundMail (and Quarantine) row that closes one ingest, whatever the outcome. Rows are built
    as mails are decided and written together by `save_all` at the end of the run."""

    def __init__(self, mail: _Mail, existing: InboundMail | None, context: _Context) -> None:
        self.mail = mail
        self.parsed = mail.parsed
        self.existing = existing
        self.context = context
        self.kind = ""
        self.decision = None
        self.row: InboundMail | None = None
        self.held: tuple[str, str] | None = None

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

    def stored(self, case: Case, message: Message | None, *, created: bool) -> IngestResult:
        decision = self.decision
        return self.finish(
            Outcome.INGESTED if created else Outcome.THREADED,
            reason=decision.evidence,
            case=case,
            message=message,
            matched_by=decision.matched_by,
            evidence=decision.evidence,
            created=created,
        )

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
        raw = self.mail.raw
        values = {
            "dedup_key": self.mail.key,
            "header_message_id": (p.message_id or "")[:500] if p else "",
            "fingerprint": p.fingerprint if p else hashlib.sha256(raw).hexdigest(),
            "source": self.mail.options.source[:120],
            "mailbox": self.mail.options.mailbox,
            "from_address": (p.from_address if p else "")[:320],
            "subject": (p.subject if p else "")[:300],
            "raw": raw,
            "size": len(raw),
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
            for name, value in values.items():
                setattr(self.existing, name, value)
            self.row = self.existing
        else:
            self.row = InboundMail(received_at=self.context.now, **values)
        return IngestResult(
            case_reference=case.reference if case else None,
            created=created,
            matched_by=matched_by or outcome,
            quarantined=outcome == Outcome.QUARANTINED,
            reason=reason,
            outcome=outcome,
        )

    def quarantine(self, code: str, text: str) -> IngestResult:
        self.held = (code, text)
        return self.finish(Outcome.QUARANTINED, reason=f"{code}: {text}")

    @staticmethod
    def save_all(records: list[_Record]) -> None:
        new = [r.row for r in records if r.existing is None]
        InboundMail.objects.bulk_create(new)
        for record in records:
            if record.existing is not None:
                record.existing.save()
        held = []
        for record in records:
            if record.held is None:
                continue
            code, text = record.held
            p = record.parsed
            values = {
                "raw": record.mail.raw,
                "reason_code": code,
                "reason_text": text,
                "source": record.mail.options.source[:120],
                "from_address": (p.from_address if p else "")[:320],
                "subject": (p.subject if p else "")[:300],
            }
            if record.existing is not None and (old := Quarantine.objects.filter(inbound=record.row).first()):
                Quarantine.objects.filter(pk=old.pk).update(**values, state=QuarantineState.HELD)
            else:
                held.append(Quarantine(inbound=record.row, created_at=record.context.now, **values))
        Quarantine.objects.bulk_create(held)


def _handle_bounce(record: _Record, parsed: ParsedMessage) -> IngestResult:
    """A bounce never opens a case: it marks the mail it returns as failed, on the case it belongs to."""
    from casework.notify.delivery import outbox_mark_bounced
    from casework.notify.services import is_hard_bounce, suppress_address

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
    if is_hard_bounce(parsed.bounce_status) and parsed.bounce_recipient:
        # No more automated mail to an address that does not exist (notify's suppression list).
        suppress_address(address=parsed.bounce_recipient, source="bounce", reason=detail)
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
