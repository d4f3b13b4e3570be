"""Issuing and revoking API tokens: the one place the command line, the workspace and the admin use.
Tokens are a user's own credentials; issue 17 (roles and scopes) decides who else may manage them."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from casework.core.errors import NotFound, ValidationFailed

from .models import ApiToken


def token_issue(*, user: Any, name: str = "") -> tuple[ApiToken, str]:
    """A new token for `user`; returns the row and the secret, which is shown once and never stored."""
    if not user.is_active:
        raise ValidationFailed(f"User '{user.username}' is inactive", code="inactive_user")
    name = (name or "").strip()
    if len(name) > 100:
        raise ValidationFailed("A token name is at most 100 characters", code="invalid_name")
    return ApiToken.issue(user, name=name)


def token_revoke(*, user: Any, token_id: int) -> ApiToken:
    """Revoke one of `user`'s own tokens (someone else's token is not found, not forbidden)."""
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise NotFound("No such token", code="token_not_found")
    if not token.revoked:
        token.revoked = True
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked", "revoked_at"])
    return token


def tokens_of(user: Any):
    return ApiToken.objects.filter(user=user).order_by("revoked", "-created_at")
