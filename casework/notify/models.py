"""The outbox and the notification engine's data.

Outbox: every mail or Slack post casework sends is a row here first, delivered by the worker (never sent
inside a request's transaction, claimed with a lease, retried with backoff, failures visible on the case).
See casework/notify/README.md for the delivery guarantee.

Notification engine (engine.py): kinds, their recipients and channels, and their templates are rows an
admin edits; preferences (language, opt-outs, daily digest), the suppression list, team Slack channels
and the in-app notifications agents read."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SLACK = "slack", "Slack"
    INAPP = "inapp", "In-app"


class Audience(models.TextChoices):
    CUSTOMER = "customer", "Customers"
    AGENT = "agent", "Agents"


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
    # email: an SMTP mail to `to`/`cc`; slack: `body_text` (and `payload`) POSTed to `endpoint`, a Slack
    # incoming-webhook URL. Both go through the same claim, lease and retries (delivery.py).
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    endpoint = models.URLField(max_length=500, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    # What the engine sent and to whom (an address, "slack:<team id>"): the rate limits count these.
    kind = models.CharField(max_length=50, blank=True)
    recipient = models.CharField(max_length=320, blank=True)
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
            models.Index(fields=["recipient", "created_at"], name="outbox_recipient_recent"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=OutboxStatus.values), name="outbox_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(channel__in=["email", "slack"]), name="outbox_channel_valid"
            ),
        ]

    def __str__(self) -> str:
        where = self.endpoint.split("/services/")[0] if self.channel == Channel.SLACK else ", ".join(self.to)
        return f"{self.subject} → {where} ({self.status})"


# --------------------------------------------------------------------------------------------------
# the notification engine's configuration (cached per configuration version, see core/config.py)
# --------------------------------------------------------------------------------------------------


class NotificationKind(models.Model):
    """One kind of notification (`acknowledgement`, `assigned`, `sla_at_risk`…). The code that decides to
    notify names the kind; whether it is on, who receives it and on which channels is this row."""

    key = models.SlugField(max_length=50, unique=True)
    label = models.CharField(max_length=100)
    audience = models.CharField(max_length=10, choices=Audience.choices)
    description = models.CharField(max_length=300, blank=True)
    enabled = models.BooleanField(default=True)
    essential = models.BooleanField(
        default=False,
        help_text="Essential kinds cannot be opted out of and are not rate limited (an acknowledgement, "
        "a sign-in link, a case assigned to you).",
    )
    channels = models.JSONField(
        default=list, blank=True, help_text='Channels used: any of "email", "slack", "inapp".'
    )
    recipients = models.JSONField(
        default=list,
        blank=True,
        help_text='Who receives it: any of "customer", "assignee", "team_lead", "team", "mentioned", '
        '"notified" (the people the triggering event names).',
    )

    class Meta:
        ordering = ["audience", "key"]

    def __str__(self) -> str:
        return self.label

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from .kinds import ROLES

        bad = [c for c in self.channels or [] if c not in Channel.values]
        if bad:
            raise ValidationError({"channels": f"unknown channels {bad}; use {Channel.values}"})
        bad = [r for r in self.recipients or [] if r not in ROLES]
        if bad:
            raise ValidationError({"recipients": f"unknown recipients {bad}; use {sorted(ROLES)}"})


class NotificationTemplate(models.Model):
    """Subject and body of one kind on one channel, in one language ("" = the default). Django template
    syntax over a fixed, plain context (templating.py): no model objects, no tags that load or include."""

    kind = models.ForeignKey(NotificationKind, on_delete=models.CASCADE, related_name="templates")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    language = models.CharField(
        max_length=10, blank=True, help_text='An ISO code such as "de"; empty for the default template.'
    )
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField()

    class Meta:
        ordering = ["kind__key", "channel", "language"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "channel", "language"], name="notify_template_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind.key} · {self.channel} · {self.language or 'default'}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from .templating import TemplateProblem, check

        for name in ("subject", "body"):
            try:
                check(getattr(self, name))
            except TemplateProblem as exc:
                raise ValidationError({name: str(exc)}) from exc


class TeamChannel(models.Model):
    """Where a team's alerts go on Slack: an incoming-webhook URL (kept secret: it is the credential)."""

    team = models.OneToOneField("people.Team", on_delete=models.CASCADE, related_name="notify_channel")
    slack_webhook_url = models.URLField(max_length=500, blank=True)
    enabled = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.team} on Slack"


# --------------------------------------------------------------------------------------------------
# people's choices and the suppression list
# --------------------------------------------------------------------------------------------------


class Suppression(models.Model):
    """An address casework never sends automated mail to: a hard bounce, a complaint, or an admin's
    choice. Replies an agent writes still go (they are a person's decision)."""

    class Source(models.TextChoices):
        BOUNCE = "bounce", "Hard bounce"
        COMPLAINT = "complaint", "Complaint"
        MANUAL = "manual", "Added by an admin"

    address = models.CharField(max_length=320, unique=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.MANUAL)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["address"]

    def __str__(self) -> str:
        return self.address

    def save(self, *args, **kwargs) -> None:
        self.address = self.address.strip().lower()
        super().save(*args, **kwargs)


class CustomerPreference(models.Model):
    customer = models.OneToOneField(
        "people.Customer", on_delete=models.CASCADE, related_name="notify_preference"
    )
    language = models.CharField(max_length=10, blank=True, help_text='ISO code such as "de".')
    muted_kinds = models.JSONField(default=list, blank=True, help_text="Non-essential kinds not sent.")

    def __str__(self) -> str:
        return f"{self.customer}"


class AgentPreference(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notify_preference"
    )
    muted_kinds = models.JSONField(default=list, blank=True, help_text="Non-essential kinds not sent.")
    muted_channels = models.JSONField(
        default=list, blank=True, help_text='Channels not used for this agent: "email" and/or "slack".'
    )
    daily_digest = models.BooleanField(
        default=False,
        help_text="Non-essential notifications arrive as one email a day instead of one each "
        "(they still appear in the app at once).",
    )
    last_digest_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user}"


class Notification(models.Model):
    """An in-app notification: the list page and the unread counter in the agent UI's header."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=50)
    case = models.ForeignKey(
        "cases.Case", on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    dedup_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)
    # Sent in a daily digest (agents who chose one): set by the digest job, so a mail holds each once.
    digested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "read_at", "-created_at"], name="notification_inbox"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.title}"
