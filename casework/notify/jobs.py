"""The outbox poller and the notification jobs.

The poller: every `casework worker` checks for due mail and Slack posts every
CASEWORK_OUTBOX_POLL_SECONDS (an index read) and sends them, so a reply leaves within about a second of
its commit without any after-commit callback. There is no periodic drain job on top: the poller already
covers retries and reclaims, and a job would only take a task slot every few seconds to do the same.
The follow-up jobs (followups.py) run every CASEWORK_NOTIFY_JOB_SECONDS; the digest job hourly, sending
each agent at most one digest a day."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from casework.core.scheduler import register
from casework.core.workers import register_poller

from . import followups
from .delivery import outbox_poll

register_poller("outbox", settings.CASEWORK["OUTBOX_POLL_SECONDS"], outbox_poll)

# Customer follow-ups and digests (followups.py): set-based, idempotent, each change through a door.
_every = timedelta(seconds=settings.CASEWORK["NOTIFY_JOB_SECONDS"])
register("notify-awaiting-client", _every, followups.awaiting_client_followups)
register("notify-resolved-autoclose", _every, followups.resolved_autoclose)
register("notify-critical-updates", _every, followups.critical_updates)
register("notify-agent-digests", timedelta(hours=1), followups.agent_digests)
