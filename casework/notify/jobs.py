"""The outbox poller: every `casework worker` checks for due mail every CASEWORK_OUTBOX_POLL_SECONDS (an
index read) and sends it, so a reply leaves within about a second of its commit without any after-commit
callback. There is no periodic drain job on top: the poller already covers retries and reclaims, and a
job would only take a task slot every few seconds to do the same."""

from __future__ import annotations

from django.conf import settings

from casework.core.workers import register_poller

from .delivery import outbox_poll

register_poller("outbox", settings.CASEWORK["OUTBOX_POLL_SECONDS"], outbox_poll)
