"""CSAT answers (one per case) and the manager reviews low scores open."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class CsatAnswer(models.Model):
    """The customer's rating of the help on a case. One per case: a later click within
    CASEWORK_CSAT_CHANGE_DAYS of the first answer changes it (`changes` counts how often)."""

    case = models.OneToOneField("cases.Case", on_delete=models.CASCADE, related_name="csat")
    customer = models.ForeignKey(
        "people.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    # Which resolution of the case the survey was about (1 = the first; a reopened case is resolved again).
    resolution = models.PositiveIntegerField(default=1)
    first_answered_at = models.DateTimeField()
    answered_at = models.DateTimeField(db_index=True)
    changes = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(score__gte=1, score__lte=5), name="csat_score_1_5")]

    def __str__(self) -> str:
        return f"{self.score}/5 on case {self.case_id}"


class ReviewOutcome(models.TextChoices):
    COACHING = "coaching", "Coaching"
    PROCESS_FIX = "process_fix", "Process fix"
    NO_ACTION = "no_action", "No action"


class ReviewStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class CsatReview(models.Model):
    """A manager review of a low score, for the lead of the case's team."""

    answer = models.OneToOneField(CsatAnswer, on_delete=models.CASCADE, related_name="review")
    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="csat_reviews")
    team = models.ForeignKey(
        "people.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="csat_reviews",
    )
    # The score that opened the review (the answer may change afterwards; the queue shows both).
    opening_score = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.OPEN)
    outcome = models.CharField(max_length=20, choices=ReviewOutcome.choices, blank=True)
    note = models.TextField(blank=True)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["status", "-opened_at"], name="csat_review_queue")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ReviewStatus.values), name="csat_review_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status="open", outcome="") | Q(status="closed") & ~Q(outcome=""),
                name="csat_review_closed_has_outcome",
            ),
        ]

    def __str__(self) -> str:
        return f"Review of case {self.case_id} ({self.status})"
