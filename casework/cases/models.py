"""The case core: Case, its append-only timeline (CaseEvent), messages, attachments and tasks.

Nothing outside `cases/services.py` writes these rows; see that module for the one door per write.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from casework.core.models import TimeStampedModel
from casework.people.models import Customer, Organisation, Team

from .status import OPEN_STATUSES, PRIORITY_RANK, Channel, Priority, Status, Tier


def new_public_token() -> str:
    return secrets.token_urlsafe(24)


class Category(models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class CustomFieldKind(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Yes / no"
    CHOICE = "choice", "Choice"
    DATE = "date", "Date"


class CustomFieldDefinition(models.Model):
    """A field of `Case.custom_fields` agents see and edit on the case page (rules test it; routing reads
    `product` as a skill). Values are checked by `custom_fields.clean_custom_fields`."""

    key = models.SlugField(max_length=50, unique=True, help_text="The key in the case's custom fields.")
    label = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=CustomFieldKind.choices, default=CustomFieldKind.TEXT)
    choices = models.JSONField(
        default=list, blank=True, help_text='For a choice: the allowed values, e.g. ["Web app", "Mobile"].'
    )
    help_text = models.CharField(max_length=300, blank=True)
    order = models.PositiveSmallIntegerField(default=100)
    active = models.BooleanField(default=True, help_text="Inactive fields are kept on cases but not edited.")

    class Meta:
        ordering = ["order", "label"]

    def __str__(self) -> str:
        return self.label

    def spec(self):
        from .custom_fields import FieldSpec

        return FieldSpec(key=self.key, label=self.label, kind=self.kind, choices=tuple(self.choices or ()))

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.kind == CustomFieldKind.CHOICE:
            if (
                not isinstance(self.choices, list)
                or not self.choices
                or not all(isinstance(c, str) and c.strip() for c in self.choices)
            ):
                raise ValidationError({"choices": "A choice field needs a list of non-empty values."})
        elif self.choices:
            raise ValidationError({"choices": "Only choice fields have choices."})


class Tag(models.Model):
    name = models.SlugField(max_length=50, unique=True, allow_unicode=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Case(models.Model):
    number = models.BigIntegerField(unique=True, editable=False)
    reference = models.CharField(max_length=20, unique=True, editable=False)
    public_token = models.CharField(max_length=64, unique=True, default=new_public_token, editable=False)
    subject = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="cases")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.SET_NULL, null=True, blank=True, related_name="cases"
    )
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.EMAIL)
    category = models.ForeignKey(
        Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="cases"
    )
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    tier = models.PositiveSmallIntegerField(choices=Tier.choices, default=Tier.L1)
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="cases")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_cases",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="cases")
    sentiment = models.FloatField(null=True, blank=True)
    frustrated = models.BooleanField(default=False)
    custom_fields = models.JSONField(default=dict, blank=True)
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged_cases"
    )
    follow_up_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="follow_ups",
        help_text="The closed case this one continues.",
    )
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    last_agent_message_at = models.DateTimeField(null=True, blank=True)
    reopen_count = models.PositiveIntegerField(default=0)
    # `open_flag` (status is one of OPEN_STATUSES; the `is_open` property is the in-memory view) and
    # `priority_rank` are computed by the database from `status` / `priority` on every write, whatever
    # writes them, so the queue walks an index in its order instead of sorting every open case through a
    # CASE expression or merging four status ranges. Read-only in Python; docs/scaling.md has the plans.
    # 1/0 rather than a boolean: Django writes `WHERE open_flag` for a boolean filter on SQLite, which
    # no index serves; `open_flag = 1` is an index equality on both databases.
    open_flag = models.GeneratedField(
        expression=models.Case(
            models.When(status__in=sorted(OPEN_STATUSES), then=models.Value(1)),
            default=models.Value(0),
            output_field=models.SmallIntegerField(),
        ),
        output_field=models.SmallIntegerField(),
        db_persist=True,
    )
    priority_rank = models.GeneratedField(
        expression=models.Case(
            *[models.When(priority=p, then=models.Value(rank)) for p, rank in PRIORITY_RANK.items()],
            default=models.Value(9),
            output_field=models.SmallIntegerField(),
        ),
        output_field=models.SmallIntegerField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=Status.values), name="case_status_valid"),
            models.CheckConstraint(condition=Q(priority__in=Priority.values), name="case_priority_valid"),
            models.CheckConstraint(condition=Q(channel__in=Channel.values), name="case_channel_valid"),
            models.CheckConstraint(condition=Q(tier__in=Tier.values), name="case_tier_valid"),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="case_status_created"),
            # Also covers routing's workload aggregate (open cases per assignee and priority).
            models.Index(fields=["assignee", "status", "priority"], name="case_assignee_load"),
            models.Index(fields=["team", "status"], name="case_team_status"),
            models.Index(fields=["priority", "status"], name="case_priority_status"),
            models.Index(fields=["customer", "-created_at"], name="case_customer_created"),
            # The queue's orders, walked in index order for the first page (no sort of every open case):
            # open newest/oldest, open by priority, one agent's open cases (?assignee=, "mine").
            models.Index(fields=["open_flag", "created_at", "id"], name="case_open_created"),
            models.Index(
                fields=["open_flag", "priority_rank", "created_at", "id"], name="case_open_priority"
            ),
            models.Index(
                fields=["assignee", "open_flag", "created_at", "id"], name="case_assignee_open_created"
            ),
            # Covers the sidebar counters: one pass over the open cases' index entries, no table reads.
            models.Index(
                fields=["open_flag", "status", "assignee", "priority_rank", "frustrated"],
                name="case_queue_counts",
            ),
            # Reports select cases first answered / resolved in a date range (reports/selectors.py).
            models.Index(fields=["first_response_at"], name="case_first_response_at"),
            models.Index(fields=["resolved_at"], name="case_resolved_at"),
            # The periodic counts over a window of recent cases (insights spikes per day, knowledge-gap
            # candidates): read from the index alone. Through `created_at` alone each case of the window
            # was a table read (62,000 in 30 days at 1,000,000 cases), and the per-category count took
            # the category index over every case instead (2 s).
            models.Index(
                fields=["created_at", "category", "organisation", "merged_into"], name="case_created_facets"
            ),
            # The daily resolution-time outliers: the window's resolved cases (priority, opened) from the
            # index alone (157,000 table reads in 90 days at 1,000,000 cases through `case_resolved_at`).
            models.Index(
                fields=["resolved_at", "status", "priority", "created_at", "merged_into"],
                name="case_resolved_facets",
            ),
            # Every case in "recently updated" order (API clients that sync by ?ordering=updated) and every
            # case of one category newest first: without them SQLite sorted 1,000,000 and 125,000 cases
            # for a 25-row page (1.0 s each at 1M).
            models.Index(fields=["updated_at", "id"], name="case_updated"),
            models.Index(fields=["category", "created_at", "id"], name="case_category_created"),
            # Every case in priority order (the "all" view sorted by priority): without it both databases
            # sorted all 1,000,000 cases for one page (SQLite 1.2-1.5 s, PostgreSQL 0.5-0.7 s). Open and
            # closed cases in priority order walk case_open_priority (the closed view is open_flag = 0).
            models.Index(fields=["priority_rank", "created_at", "id"], name="case_priority_created"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.subject}"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("web:case", args=[self.reference])

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class EventKind(models.TextChoices):
    OPENED = "opened", "Opened"
    MESSAGE_ADDED = "message_added", "Message added"
    FIRST_RESPONSE = "first_response", "First response"
    STATUS_CHANGED = "status_changed", "Status changed"
    ASSIGNED = "assigned", "Assigned"
    TEAM_CHANGED = "team_changed", "Team changed"
    PRIORITY_CHANGED = "priority_changed", "Priority changed"
    CATEGORY_CHANGED = "category_changed", "Category changed"
    TAGS_CHANGED = "tags_changed", "Tags changed"
    ESCALATED = "escalated", "Escalated"
    DE_ESCALATED = "de_escalated", "De-escalated"
    MERGED = "merged", "Merged"
    MERGED_INTO = "merged_into", "Merged into another case"
    REOPENED = "reopened", "Reopened"
    FOLLOW_UP_OPENED = "follow_up_opened", "Follow-up case opened"
    TASK_ADDED = "task_added", "Task added"
    TASK_COMPLETED = "task_completed", "Task completed"
    ATTACHMENT_ADDED = "attachment_added", "Attachment added"
    CALL_LOGGED = "call_logged", "Phone call logged"
    SENTIMENT_CHANGED = "sentiment_changed", "Sentiment changed"
    FIELD_CHANGED = "field_changed", "Field changed"
    RULE_APPLIED = "rule_applied", "Rule applied"
    SLA = "sla", "SLA"
    NOTE = "note", "System note"


class CaseEvent(models.Model):
    """One row per change: the audit trail, the timeline and the source for reports and notifications.

    Append-only: never updated or deleted by the application (retention jobs aside)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Who or what acted when it was not a user: "system", "rule:Outage", "customer:ann@example.com", "api".
    actor_label = models.CharField(max_length=200, blank=True)
    old = models.JSONField(null=True, blank=True)
    new = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    # Machine-readable explanation of an automated decision (which rule/signal/score), shown on the timeline.
    data = models.JSONField(default=dict, blank=True)
    message = models.ForeignKey("Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["case", "created_at"], name="event_case_created"),
            models.Index(fields=["kind", "created_at"], name="event_kind_created"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def actor_display(self) -> str:
        if self.actor_id:
            return self.actor.get_full_name() or self.actor.username
        return self.actor_label or "system"


class MessageKind(models.TextChoices):
    CUSTOMER = "customer", "Customer message"
    REPLY = "reply", "Public reply"
    NOTE = "note", "Internal note"
    CALL = "call", "Phone call"
    SYSTEM = "system", "Automatic message"


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class Message(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=20, choices=MessageKind.choices)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    author_customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField()
    body_html = models.TextField(blank=True)
    # Email threading: stored for every inbound and outbound mail so replies can find their case.
    message_id = models.CharField(max_length=500, null=True, blank=True, unique=True)
    in_reply_to = models.CharField(max_length=500, blank=True)
    # Why this message landed on this case (threading signal, evidence) and channel specifics (call
    # direction and duration, chat session) live here so new channels need no schema change.
    meta = models.JSONField(default=dict, blank=True)
    sentiment = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["case", "created_at"], name="message_case_created"),
            # Counting a case's agent replies and calls (first-contact resolution, reports/selectors.py)
            # from the index alone: 0.65 → 0.39 s for a week of resolved cases at a million cases.
            models.Index(fields=["case", "kind", "author_user"], name="message_case_kind_author"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.case_id}"

    @property
    def is_public(self) -> bool:
        return self.kind != MessageKind.NOTE

    @property
    def author_display(self) -> str:
        if self.author_user_id:
            return self.author_user.get_full_name() or self.author_user.username
        if self.author_customer_id:
            return self.author_customer.display_name
        return self.meta.get("author_label", "casework")


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{instance.case_id}/{secrets.token_hex(8)}/{filename}"


class Attachment(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="attachments"
    )
    file = models.FileField(upload_to=attachment_path, max_length=500)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=200, default="application/octet-stream")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    inline = models.BooleanField(default=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.filename


class Task(TimeStampedModel):
    """An internal investigation task on a case (check logs, ask engineering, call back)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=300)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="case_tasks"
    )
    due_at = models.DateTimeField(null=True, blank=True)
    done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["done", "due_at", "id"]

    def __str__(self) -> str:
        return self.title


class Mention(models.Model):
    """An agent named with @username in a note or reply, found when the message is written (the
    "mentioned me" list and the mention notification read these, not the message text)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="mentions")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="mentions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mentions")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["message", "user"], name="mention_once_per_message")]
        indexes = [models.Index(fields=["user", "case"], name="mention_user_case")]

    def __str__(self) -> str:
        return f"@{self.user_id} on message {self.message_id}"
