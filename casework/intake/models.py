"""Email intake rows: every raw mail received (InboundMail), mails held back (Quarantine), IMAP mailboxes.

Case changes never happen here; `intake.services` hands parsed mail to `cases.services`.
"""

from __future__ import annotations

import os
import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class Outcome(models.TextChoices):
    INGESTED = "ingested", "Opened a case"
    THREADED = "threaded", "Added to a case"
    DUPLICATE = "duplicate", "Duplicate"  # never stored as a row; reported by ingest_raw only
    QUARANTINED = "quarantined", "Quarantined"
    IGNORED_AUTO_REPLY = "ignored_auto_reply", "Ignored auto-reply"
    IGNORED_OWN = "ignored_own", "Ignored: sent by us"
    BOUNCE = "bounce", "Bounce"


class InboundMail(models.Model):
    """One row per distinct mail received, whatever happened to it: the idempotency key and the audit trail.

    `dedup_key` is "mid:<Message-ID>" or, when the mail has none, "sha256:<hash of the raw bytes>"; its
    unique constraint is what makes every intake path (IMAP, pipe, mbox, HTTP) exactly-once."""

    dedup_key = models.CharField(max_length=520, unique=True)
    header_message_id = models.CharField("Message-ID", max_length=500, blank=True, db_index=True)
    fingerprint = models.CharField(max_length=64)
    source = models.CharField(max_length=120, help_text="imap:<mailbox>, pipe, mbox, http or release")
    mailbox = models.ForeignKey("Mailbox", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    received_at = models.DateTimeField(db_index=True)
    from_address = models.CharField(max_length=320, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    # Kept in the database rather than on disk so the row and its bytes commit (or vanish) together.
    raw = models.BinaryField(editable=False)
    size = models.PositiveBigIntegerField(default=0)
    kind = models.CharField(max_length=20, blank=True, help_text="normal, auto_reply or bounce")
    outcome = models.CharField(max_length=30, choices=Outcome.choices)
    reason = models.TextField(blank=True)
    summary = models.JSONField(default=dict, blank=True)
    case = models.ForeignKey(
        "cases.Case", on_delete=models.SET_NULL, null=True, blank=True, related_name="inbound_mails"
    )
    message = models.ForeignKey(
        "cases.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    matched_by = models.CharField(max_length=40, blank=True)
    evidence = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["from_address", "received_at"], name="inbound_sender_received")]

    def __str__(self) -> str:
        return f"{self.received_at:%Y-%m-%d %H:%M} {self.from_address} {self.get_outcome_display()}"


class QuarantineState(models.TextChoices):
    HELD = "held", "Held"
    RELEASED = "released", "Released"
    DISCARDED = "discarded", "Discarded"


class QuarantineReason(models.TextChoices):
    UNPARSEABLE = "unparseable", "Cannot be parsed"
    NOT_ACCEPTABLE = "not_acceptable", "No sender or no content"
    TOO_LARGE = "too_large", "Over the size limit"
    RATE_LIMITED = "rate_limited", "Sender rate limit"
    REJECTED = "rejected", "Refused by the case service"


class Quarantine(models.Model):
    """A mail that could not be attached to a case, kept with its raw bytes until an agent decides."""

    inbound = models.OneToOneField(InboundMail, on_delete=models.CASCADE, related_name="quarantine")
    raw = models.BinaryField(editable=False)
    reason_code = models.CharField(max_length=30, choices=QuarantineReason.choices)
    reason_text = models.TextField()
    source = models.CharField(max_length=120)
    from_address = models.CharField(max_length=320, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(db_index=True)
    state = models.CharField(max_length=20, choices=QuarantineState.choices, default=QuarantineState.HELD)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True, help_text="What release or discard did (case reference, error)")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "quarantine"
        indexes = [models.Index(fields=["state", "-created_at"], name="quarantine_state_created")]

    def __str__(self) -> str:
        return f"{self.from_address or '(no sender)'}: {self.subject or '(no subject)'}"


class Mailbox(models.Model):
    """An IMAP mailbox casework polls. The password never sits in the database: it is read from the
    environment variable named in `password_env`, or CASEWORK_MAILBOX_<NAME>_PASSWORD (or its _FILE)."""

    name = models.SlugField(max_length=50, unique=True)
    host = models.CharField(max_length=253)
    port = models.PositiveIntegerField(default=993)
    use_tls = models.BooleanField("TLS (IMAPS)", default=True, help_text="Off for plain IMAP on port 143.")
    username = models.CharField(max_length=320)
    password_env = models.CharField(
        max_length=100, blank=True, help_text="Name of the environment variable that holds the password."
    )
    folder = models.CharField(max_length=200, default="INBOX")
    processed_folder = models.CharField(
        max_length=200, blank=True, help_text="Move handled mail here; empty = only flag it as seen."
    )
    enabled = models.BooleanField(default=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "mailboxes"

    def __str__(self) -> str:
        return f"{self.name} ({self.username}@{self.host})"

    @property
    def default_password_env(self) -> str:
        return f"CASEWORK_MAILBOX_{re.sub(r'[^A-Z0-9]', '_', self.name.upper())}_PASSWORD"

    def password(self) -> str:
        from casework.core.env import env_str

        name = self.password_env or self.default_password_env
        value = env_str(name, "")
        if not value and name not in os.environ:
            raise ImproperlyConfigured(f"mailbox {self.name}: set {name} (or {name}_FILE) to its password")
        return value
