"""Sign-in throttling: django-axes counts failed sign-ins per (username, IP) in the database, so every
process and every worker sees the same count (settings: CASEWORK_LOGIN_FAILURE_LIMIT, _LOCKOUT_MINUTES)."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class SignInThrottle(AxesStandaloneBackend):
    """django-axes' backend, except that a sign-in without a request (a management command, a script,
    Django's test client `login()`) has no IP to count against: it is not throttled, rather than refused
    with an exception. Every sign-in over HTTP (the login page, the admin) carries its request."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
