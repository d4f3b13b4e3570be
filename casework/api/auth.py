"""Bearer-token authentication for the API. Tokens are compared by hash; the session is not used, so
the API needs no CSRF token."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from ninja.errors import AuthorizationError
from ninja.security import HttpBearer

from casework.people.permissions import is_agent

from .models import ApiToken, hash_token

# Writing last_used_at on every request would turn every read into a write; once a minute is enough.
_TOUCH_EVERY = timedelta(minutes=1)


class TokenAuth(HttpBearer):
    def authenticate(self, request, token: str):
        token = (token or "").strip()
        if not token or len(token) > 200:
            return None
        found = (
            ApiToken.objects.select_related("user", "user__agent")
            .filter(key_hash=hash_token(token), revoked=False, user__is_active=True)
            .first()
        )
        if found is None:
            return None
        if not is_agent(found.user):
            raise AuthorizationError(
                message="This token's user is not an agent; ask an admin to add an agent profile"
            )
        now = timezone.now()
        if found.last_used_at is None or now - found.last_used_at > _TOUCH_EVERY:
            ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
        request.user = found.user
        return found.user
