"""The portal's own bookkeeping: which sign-in links were used, and recent attempts for rate limits.

No case data lives here; cases, messages and customers stay in their apps and change only through the
door functions in `cases.services`."""

from __future__ import annotations

from django.db import models


class UsedLink(models.Model):
    """A sign-in link that was followed. The nonce is unique, so of two browsers following the same link
    at once exactly one signs in (the other gets the "already used" page)."""

    nonce = models.CharField(max_length=64, unique=True)
    customer = models.ForeignKey("people.Customer", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10)
    used_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.kind} link of {self.customer_id} used {self.used_at:%Y-%m-%d %H:%M}"


class Attempt(models.Model):
    """One counted attempt (a magic-link request, a web-form post) for a sliding-window rate limit."""

    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=320)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["scope", "key", "created_at"], name="portal_attempt_window")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key} at {self.created_at:%Y-%m-%d %H:%M:%S}"
