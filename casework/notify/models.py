"""The outbox: every mail casework sends is a row here first, delivered by the worker (never sent inside a
request's transaction, claimed with a lease, retried with backoff, failures visible on the case).
See casework/notify/README.md for the delivery guarantee."""

from __future__ import annotations

import uuid

from django.db import models


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class IdempotencyKeyField(models.CharField):
    """A required unique key that fills itself in (`outbox:<random>`) when a row is inserted without one,
    through `create()` and `bulk_create()` alike, so no code path can queue a row without a key."""

    def pre_save(self, model_instance, add):
        if add and not getattr(model_instance, self.attname):
            setattr(model_instance, self.attname, f"outbox:{uuid.uuid4().hex}")
        return super().pre_save(model_instance, add)


class Outbox(models.Model):
    # The idempotency key: "reply:<message pk>" is queued once however often it is asked for. Every row has
    # one; a row queued without a key of its own gets a random one on insert.
    dedup_key = IdempotencyKeyField(max_length=200, unique=True)
    from_address = models.CharField(max_length=320)
    to = models.JSONField(default=list)
    cc = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=400)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    # Message-ID, In-Reply-To, References and any other header, exactly as they go on the wire.
    headers = models.JSONField(default=dict, blank=True)
    # The Message-ID without <>, unique: bounces find their row by it.
    header_message_id = models.CharField(max_length=500, unique=True, null=True, blank=True)
    case = models.ForeignKey(
        "cases.Case", on_delete=models.SET_NULL, null=True, blank=True, related_name="outbox"
    )
    message = models.ForeignKey(
        "cases.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="outbox"
    )
    status = models.CharField(max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # The delivery lease: while `sending`, the row belongs to `claimed_by` until `lease_expires_at`, which
    # that worker renews while the SMTP conversation lasts. An expired lease means the worker died: the
    # row is claimable again (a reclaim, counted in `reclaims`, possibly a duplicate; see delivery.py).
    claimed_by = models.CharField(max_length=100, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    reclaims = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "outbox"
        # The worker asks "anything to send?" every second: both halves of that question are index reads.
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due"),
            models.Index(fields=["status", "lease_expires_at"], name="outbox_lease"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=OutboxStatus.values), name="outbox_status_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {', '.join(self.to)} ({self.status})"
