"""IMAP polling: fetch new mail from each enabled Mailbox and hand it to `ingest_many` in batches.

A message is fetched with BODY.PEEK (so fetching does not mark it seen) and moved to the processed folder
(or flagged \\Seen) only after `ingest_many` yielded its result, i.e. after its transaction committed. A
crash in between leaves the mail in the inbox; the next poll sees it again and idempotency reports a
duplicate, which is then moved. Nothing is lost and nothing is stored twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import Mailbox
from .services import IngestResult, ingest_many

logger = logging.getLogger(__name__)


@dataclass
class PollResult:
    mailbox: str
    fetched: int = 0
    results: list[IngestResult] = field(default_factory=list)
    error: str = ""

    def as_json(self) -> dict:
        outcomes: dict[str, int] = {}
        for result in self.results:
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
        return {"mailbox": self.mailbox, "fetched": self.fetched, "outcomes": outcomes, "error": self.error}


def _connect(mailbox: Mailbox):
    from imap_tools import MailBox, MailBoxUnencrypted

    cls = MailBox if mailbox.use_tls else MailBoxUnencrypted
    client = cls(mailbox.host, mailbox.port, timeout=30)
    return client.login(mailbox.username, mailbox.password(), initial_folder=mailbox.folder)


def _fetch_raw(client, uid: str) -> bytes | None:
    status, data = client.client.uid("FETCH", uid, "(BODY.PEEK[])")
    if status != "OK":
        return None
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            return item[1]
    return None


def poll_mailbox(mailbox: Mailbox, *, limit: int | None = None) -> PollResult:
    """One poll of one mailbox. Errors are recorded on the Mailbox (last_error) and in the result."""
    if transaction.get_connection().in_atomic_block:
        # Inside an outer transaction "committed" would not mean committed: refuse rather than risk
        # moving a mail whose case could still roll back.
        raise RuntimeError("poll_mailbox must run outside a transaction")
    limit = limit or settings.CASEWORK["IMAP_BATCH"]
    result = PollResult(mailbox=mailbox.name)
    started = timezone.now()
    try:
        with _connect(mailbox) as client:
            if mailbox.processed_folder and not client.folder.exists(mailbox.processed_folder):
                client.folder.create(mailbox.processed_folder)
            # With a processed folder everything left in the folder is new; otherwise "new" is unseen.
            criteria = "ALL" if mailbox.processed_folder else "UNSEEN"
            uids = client.uids(criteria)[:limit]
            batch = settings.CASEWORK["INTAKE_BATCH"]
            for start in range(0, len(uids), batch):
                fetched = [(uid, _fetch_raw(client, uid)) for uid in uids[start : start + batch]]
                fetched = [(uid, raw) for uid, raw in fetched if raw is not None]
                result.fetched += len(fetched)
                outcomes = ingest_many(
                    (raw for _, raw in fetched), source=f"imap:{mailbox.name}", mailbox=mailbox
                )
                for (uid, _), outcome in zip(fetched, outcomes, strict=False):
                    result.results.append(outcome)
                    # Reached only after the transaction that stored this mail committed.
                    if mailbox.processed_folder:
                        client.move(uid, mailbox.processed_folder)
                    else:
                        client.flag(uid, "\\Seen", True)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"[:1000]
        logger.exception("polling mailbox %s failed", mailbox.name)
    Mailbox.objects.filter(pk=mailbox.pk).update(
        last_polled_at=started,
        last_error=result.error,
        **({} if result.error else {"last_success_at": started}),
    )
    return result


def poll_all_mailboxes(*, name: str | None = None) -> list[PollResult]:
    boxes = Mailbox.objects.filter(enabled=True)
    if name:
        boxes = Mailbox.objects.filter(name=name)
    return [poll_mailbox(box) for box in boxes.order_by("name")]
