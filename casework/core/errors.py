"""Application errors with stable codes.

Services raise these; the API maps them to `{"error": {"code", "message", "details"}}` with `http_status`,
and the web UI shows `message` to the agent. A code, once published, never changes meaning.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    code = "application_error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class ValidationFailed(ApplicationError):
    code = "validation_failed"
    http_status = 422


class NotFound(ApplicationError):
    code = "not_found"
    http_status = 404


class PermissionDenied(ApplicationError):
    code = "permission_denied"
    http_status = 403


class TooLarge(ApplicationError):
    code = "too_large"
    http_status = 413


class Conflict(ApplicationError):
    code = "conflict"
    http_status = 409


class InvalidTransition(Conflict):
    code = "invalid_transition"


class RateLimited(ApplicationError):
    code = "rate_limited"
    http_status = 429
