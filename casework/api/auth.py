"""Who may call the API, and with what: bearer tokens with scopes, and the inbound-mail secret.

- `TokenAuth(scope=None)`: an agent's token (compared by hash). The scope an operation needs is `read` for
  GET/HEAD, `write` otherwise, unless the operation names one (`auth=ADMIN`: rules, organisations, team
  settings). A token holding `admin` may also write and read; one holding `write` may read. The user's role
  (casework/people/permissions.py) is checked on top of the scope, in the selectors and door functions.
- `InboundSecret()`: the inbound-mail endpoint (and future webhooks) take a shared secret from
  CASEWORK_INBOUND_SECRET, never an agent token: a mail provider must not hold a person's credentials.
- Rate limits (casework/core/ratelimit.py): every API request counts against its client IP
  (CASEWORK_RATE_API_IP), tokens against their own budget (CASEWORK_RATE_API_TOKEN), inbound posts
  against CASEWORK_RATE_INBOUND_IP. Past a limit: 429 `rate_limited` with Retry-After.

The session is not used, so the API needs no CSRF token.
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from ninja.errors import AuthorizationError
from ninja.security import HttpBearer

from casework.core.errors import RateLimited
from casework.core.ratelimit import client_ip, hit
from casework.people.permissions import is_agent

from .models import ApiToken, hash_token

# Writing last_used_at on every request would turn every read into a write; once a minute is enough.
_TOUCH_EVERY = timedelta(minutes=1)
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _limit(scope: str, key, rate: str) -> None:
    usage = hit(scope, key, rate)
    if usage.limited:
        raise RateLimited(
            f"Too many requests; try again in {usage.retry_after} s",
            details={"retry_after": usage.retry_after, "limit": usage.limit},
        )


def required_scope(method: str, scope: str | None) -> str:
    return scope or ("read" if method.upper() in _READ_METHODS else "write")


class TokenAuth(HttpBearer):
    def __init__(self, scope: str | None = None) -> None:
        super().__init__()
        self.scope = scope

    def __call__(self, request):
        # Counted before the token is looked up, so guessing tokens is limited too.
        _limit("api-ip", client_ip(request), settings.CASEWORK["RATE_API_IP"])
        return super().__call__(request)

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
        scope = required_scope(request.method, self.scope)
        if not found.allows(scope):
            raise AuthorizationError(message=f"This token lacks the '{scope}' scope this operation needs")
        _limit("api-token", found.pk, settings.CASEWORK["RATE_API_TOKEN"])
        now = timezone.now()
        if found.last_used_at is None or now - found.last_used_at > _TOUCH_EVERY:
            ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
        request.user = found.user
        request.api_token = found
        return found.user


ADMIN = TokenAuth(scope="admin")


class InboundSecret(HttpBearer):
    """`Authorization: Bearer <CASEWORK_INBOUND_SECRET>`; with no secret configured the endpoint is off."""

    def __call__(self, request):
        _limit("inbound-ip", client_ip(request), settings.CASEWORK["RATE_INBOUND_IP"])
        return super().__call__(request)

    def authenticate(self, request, token: str):
        token = (token or "").strip().encode()
        for secret in settings.CASEWORK["INBOUND_SECRETS"]:
            if token and hmac.compare_digest(token, secret.encode()):
                return "inbound"
        return None
