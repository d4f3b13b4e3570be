"""Saved report definitions and who gets the scheduled report mails."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from casework.core.models import TimeStampedModel


class SavedReport(TimeStampedModel):
    """A metric with its range length, filters and options, to run again later ("my Monday report")."""

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_reports"
    )
    metric = models.CharField(max_length=50)
    # The filters and options as query parameters; `days` instead of fixed dates keeps "last 30 days" moving.
    params = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="savedreport_owner_name")]

    def __str__(self) -> str:
        return self.name


class ReportKind(models.TextChoices):
    DAILY = "daily", "Daily summary"
    WEEKLY = "weekly", "Weekly volume and quality report"


class ReportSubscription(TimeStampedModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_subscriptions"
    )
    kind = models.CharField(max_length=10, choices=ReportKind.choices)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["kind", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="reportsub_user_kind"),
            models.CheckConstraint(condition=Q(kind__in=ReportKind.values), name="reportsub_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_kind_display()}"
