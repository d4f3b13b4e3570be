"""The doors for retention and privacy writes: anonymise, purge attachments, delete, legal hold, erasure.

Each one runs inside the case core's unit of work (`@door` / `unit_of_work`), locks the cases it changes,
refuses before writing anything (a legal hold is a `Conflict` with code `legal_hold`), and records what it
did as a `note` event with `data.privacy` on the case's timeline (`delete` leaves the audit skeleton
instead: the case and its timeline are gone).

What anonymising a case clears: the subject, description and custom fields; every message's subject, body,
HTML, headers and Message-ID (the author link too); attachments (rows here, files by the caller once the
write committed: `remove_files`); every event's old/new values, reason, data and customer labels (kinds and
times stay); task titles; reply drafts; the CSAT comment; the search document; inbound-mail copies (raw
bytes, sender, subject); outbox rows (not yet sent ones are cancelled first, so nothing leaves after the
erasure). The case is re-pointed at one shared "Anonymised customer" and gets a new portal token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from casework.cases.models import Attachment, Case, CaseEvent, Message, Task, new_public_token
from casework.cases.services import Actor
from casework.cases.services.unit_of_work import active, door, unit_of_work
from casework.core import clock
from casework.core.errors import Conflict, ValidationFailed
from casework.people import permissions
from casework.people.models import Customer, Organisation

from .models import CaseSkeleton, Disposal, LegalHold

ANONYMOUS_EXTERNAL_ID = "casework:anonymised"
ANONYMOUS_NAME = "Anonymised customer"
REMOVED = "[removed]"
ANONYMISED_SUBJECT = "[anonymised]"


def _require_manager(actor: Any, what: str) -> None:
    if permissions.is_user_actor(actor):
        permissions.require_role(actor, permissions.MANAGER, what)


def _check_reason(reason: str) -> str:
    reason = (reason or "").replace("\x00", "").strip()
    if not reason:
        raise ValidationFailed("Say why (a reason is required)", code="required", details={"field": "reason"})
    if len(reason) > 500:
        raise ValidationFailed("The reason is longer than 500 characters", code="too_large")
    return reason


# --- legal hold -------------------------------------------------------------------------------------------


def active_holds() -> QuerySet:
    return LegalHold.objects.filter(released_at__isnull=True)


def held_q() -> Q:
    """Cases under an active hold, their own or their organisation's (a filter over Case)."""
    return Q(
        Exists(
            active_holds().filter(Q(case_id=OuterRef("pk")) | Q(organisation_id=OuterRef("organisation_id")))
        )
    )


def hold_of(case: Case) -> LegalHold | None:
    q = Q(case_id=case.pk)
    if case.organisation_id:
        q |= Q(organisation_id=case.organisation_id)
    return active_holds().filter(q).order_by("id").first()


def _refuse_held(case: Case) -> None:
    hold = hold_of(case)
    if hold is not None:
        on = "the case" if hold.case_id else "its organisation"
        raise Conflict(
            f"{case.reference} is under legal hold ({on}: {hold.reason}); release the hold first",
            code="legal_hold",
            details={"reference": case.reference, "hold": hold.pk},
        )


def _hold_event(case: Case, actor: Actor, *, set_: bool, reason: str, hold: LegalHold, scope: str):
    from casework.cases.services._core import _event

    what = "set" if set_ else "released"
    return _event(
        case,
        "note",
        actor,
        reason=f"Legal hold {what} ({scope}): {reason}",
        data={"privacy": f"legal_hold_{what}", "hold": hold.pk, "scope": scope},
    )


def _audit_hold(hold: LegalHold, actor: Any, reason: str, *, set_: bool, label: str) -> None:
    from .models import PrivacyChange
    from .policy_changes import record_hold

    kind = PrivacyChange.Kind.HOLD_SET if set_ else PrivacyChange.Kind.HOLD_RELEASED
    record_hold(kind=kind, hold=hold, actor=actor, reason=reason, label=label)


@door
def case_set_legal_hold(*, case: Case, actor: Any, reason: str) -> LegalHold:
    _require_manager(actor, "legal holds")
    reason = _check_reason(reason)
    work = active()
    locked = work.lock(case)
    if active_holds().filter(case_id=locked.pk).exists():
        raise Conflict(f"{locked.reference} is already under legal hold", code="already_held")
    who = Actor.of(actor)
    work.eager_write()
    hold = LegalHold.objects.create(
        case=locked, reason=reason, set_by=who.user, set_by_label=who.display, created_at=clock.now()
    )
    _audit_hold(hold, actor, reason, set_=True, label=f"case {locked.reference}")
    work.record(_hold_event(locked, who, set_=True, reason=reason, hold=hold, scope="case"))
    return hold


@door
def case_release_legal_hold(*, case: Case, actor: Any, reason: str) -> LegalHold:
    _require_manager(actor, "legal holds")
    reason = _check_reason(reason)
    work = active()
    locked = work.lock(case)
    hold = active_holds().filter(case_id=locked.pk).first()
    if hold is None:
        raise Conflict(f"{locked.reference} has no legal hold of its own", code="not_held")
    who = Actor.of(actor)
    work.eager_write()
    LegalHold.objects.filter(pk=hold.pk).update(
        released_at=clock.now(), released_by=who.user, release_reason=reason
    )
    _audit_hold(hold, actor, reason, set_=False, label=f"case {locked.reference}")
    work.record(_hold_event(locked, who, set_=False, reason=reason, hold=hold, scope="case"))
    return hold


def _organisation_hold(*, organisation: Organisation, actor: Any, reason: str, set_: bool) -> LegalHold:
    _require_manager(actor, "legal holds")
    reason = _check_reason(reason)
    who = Actor.of(actor)
    with unit_of_work("organisation_legal_hold") as work:
        Organisation.objects.select_for_update().filter(pk=organisation.pk).first()
        current = active_holds().filter(organisation_id=organisation.pk).first()
        if set_ and current is not None:
            raise Conflict(f"{organisation} is already under legal hold", code="already_held")
        if not set_ and current is None:
            raise Conflict(f"{organisation} has no legal hold", code="not_held")
        ids = list(Case.objects.filter(organisation_id=organisation.pk).values_list("pk", flat=True))
        locked = work.lock_many(ids)
        work.eager_write()
        if set_:
            hold = LegalHold.objects.create(
                organisation=organisation,
                reason=reason,
                set_by=who.user,
                set_by_label=who.display,
                created_at=clock.now(),
            )
        else:
            hold = current
            LegalHold.objects.filter(pk=hold.pk).update(
                released_at=clock.now(), released_by=who.user, release_reason=reason
            )
        scope = f"organisation {organisation.name}"
        _audit_hold(hold, actor, reason, set_=set_, label=scope)
        work.record_all(
            [_hold_event(c, who, set_=set_, reason=reason, hold=hold, scope=scope) for c in locked.values()]
        )
    return hold


def organisation_set_legal_hold(*, organisation: Organisation, actor: Any, reason: str) -> LegalHold:
    """Hold every case of the organisation (now and later), recorded on each of its cases."""
    return _organisation_hold(organisation=organisation, actor=actor, reason=reason, set_=True)


def organisation_release_legal_hold(*, organisation: Organisation, actor: Any, reason: str) -> LegalHold:
    return _organisation_hold(organisation=organisation, actor=actor, reason=reason, set_=False)


# --- anonymise, purge, delete -----------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a door did, and the files the caller removes once the write committed (`remove_files`)."""

    counts: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    skeleton: CaseSkeleton | None = None

    def add(self, other: Outcome) -> None:
        for key, value in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + value
        self.files += other.files


def remove_files(names: list[str]) -> int:
    """Delete attachment files after the write that dropped their rows committed. A crash in between
    leaves orphan files (no row names them), never a row without its file."""
    removed = 0
    for name in names:
        if name and default_storage.exists(name):
            default_storage.delete(name)
            removed += 1
    return removed


def anonymous_customer() -> Customer:
    customer = Customer.objects.filter(external_id=ANONYMOUS_EXTERNAL_ID).order_by("pk").first()
    if customer is None:
        customer = Customer.objects.create(name=ANONYMOUS_NAME, external_id=ANONYMOUS_EXTERNAL_ID)
    return customer


def _sla_outcome(case: Case) -> dict[str, str]:
    from casework.sla.models import CaseClock

    return dict(CaseClock.objects.filter(case_id=case.pk).values_list("metric", "state"))


def _skeleton(case: Case, disposal: str, policy_name: str, actor: Actor) -> CaseSkeleton:
    kinds = [
        [kind, at.isoformat()]
        for kind, at in CaseEvent.objects.filter(case_id=case.pk)
        .order_by("created_at", "id")
        .values_list("kind", "created_at")
    ]
    return CaseSkeleton.objects.create(
        reference=case.reference,
        case_id_then=case.pk,
        disposal=disposal,
        policy_name=policy_name[:100],
        channel=case.channel,
        category=case.category.name if case.category_id else "",
        priority=case.priority,
        status=case.status,
        organisation_id=case.organisation_id,
        team=case.team.name if case.team_id else "",
        tier=case.tier,
        created_at=case.created_at,
        first_response_at=case.first_response_at,
        resolved_at=case.resolved_at,
        closed_at=case.closed_at,
        reopen_count=case.reopen_count,
        sla_outcome=_sla_outcome(case),
        event_kinds=kinds,
        messages=Message.objects.filter(case_id=case.pk).count(),
        attachments=Attachment.objects.filter(case_id=case.pk).count(),
        disposed_at=clock.now(),
        disposed_by=actor.display if actor.user is not None else actor.label,
    )


def _drop_attachments(qs: QuerySet) -> Outcome:
    files = [name for name in qs.values_list("file", flat=True) if name]
    deleted = qs.delete()[1].get(Attachment._meta.label, 0)
    return Outcome(counts={"attachments": deleted}, files=files)


def cancel_outbox(qs: QuerySet, why: str) -> dict[str, int]:
    """Cancel what is not sent yet (pending, or in a worker's hands) and scrub every row's addresses and
    text: nothing holding the person leaves after this write."""
    from casework.notify.models import OutboxStatus

    cancelled = qs.filter(status__in=[OutboxStatus.PENDING, OutboxStatus.SENDING]).update(
        status=OutboxStatus.FAILED, last_error=f"cancelled: {why}", claimed_by="", lease_expires_at=None
    )
    scrubbed = qs.update(
        to=[],
        cc=[],
        recipient="",
        subject=REMOVED,
        body_text="",
        body_html="",
        headers={},
        payload={},
        endpoint="",
    )
    return {"outbox_cancelled": cancelled, "outbox_scrubbed": scrubbed}


def _scrub_case_rows(case: Case, why: str) -> Outcome:
    from casework.csat.models import CsatAnswer
    from casework.intake.models import InboundMail
    from casework.knowledge.models import ReplyDraft
    from casework.notify.models import Notification, Outbox
    from casework.search.models import CaseDocument
    from casework.sla.models import ClockLedgerEntry

    outcome = _drop_attachments(Attachment.objects.filter(case_id=case.pk))
    counts = outcome.counts
    counts["messages"] = Message.objects.filter(case_id=case.pk).update(
        subject="",
        body=REMOVED,
        body_html="",
        meta={},
        in_reply_to="",
        message_id=None,
        author_customer=None,
        sentiment=None,
    )
    # The skeleton keeps the kinds and times; everything an event said about the case goes, except what
    # the privacy doors themselves wrote (they name no person).
    counts["events"] = (
        CaseEvent.objects.filter(case_id=case.pk)
        .exclude(data__has_key="privacy")
        .update(old=None, new=None, reason="", data={}, actor_label="", message=None)
    )
    Task.objects.filter(case_id=case.pk).update(title=REMOVED)
    # The SLA ledger keeps its times and kinds (the outcome stays explainable), not who or why.
    ClockLedgerEntry.objects.filter(clock__case_id=case.pk).update(reason="", actor_label="", data={})
    ReplyDraft.objects.filter(case_id=case.pk).delete()
    CsatAnswer.objects.filter(case_id=case.pk).update(comment="", customer=None)
    Notification.objects.filter(case_id=case.pk).update(title=case.reference, body="")
    counts["search_documents"] = CaseDocument.objects.filter(case_id=case.pk).delete()[0]
    counts["inbound_mails"] = InboundMail.objects.filter(case_id=case.pk).update(
        raw=b"", from_address="", subject="", summary={}, reason="", evidence=""
    )
    counts.update(cancel_outbox(Outbox.objects.filter(case_id=case.pk), why))
    return outcome


def _record_privacy(case: Case, actor: Actor, *, kind: str, reason: str, data: dict) -> None:
    from casework.cases.services._core import _event

    active().record(_event(case, "note", actor, reason=reason, data={"privacy": kind, **data}))


@door
def case_anonymise(
    *,
    case: Case,
    actor: Any = None,
    reason: str,
    disposal: str = Disposal.ANONYMISED,
    policy_name: str = "",
) -> Outcome:
    """Anonymise one case, leaving its audit skeleton; a no-op for a case already anonymised."""
    _require_manager(actor, "anonymising cases")
    who = Actor.of(actor)
    work = active()
    locked = work.lock(case)
    _refuse_held(locked)
    if CaseSkeleton.objects.filter(case_id_then=locked.pk).exists():
        return Outcome()
    work.eager_write()
    skeleton = _skeleton(locked, disposal, policy_name, who)
    outcome = _scrub_case_rows(locked, f"case {disposal}")
    outcome.skeleton = skeleton
    work.set(
        locked,
        subject=ANONYMISED_SUBJECT,
        description="",
        custom_fields={},
        customer=anonymous_customer(),
        public_token=new_public_token(),
    )
    data = {k: v for k, v in outcome.counts.items() if v}
    if policy_name:
        data["policy"] = policy_name
    _record_privacy(locked, who, kind=disposal, reason=reason, data=data)
    outcome.counts["cases"] = 1
    return outcome


@door
def case_purge_attachments(*, case: Case, actor: Any = None, reason: str, policy_name: str = "") -> Outcome:
    _require_manager(actor, "purging attachments")
    who = Actor.of(actor)
    work = active()
    locked = work.lock(case)
    _refuse_held(locked)
    qs = Attachment.objects.filter(case_id=locked.pk)
    if not qs.exists():
        return Outcome()
    work.eager_write()
    outcome = _drop_attachments(qs)
    data = {"attachments": outcome.counts["attachments"]}
    if policy_name:
        data["policy"] = policy_name
    _record_privacy(locked, who, kind="attachments_purged", reason=reason, data=data)
    outcome.counts["cases"] = 1
    return outcome


@door
def case_delete(*, case: Case, actor: Any = None, reason: str, policy_name: str = "") -> Outcome:
    """Delete a case and everything hanging from it, leaving its audit skeleton (the only record of the
    deletion: the timeline goes with the case)."""
    from casework.intake.models import InboundMail
    from casework.notify.models import Outbox

    _require_manager(actor, "deleting cases")
    who = Actor.of(actor)
    work = active()
    locked = work.lock(case)
    _refuse_held(locked)
    work.eager_write()
    skeleton = _skeleton(locked, Disposal.DELETED, policy_name, who)
    outcome = _drop_attachments(Attachment.objects.filter(case_id=locked.pk))
    outcome.skeleton = skeleton
    # Rows that outlive the case (SET NULL) would keep its text: cancel and scrub them first.
    outcome.counts.update(cancel_outbox(Outbox.objects.filter(case_id=locked.pk), "case deleted"))
    InboundMail.objects.filter(case_id=locked.pk).update(
        raw=b"", from_address="", subject="", summary={}, reason="", evidence=""
    )
    outcome.counts["messages"] = Message.objects.filter(case_id=locked.pk).count()
    Case.objects.filter(pk=locked.pk).delete()
    work.cases.pop(locked.pk, None)
    outcome.counts["cases"] = 1
    return outcome


# --- erasure on request -----------------------------------------------------------------------------------


def _erasure_scope(customer: Customer) -> dict[str, Any]:
    """Everything an erasure touches, as querysets (the dry run counts them, the erasure changes them)."""
    from casework.intake.models import InboundMail, Quarantine
    from casework.notify.models import Outbox, Suppression

    email = customer.email or ""
    cases = Case.objects.filter(customer_id=customer.pk)
    # Their messages on other people's cases (a colleague's case they wrote to).
    elsewhere = Message.objects.filter(author_customer_id=customer.pk).exclude(case__customer_id=customer.pk)
    outbox = Outbox.objects.filter(case__customer_id=customer.pk)
    mails = InboundMail.objects.filter(case__customer_id=customer.pk)
    quarantine = Quarantine.objects.none()
    suppression = Suppression.objects.none()
    if email:
        outbox = Outbox.objects.filter(
            Q(case__customer_id=customer.pk)
            | Q(recipient__iexact=email)
            | Q(to__icontains=email)
            | Q(cc__icontains=email)
        )
        mails = InboundMail.objects.filter(Q(case__customer_id=customer.pk) | Q(from_address__iexact=email))
        quarantine = Quarantine.objects.filter(_quarantine_q(email))
        suppression = Suppression.objects.filter(address__iexact=email)
    return {
        "cases": cases,
        "elsewhere": elsewhere,
        "outbox": outbox,
        "mails": mails,
        "quarantine": quarantine,
        "suppression": suppression,
    }


def _quarantine_q(email: str) -> Q:
    return Q(from_address__iexact=email)


def erasure_blockers(customer: Customer) -> list[str]:
    """References of the cases (and the organisation) whose legal hold blocks erasing this customer."""
    scope = _erasure_scope(customer)
    case_ids = set(scope["cases"].values_list("pk", flat=True)) | set(
        scope["elsewhere"].values_list("case_id", flat=True)
    )
    held = list(
        Case.objects.filter(pk__in=case_ids)
        .filter(held_q())
        .order_by("reference")
        .values_list("reference", flat=True)
    )
    if customer.organisation_id and active_holds().filter(organisation_id=customer.organisation_id).exists():
        held.append(f"organisation {customer.organisation}")
    return held


def erasure_counts(customer: Customer) -> dict[str, int]:
    from casework.notify.models import OutboxStatus
    from casework.search.models import CaseDocument

    scope = _erasure_scope(customer)
    cases = scope["cases"]
    return {
        "cases": cases.count(),
        "messages": Message.objects.filter(case__in=cases).count() + scope["elsewhere"].count(),
        "attachments": Attachment.objects.filter(case__in=cases).count()
        + Attachment.objects.filter(message__in=scope["elsewhere"]).count(),
        "search_documents": CaseDocument.objects.filter(case__in=cases).count(),
        "outbox_cancelled": scope["outbox"]
        .filter(status__in=[OutboxStatus.PENDING, OutboxStatus.SENDING])
        .count(),
        "outbox_scrubbed": scope["outbox"].count(),
        "inbound_mails": scope["mails"].count(),
        "quarantine": scope["quarantine"].count(),
    }


def customer_erase(*, customer: Customer, actor: Any = None, reason: str, dry_run: bool = False) -> dict:
    """Erase a customer on request (GDPR art. 17): anonymise each of their cases (a `note` event and an
    audit skeleton on each), scrub their messages on other cases, cancel and scrub mail to them, drop
    inbound copies and quarantine from them, and delete the customer row with their history, portal
    links and preferences. A legal hold on any of it refuses the whole erasure (`legal_hold`).
    `dry_run` returns the counts and changes nothing. Returns {"counts" (what would be / was touched, counted
    first), "applied" (what the erasure did, same keys), "blocked_by", "files_removed"}."""
    from casework.notify.models import CustomerPreference
    from casework.portal.models import Attempt, UsedLink
    from casework.search.index import reindex
    from casework.sla.models import ClockLedgerEntry

    _require_manager(actor, "erasing customers")
    reason = _check_reason(reason)
    if customer.external_id == ANONYMOUS_EXTERNAL_ID:
        raise ValidationFailed("This is the placeholder for anonymised cases", code="not_erasable")
    blockers = erasure_blockers(customer)
    counts = erasure_counts(customer)
    if dry_run:
        return {"counts": counts, "applied": {}, "blocked_by": blockers, "files_removed": 0}
    if blockers:
        raise Conflict(
            f"Cannot erase: under legal hold ({', '.join(blockers)})",
            code="legal_hold",
            details={"held": blockers},
        )
    who = Actor.of(actor)
    email = customer.email or ""
    done = Outcome()
    # The cases are one write (their reactions and events flush at its end); the customer row goes after
    # it, in the same transaction (the flush re-points the cases away from it first).
    with transaction.atomic():
        with unit_of_work("customer_erase") as work:
            scope = _erasure_scope(customer)
            ids = sorted(set(scope["cases"].values_list("pk", flat=True)))
            elsewhere_ids = sorted(set(scope["elsewhere"].values_list("case_id", flat=True)))
            work.lock_many(ids + elsewhere_ids)
            for pk in ids:
                done.add(
                    case_anonymise(
                        case=work.cases[pk],
                        actor=actor,
                        reason=f"Erasure on request: {reason}",
                        disposal=Disposal.ERASED,
                    )
                )
            work.eager_write()
            for pk in elsewhere_ids:
                case = work.cases[pk]
                message_ids = list(scope["elsewhere"].filter(case_id=pk).values_list("pk", flat=True))
                done.add(_drop_attachments(Attachment.objects.filter(message_id__in=message_ids)))
                n = Message.objects.filter(pk__in=message_ids).update(
                    subject="",
                    body=REMOVED,
                    body_html="",
                    meta={},
                    in_reply_to="",
                    message_id=None,
                    author_customer=None,
                    sentiment=None,
                )
                done.add(Outcome(counts={"messages": n}))
                said = Q(message_id__in=message_ids)
                for mark in {email, customer.name}:
                    if mark:
                        said |= Q(actor_label__icontains=mark) | Q(reason__icontains=mark)
                CaseEvent.objects.filter(case_id=pk).filter(said).exclude(data__has_key="privacy").update(
                    old=None, new=None, reason="", data={}, actor_label=""
                )
                ClockLedgerEntry.objects.filter(clock__case_id=pk).filter(
                    Q(actor_label__icontains=email or customer.name or "\x00")
                    | Q(actor_label__icontains=customer.name or email or "\x00")
                ).update(actor_label="", reason="", data={})
                _record_privacy(
                    case,
                    who,
                    kind="messages_erased",
                    reason=f"Erasure on request: a customer's messages removed ({reason})",
                    data={"messages": n},
                )
                work.on_flush(f"privacy-reindex-{pk}", lambda _events, case=case: reindex(cases=[case]))
        # What is left after the cases (their rows no longer name this customer): rows by address.
        done.add(Outcome(counts=cancel_outbox(scope["outbox"], "customer erased")))
        left = scope["mails"].update(raw=b"", from_address="", subject="", summary={}, reason="", evidence="")
        quarantined = scope["quarantine"].delete()[1].get("intake.Quarantine", 0)
        done.add(Outcome(counts={"inbound_mails": left, "quarantine": quarantined}))
        scope["suppression"].delete()
        if email:
            Attempt.objects.filter(key__iexact=email).delete()
        UsedLink.objects.filter(customer_id=customer.pk).delete()
        CustomerPreference.objects.filter(customer_id=customer.pk).delete()
        Customer.objects.filter(pk=customer.pk).delete()
    removed = remove_files(done.files)
    _optimise_search_index()
    applied = {key: done.counts.get(key, 0) for key in counts}
    return {"counts": counts, "applied": applied, "blocked_by": [], "files_removed": removed}


def _optimise_search_index() -> None:
    """SQLite's FTS5 keeps deleted terms in its segments until they merge: merge them now, so an erased
    name is gone from the file, not only from the answers. (PostgreSQL derives its index from the row.)"""
    from django.db import connection

    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO search_case_fts(search_case_fts) VALUES ('optimize')")
