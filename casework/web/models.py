"""Saved queue views: a name for a set of queue filters, personal or shared with the team."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SavedView(models.Model):
    name = models.CharField(max_length=80)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    shared = models.BooleanField(default=False, help_text="Everyone sees shared views in their sidebar.")
    # The queue's query string (view, filters, sort), as the queue URL carries it.
    query = models.CharField(max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="saved_view_owner_name")]

    def __str__(self) -> str:
        return self.name
