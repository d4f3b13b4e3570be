"""API tokens. Only a SHA-256 of the token is stored; the token itself is shown once, at creation."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models

SCOPES = ("read", "write", "admin")


def default_scopes() -> list[str]:
    # A new token reads and writes cases; configuration (rules, teams, organisations) needs "admin".
    return ["read", "write"]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise the token in lists.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    scopes = models.JSONField(default=default_scopes, help_text='Any of "read", "write", "admin".')
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @classmethod
    def issue(cls, user, name: str = "", scopes=None) -> tuple[ApiToken, str]:
        raw = "cw_" + secrets.token_urlsafe(32)
        scopes = list(default_scopes() if scopes is None else scopes)
        unknown = set(scopes) - set(SCOPES)
        if unknown:
            raise ValueError(f"Unknown scopes: {', '.join(sorted(unknown))}")
        token = cls.objects.create(
            user=user, name=name, prefix=raw[:10], key_hash=hash_token(raw), scopes=scopes
        )
        return token, raw

    def allows(self, scope: str) -> bool:
        # admin implies write implies read: a token made for configuration can also read it.
        held = set(self.scopes or ())
        return scope in held or (scope == "read" and bool(held)) or (scope == "write" and "admin" in held)
