"""Security headers on every response: a Content-Security-Policy that allows no inline script, no eval,
no plugins and no framing, plus the headers Django's SecurityMiddleware does not set.

Every script casework serves is a static file (casework/web/static/casework/app.js, htmx, Swagger UI's
bundle and init file); templates hold no inline `<script>` or `on*=` handlers (tests/test_csp.py checks
the templates), so a stored `<script>`/`onerror=` that ever escaped autoescaping still would not run.
CASEWORK_CSP replaces the policy (say, to add a reporting endpoint)."""

from __future__ import annotations

from django.conf import settings

DEFAULT_POLICY = (  # the default of CASEWORK_CSP in settings.py
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class SecurityHeadersMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CASEWORK_CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response
