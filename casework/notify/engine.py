"""The notification engine: the one way casework tells a customer or an agent something.

    from casework.notify import engine

    with unit_of_work("…"):            # or inside any door function / reaction stage
        engine.send(
            "csat_survey",
            case=case,
            to_customer=True,              # the case's customer, or a Customer
            context={"ratings": [...], "comment_url": "https://…"},
            dedup_key=f"csat:{case.pk}",
        )

`send(kind, *, case=None, to_customer=False, to_agents=(), to_teams=(), context=None, dedup_key,
gate=None, fresh=False) -> Sent`

- Must run inside a write (`casework.cases.services.unit_of_work.current()`); it raises RuntimeError
  otherwise. It only *adds rows to that write*: Outbox rows (email, Slack) and in-app `Notification`
  rows, inserted at the write's flush and committed with the change that caused them. The worker
  delivers the outbox (delivery.py); nothing is sent here.
- `kind` names a `NotificationKind` (kinds.py lists the shipped ones). A disabled kind sends nothing.
  Channels come from the kind's row: customers get email; agents get `inapp` and `email` as the kind
  says, minus the channels they muted (`AgentPreference`); `to_teams` get a Slack post to the team's
  incoming webhook (`TeamChannel`) when the kind has the `slack` channel.
- `context`: the kind's own values (see kinds.py), plain data only (str, numbers, dates, lists and
  dicts of them; a model instance raises TypeError). The engine adds `case`, `customer`, `recipient`
  and `support`. The template is the kind's, per channel and the customer's language, falling back to
  the default language, then to the email template, then to the shipped default.
- `dedup_key`: the idempotency key of this notification. Each row's own key is
  `"<dedup_key>:<channel>:<recipient>"`, unique in its table, so the same notification is created once
  however often it is asked for (a retried job, a repeated reaction). Build it from what identifies
  the trigger (`csat:<case id>`, `ev:<case id>:<event kind>:<event time>`). `fresh=True` skips the
  read of existing keys when the caller knows the trigger is new in this write (an event it just saw);
  the insert ignores a duplicate key either way.
- Never sent: to an address on the suppression list (hard bounces, complaints, admin), to a customer
  for whom `gate` — the inbound message that triggered an automatic answer — is not acknowledgeable
  (an auto-reply, a list, a bounce; intake's `may_acknowledge`), to someone who muted a non-essential
  kind, or past the rate limits (non-essential kinds only): `NOTIFY_RATE_PER_CASE` notifications about
  one case to one recipient and `NOTIFY_RATE_PER_RECIPIENT` to one recipient within
  `NOTIFY_RATE_WINDOW_SECONDS`. Agents with a daily digest get non-essential kinds in the app at once
  and by email in the digest.
- Every email carries `Auto-Submitted: auto-generated` (RFC 3834) and `X-Auto-Response-Suppress`;
  customer mail about a case carries a signed Message-ID and the reply token, so an answer threads back.
- Customer notifications are written on the case timeline (a `note` event saying what was sent to
  whom, or why it was not), so an agent can see what the customer was told.

Returns `Sent(emails, slack, inapp, skipped)`: the rows queued and `(recipient, reason)` pairs.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings

from casework.cases.models import Case, EventKind, Message
from casework.cases.services.unit_of_work import Work, current
from casework.core import clock
from casework.core import config as config_cache
from casework.intake.identity import message_id_domain, signing_key, support_address
from casework.intake.services import may_acknowledge
from casework.intake.signing import make_message_id, make_reply_token
from casework.people.models import Customer, Team

from . import templating
from .config import KindConfig, notify_config
from .models import (
    AgentPreference,
    Channel,
    CustomerPreference,
    Notification,
    Outbox,
    OutboxStatus,
    Suppression,
)

logger = logging.getLogger(__name__)

SCRATCH = "notify-engine"


@dataclass
class Sent:
    emails: list[Outbox] = field(default_factory=list)
    slack: list[Outbox] = field(default_factory=list)
    inapp: list[Notification] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def anything(self) -> bool:
        return bool(self.emails or self.slack or self.inapp)


def send(
    kind: str,
    *,
    case: Case | None = None,
    to_customer: Customer | bool = False,
    to_agents: Iterable[Any] = (),
    to_teams: Iterable[Team] = (),
    context: dict[str, Any] | None = None,
    dedup_key: str,
    gate: Message | None = None,
    fresh: bool = False,
) -> Sent:
    """Queue notification `kind` in the write in progress (see the module docstring)."""
    work = current()
    if work is None:
        raise RuntimeError(
            "notify.engine.send must run inside a write (a door function or unit_of_work): its rows "
            "commit with the change that caused them"
        )
    if not dedup_key:
        raise ValueError("dedup_key is required")
    extra = templating.plain(context or {})
    config = notify_config()
    spec = config.kind(kind)
    sent = Sent()
    if not spec.enabled:
        sent.skipped.append(("*", f"the kind {kind} is disabled"))
        return sent
    run = _Run(work, spec, case, extra, dedup_key, fresh, sent)
    if to_customer:
        customer = case.customer if to_customer is True and case is not None else to_customer
        if not isinstance(customer, Customer):
            raise TypeError("to_customer takes True (the case's customer) or a Customer")
        run.customer(customer, gate)
    seen: set[int] = set()
    for user in to_agents:
        if user is not None and user.pk not in seen:
            seen.add(user.pk)
            run.agent(user)
    for team in {t.pk: t for t in to_teams if t is not None}.values():
        run.team(team)
    return sent


# --------------------------------------------------------------------------------------------------


def prefetch_customers(customers: Iterable[Customer]) -> None:
    """Read the preferences and suppressions of many customers with one query each (a batch of new
    cases is acknowledged with two reads, not two per case). Inside a write only."""
    state = _state(current())
    prefs = state.setdefault("customer_prefs", {})
    suppressed = state.setdefault("suppressed", {})
    wanted = {c.pk: c for c in customers if c.pk is not None and c.pk not in prefs}
    if wanted:
        found = {p.customer_id: p for p in CustomerPreference.objects.filter(customer_id__in=list(wanted))}
        for pk in wanted:
            prefs[pk] = found.get(pk) or CustomerPreference(customer_id=pk)
    addresses = {(c.email or "").strip().lower() for c in wanted.values()} - set(suppressed) - {""}
    if addresses:
        rows = Suppression.objects.filter(address__in=addresses).values_list("address", "source", "reason")
        found_rows = {a: f"{src}: {why}".strip(": ") for a, src, why in rows}
        for address in addresses:
            suppressed[address] = found_rows.get(address, "")


def _state(work: Work) -> dict:
    return work.scratch[SCRATCH]


def acknowledgeable(message: Message | None) -> bool:
    """May an automatic answer go to the sender of `message`? No when intake flagged it as sent by a
    machine (an auto-reply, a list, a bounce: `acknowledge: False`, see `intake.may_acknowledge`); a
    message without the flag was entered by a person (web form, agent, API)."""
    if message is None or "acknowledge" not in (message.meta or {}):
        return True
    return may_acknowledge(message)


def is_suppressed(address: str) -> str:
    """The suppression's reason ('' when the address may receive automated mail); cached per write."""
    address = address.strip().lower()
    work = current()
    cache = _state(work).setdefault("suppressed", {}) if work is not None else {}
    if address not in cache:
        row = Suppression.objects.filter(address=address).values_list("source", "reason").first()
        cache[address] = f"{row[0]}: {row[1]}".strip(": ") if row else ""
    return cache[address]


def _window() -> timedelta:
    return timedelta(seconds=settings.CASEWORK["NOTIFY_RATE_WINDOW_SECONDS"])


class _Run:
    def __init__(self, work: Work, spec: KindConfig, case, extra, dedup_key, fresh, sent: Sent) -> None:
        self.work, self.spec, self.case, self.extra = work, spec, case, extra
        self.dedup_key, self.fresh, self.sent = dedup_key, fresh, sent
        self.state = _state(work)
        self.now = clock.now()

    # --- recipients ------------------------------------------------------------------------------

    def customer(self, customer: Customer, gate: Message | None) -> None:
        address = (customer.email or "").strip().lower()
        why = self._customer_refusal(customer, address, gate)
        if why:
            self.sent.skipped.append((address or str(customer), why))
            self._timeline(f"No {self.spec.label.lower()} sent to {address or customer}: {why}", why=why)
            return
        language = self._customer_language(customer)
        context = self._context(
            recipient_name=customer.name or "there",
            customer=customer,
            url=self._customer_url(customer),
        )
        subject, body = self._render(Channel.EMAIL, language, context)
        row = self._email(address, subject, body, customer_mail=True, gate=gate)
        if row is not None:
            self._timeline(
                f"{self.spec.label} emailed to {address}",
                data={"kind": self.spec.key, "to": address, "outbox_key": row.dedup_key},
            )

    def _customer_refusal(self, customer: Customer, address: str, gate: Message | None) -> str:
        if not address:
            return "the customer has no email address"
        if gate is not None and not acknowledgeable(gate):
            reason = (gate.meta or {}).get("no_acknowledgement_reason") or "the message was sent by a machine"
            return f"automatic answers are never sent to auto-replies, lists or bounces ({reason})"
        suppressed = is_suppressed(address)
        if suppressed:
            return f"the address is on the suppression list ({suppressed})"
        if not self.spec.essential and self.spec.key in self._customer_pref(customer).muted_kinds:
            return "the customer opted out of this kind of email"
        return self._rate_limited(address)

    def agent(self, user) -> None:
        if not user.is_active:
            self.sent.skipped.append((user.username, "inactive user"))
            return
        pref = self._agent_pref(user)
        if not self.spec.essential and self.spec.key in pref.muted_kinds:
            self.sent.skipped.append((user.username, "opted out of this kind"))
            return
        channels = [c for c in self.spec.channels if c in (Channel.EMAIL, Channel.INAPP)]
        channels = [c for c in channels if c not in pref.muted_channels]
        url = (
            f"{settings.BASE_URL}{self.case.get_absolute_url()}"
            if self.case is not None
            else settings.BASE_URL
        )
        context = self._context(
            recipient_name=user.get_full_name() or user.username,
            customer=self.case.customer if self.case is not None else None,
            url=url,
        )
        if Channel.INAPP in channels:
            subject, body = self._render(Channel.INAPP, "", context)
            # In the app the title opens the case: its address in the text is noise.
            body = "\n".join(line for line in body.splitlines() if line.strip() != url).strip()
            key = self._key(Channel.INAPP, f"u{user.pk}")
            if self._new_key(Notification, key):
                row = Notification(
                    user=user,
                    kind=self.spec.key,
                    case=self.case,
                    title=subject[:300],
                    body=body,
                    url=self.case.get_absolute_url() if self.case is not None else "",
                    dedup_key=key,
                    created_at=self.now,
                )
                self.work.insert(row, ignore_conflicts=True)
                self.sent.inapp.append(row)
        if Channel.EMAIL in channels:
            if pref.daily_digest and not self.spec.essential:
                self.sent.skipped.append((user.username, "daily digest"))
                return
            address = (user.email or "").strip().lower()
            if not address:
                self.sent.skipped.append((user.username, "no email address"))
                return
            why = (f"suppressed ({s})" if (s := is_suppressed(address)) else "") or self._rate_limited(
                address
            )
            if why:
                self.sent.skipped.append((address, why))
                return
            subject, body = self._render(Channel.EMAIL, "", context)
            self._email(address, subject, body, customer_mail=False)

    def team(self, team: Team) -> None:
        if Channel.SLACK not in self.spec.channels:
            return
        webhook = notify_config().slack_webhook(team.pk)
        if not webhook:
            self.sent.skipped.append((f"slack:{team.name}", "the team has no Slack webhook"))
            return
        recipient = f"slack:{team.pk}"
        why = self._rate_limited(recipient)
        if why:
            self.sent.skipped.append((recipient, why))
            return
        url = (
            f"{settings.BASE_URL}{self.case.get_absolute_url()}"
            if self.case is not None
            else settings.BASE_URL
        )
        context = self._context(
            recipient_name=team.name, customer=self.case.customer if self.case else None, url=url
        )
        subject, body = self._render(Channel.SLACK, "", context)
        key = self._key(Channel.SLACK, recipient)
        if not self._new_key(Outbox, key):
            return
        text = body if self._has_own(Channel.SLACK) else f"*{subject}*\n{url}"
        row = Outbox(
            dedup_key=key,
            channel=Channel.SLACK,
            endpoint=webhook,
            payload={"text": text},
            kind=self.spec.key,
            recipient=recipient,
            from_address="",
            to=[],
            subject=subject[:400],
            body_text=text,
            case=self.case,
            status=OutboxStatus.PENDING,
            next_attempt_at=self.now,
            created_at=self.now,
        )
        self.work.insert(row, ignore_conflicts=True)
        self._count(recipient)
        self.sent.slack.append(row)

    # --- rows ------------------------------------------------------------------------------------

    def _email(
        self, address: str, subject: str, body: str, *, customer_mail: bool, gate: Message | None = None
    ) -> Outbox | None:
        key = self._key(Channel.EMAIL, address)
        if not self._new_key(Outbox, key):
            return None
        headers = {
            # RFC 3834: an automatic message; well-behaved responders do not answer it, so two
            # auto-responders cannot loop. Exchange reads X-Auto-Response-Suppress instead.
            "Auto-Submitted": "auto-generated",
            "X-Auto-Response-Suppress": "All",
        }
        msgid = None
        if customer_mail and self.case is not None:
            msgid = make_message_id(
                case_id=self.case.pk,
                nonce=f"n{secrets.token_hex(6)}",
                key=signing_key(),
                domain=message_id_domain(),
            )
            headers["Message-ID"] = f"<{msgid}>"
            if gate is not None and gate.message_id:
                headers["In-Reply-To"] = f"<{gate.message_id}>"
                headers["References"] = f"<{gate.message_id}>"
            body = body.rstrip() + (
                f"\n\n-- \nCase {self.case.reference}: reply to this email to add to the case.\n"
                f"{make_reply_token(self.case.pk, signing_key())}\n"
            )
        row = Outbox(
            dedup_key=key,
            channel=Channel.EMAIL,
            kind=self.spec.key,
            recipient=address,
            from_address=settings.DEFAULT_FROM_EMAIL,
            to=[address],
            subject=subject[:400],
            body_text=body,
            body_html=templating.to_html(body),
            headers=headers,
            header_message_id=msgid,
            case=self.case,
            status=OutboxStatus.PENDING,
            next_attempt_at=self.now,
            created_at=self.now,
        )
        self.work.insert(row, ignore_conflicts=True)
        self._count(address)
        self.sent.emails.append(row)
        return row

    def _key(self, channel: str, recipient: str) -> str:
        key = f"{self.dedup_key}:{channel}:{recipient}"
        # The column holds 200 characters: a longer key keeps its start and a digest of the whole.
        return key if len(key) <= 200 else f"{key[:150]}#{hashlib.sha256(key.encode()).hexdigest()[:40]}"

    def _new_key(self, model, key: str) -> bool:
        """Not queued before, in this write or (unless the caller said the trigger is fresh) earlier."""
        keys = self.state.setdefault("keys", set())
        if key in keys:
            return False
        keys.add(key)
        return self.fresh or not model.objects.filter(dedup_key=key).exists()

    # --- rate limits -------------------------------------------------------------------------------

    def _recent(self, recipient: str) -> list[int | None]:
        """Case ids of what `recipient` was sent within the window (one query per recipient per write),
        plus what this write queued."""
        recent = self.state.setdefault("recent", {})
        if recipient not in recent:
            since = self.now - _window()
            recent[recipient] = list(
                Outbox.objects.filter(recipient=recipient, created_at__gte=since).values_list(
                    "case_id", flat=True
                )
            )
        return recent[recipient]

    def _count(self, recipient: str) -> None:
        # Only counted where a limit was read (an essential kind costs no query for it).
        recent = self.state.setdefault("recent", {}).get(recipient)
        if recent is not None:
            recent.append(self.case.pk if self.case is not None else None)

    def _rate_limited(self, recipient: str) -> str:
        if self.spec.essential:
            return ""
        recent = self._recent(recipient)
        limits = settings.CASEWORK
        window = int(_window().total_seconds() // 60)
        if self.case is not None and recent.count(self.case.pk) >= limits["NOTIFY_RATE_PER_CASE"]:
            return (
                f"rate limit: {limits['NOTIFY_RATE_PER_CASE']} notifications about this case in {window} min"
            )
        if len(recent) >= limits["NOTIFY_RATE_PER_RECIPIENT"]:
            return f"rate limit: {limits['NOTIFY_RATE_PER_RECIPIENT']} notifications in {window} min"
        return ""

    # --- preferences -----------------------------------------------------------------------------

    def _customer_pref(self, customer: Customer) -> CustomerPreference:
        cache = self.state.setdefault("customer_prefs", {})
        if customer.pk not in cache:
            cache[customer.pk] = CustomerPreference.objects.filter(
                customer_id=customer.pk
            ).first() or CustomerPreference(customer_id=customer.pk)
        return cache[customer.pk]

    def _customer_language(self, customer: Customer) -> str:
        return (self._customer_pref(customer).language or "").lower() if customer.pk else ""

    def _agent_pref(self, user) -> AgentPreference:
        """The agent's preferences (defaults when they never saved any). All agents' rows are one cached
        read per configuration version (the table is watched: an agent's edit, or the digest stamping
        `last_digest_at`, is seen by the next write), so a write that alerts agents reads none."""
        saved = config_cache.cached(
            "notify-agent-preferences", lambda: {p.user_id: p for p in AgentPreference.objects.all()}
        )
        return saved.get(user.pk) or AgentPreference(user_id=user.pk)

    # --- rendering -------------------------------------------------------------------------------

    def _customer_url(self, customer: Customer) -> str:
        if self.case is None:
            return f"{settings.BASE_URL}/portal/"
        try:
            from casework.portal.links import case_url
        except ImportError:  # the portal is not installed: the customer still has the reply route
            return f"{settings.BASE_URL}/portal/"
        return case_url(self.case)

    def _context(self, *, recipient_name: str, customer: Customer | None, url: str) -> dict[str, Any]:
        case = self.case
        return {
            **self.extra,
            "case": case_facts(case, url=url) if case is not None else {},
            "customer": (
                {"name": customer.name or "there", "email": customer.email} if customer is not None else {}
            ),
            "recipient": {"name": recipient_name},
            "support": {"address": support_address(), "name": settings.CASEWORK["NOTIFY_SIGNATURE"]},
        }

    def _has_own(self, channel: str) -> bool:
        return notify_config().template(self.spec.key, channel, "", exact=True) is not None

    def _render(self, channel: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
        config = notify_config()
        template = config.template(self.spec.key, channel, language)
        try:
            return templating.render_subject(template.subject, context), templating.render(
                template.body, context
            )
        except templating.TemplateProblem:
            logger.exception(
                "notification template %s/%s/%s is broken; using the default",
                self.spec.key,
                channel,
                language,
            )
            fallback = config.shipped_template(self.spec.key)
            return templating.render_subject(fallback.subject, context), templating.render(
                fallback.body, context
            )

    def _timeline(self, reason: str, *, data: dict | None = None, why: str = "") -> None:
        if self.case is None:
            return
        from casework.cases.services import case_record_system_event

        payload = {"notification": data or {"kind": self.spec.key, "skipped": why}}
        case_record_system_event(
            case=self.case, kind=EventKind.NOTE, actor="notify", reason=reason[:1000], data=payload
        )


def case_facts(case: Case, *, url: str) -> dict[str, Any]:
    """What templates may know about a case."""
    summary = " ".join((case.description or case.subject or "").split())
    if len(summary) > 300:
        summary = summary[:297].rsplit(" ", 1)[0] + "…"
    return {
        "reference": case.reference,
        "subject": case.subject,
        "status": case.get_status_display(),
        "priority": case.get_priority_display(),
        "summary": summary or case.subject,
        "url": url,
    }
