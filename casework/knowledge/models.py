"""Knowledge base: articles, their links to cases, canned responses and macros, and the record of what
suggestions customers and agents were shown (deflection and gaps are counted from it)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from casework.cases.models import Case, Category, Tag
from casework.core.models import TimeStampedModel


class Visibility(models.TextChoices):
    PUBLIC = "public", "Public (customers)"
    INTERNAL = "internal", "Internal (agents)"


class ArticleStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    ARCHIVED = "archived", "Archived"


class Article(TimeStampedModel):
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True, allow_unicode=True)
    body = models.TextField(help_text="Markdown")
    # Rendered from `body` by markdown-it-py and cleaned by nh3 on every save (render.py).
    body_html = models.TextField(editable=False, default="")
    # The body as plain words (search index, excerpts) and the tags as words: what the index reads.
    plain = models.TextField(editable=False, default="")
    keywords = models.TextField(editable=False, default="")
    category = models.ForeignKey(Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    tags = models.ManyToManyField(Tag, blank=True, related_name="articles")
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.INTERNAL)
    status = models.CharField(max_length=10, choices=ArticleStatus.choices, default=ArticleStatus.DRAFT)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    review_at = models.DateField(null=True, blank=True, help_text="When the owner should check it again")
    published_at = models.DateTimeField(null=True, blank=True)
    source_case = models.ForeignKey(
        Case, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="The resolved case this article was written from",
    )  # fmt: skip
    linked_cases = models.ManyToManyField(Case, through="ArticleLink", related_name="articles", blank=True)

    class Meta:
        ordering = ["title"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ArticleStatus.values), name="article_status"
            ),
            models.CheckConstraint(
                condition=models.Q(visibility__in=Visibility.values), name="article_visibility"
            ),
        ]
        indexes = [models.Index(fields=["status", "visibility"], name="article_status_vis")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_public(self) -> bool:
        return self.status == ArticleStatus.PUBLISHED and self.visibility == Visibility.PUBLIC


class ArticleLink(models.Model):
    """An article used on a case (sent in a reply, or linked by an agent)."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="links")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="article_links")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["article", "case"], name="article_link_once")]

    def __str__(self) -> str:
        return f"article {self.article_id} on case {self.case_id}"


class SuggestionSession(models.Model):
    """What one visitor of the web form was suggested while typing, what they opened, and whether they
    still sent a request: deflection = sessions with an opened article and no request."""

    token = models.CharField(max_length=64, unique=True)
    query = models.CharField(max_length=500, blank=True)
    shown = models.JSONField(default=list, blank=True)  # article ids, best first, of the latest query
    opened = models.ForeignKey(Article, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    opened_at = models.DateTimeField(null=True, blank=True)
    submitted_case = models.ForeignKey(
        Case, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"suggestion session {self.token[:8]}…"


class Macro(TimeStampedModel):
    """A canned response an agent picks in the composer, optionally with field changes applied in the same
    write (status, priority, tags, team). Shared when it has no owner, personal to its owner otherwise.
    The text may come from a triage `CannedReply` (the replies rules send), so one wording serves both.

    Placeholders in the text: {customer_name} {reference} {subject} {agent_name} {sla_due}."""

    name = models.CharField(max_length=100)
    body = models.TextField(blank=True, help_text="Leave empty to use the canned reply's text")
    canned_reply = models.ForeignKey(
        "triage.CannedReply", on_delete=models.SET_NULL, null=True, blank=True, related_name="macros"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="macros",
        help_text="Empty: shared with every agent",
    )  # fmt: skip
    internal = models.BooleanField(default=False, help_text="Add the text as an internal note")
    set_status = models.CharField(max_length=20, blank=True)
    set_priority = models.CharField(max_length=10, blank=True)
    add_tags = models.JSONField(default=list, blank=True)
    remove_tags = models.JSONField(default=list, blank=True)
    set_team = models.ForeignKey(
        "people.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    active = models.BooleanField(default=True)
    uses = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["name", "owner"], name="macro_name_per_owner"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(owner__isnull=True), name="macro_shared_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def text(self) -> str:
        return self.body or (self.canned_reply.body if self.canned_reply_id else "")


class DraftOutcome(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    SENT = "sent", "Sent as proposed"
    EDITED = "edited", "Sent after editing"
    DISCARDED = "discarded", "Discarded"


class ReplyDraft(models.Model):
    """A reply proposed by a drafting provider; never sent by itself. What the agent did with it is kept."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="reply_drafts")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    provider = models.CharField(max_length=50)
    text = models.TextField()
    sources = models.JSONField(default=list, blank=True)  # [{"kind": "article"|"case", "id", "title", "url"}]
    outcome = models.CharField(max_length=10, choices=DraftOutcome.choices, default=DraftOutcome.PROPOSED)
    error = models.CharField(max_length=500, blank=True)
    # False while the worker asks the HTTP provider (the offline text is shown meanwhile).
    ready = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"draft {self.pk} for case {self.case_id} ({self.outcome})"
