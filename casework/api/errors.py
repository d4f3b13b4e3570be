"""One error shape for every API failure: {"error": {"code", "message", "details"?}}."""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError

from casework.core.errors import ApplicationError

logger = logging.getLogger(__name__)


def error_body(code: str, message: str, details=None) -> dict:
    body = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


def _clean_validation_errors(errors: list[dict]) -> list[dict]:
    cleaned = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "payload")]
        cleaned.append({"field": ".".join(loc), "message": err.get("msg", ""), "type": err.get("type", "")})
    return cleaned


def install(api: NinjaAPI) -> None:
    @api.exception_handler(ApplicationError)
    def application_error(request, exc: ApplicationError):
        response = api.create_response(request, {"error": exc.as_dict()}, status=exc.http_status)
        if exc.http_status == 429 and isinstance(exc.details, dict) and "retry_after" in exc.details:
            response["Retry-After"] = str(exc.details["retry_after"])
        return response

    @api.exception_handler(ValidationError)
    def validation_error(request, exc: ValidationError):
        details = _clean_validation_errors(exc.errors)
        if any(d["type"] == "json_invalid" for d in details):
            return api.create_response(
                request, error_body("invalid_json", "The request body is not valid JSON", details), status=400
            )
        unknown = [d["field"] for d in details if d["type"] == "extra_forbidden"]
        if unknown:
            return api.create_response(
                request,
                error_body("unknown_field", f"Unknown field(s): {', '.join(unknown)}", details),
                status=422,
            )
        return api.create_response(
            request, error_body("validation_failed", "The request is not valid", details), status=422
        )

    @api.exception_handler(AuthenticationError)
    def authentication_error(request, exc):
        response = api.create_response(
            request,
            error_body("unauthenticated", "Send a valid token: Authorization: Bearer <token>"),
            status=401,
        )
        response["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(AuthorizationError)
    def authorization_error(request, exc):
        return api.create_response(request, error_body("permission_denied", str(exc)), status=403)

    @api.exception_handler(HttpError)
    def http_error(request, exc: HttpError):
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ApplicationError):  # refused by our parser (a NUL character), not malformed
            return application_error(request, cause)
        if exc.status_code == 400 and "parse request body" in str(exc):
            return api.create_response(
                request, error_body("invalid_json", "The request body is not valid JSON"), status=400
            )
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        return api.create_response(request, error_body(code, str(exc)), status=exc.status_code)

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return api.create_response(request, error_body("not_found", "Not found"), status=404)

    @api.exception_handler(RequestDataTooBig)
    def too_big(request, exc):
        return api.create_response(
            request,
            error_body("too_large", "The request body is larger than this server accepts"),
            status=413,
        )

    @api.exception_handler(Exception)
    def unexpected(request, exc):
        logger.exception("unhandled API error on %s %s", request.method, request.path)
        return api.create_response(
            request,
            error_body("internal_error", "Something went wrong on our side; the error was logged"),
            status=500,
        )
