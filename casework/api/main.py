"""The versioned REST API: /api/v1/ with OpenAPI at /api/v1/openapi.json and docs at /api/v1/docs."""

from __future__ import annotations

from ninja import NinjaAPI
from ninja.parser import Parser

from casework.core.errors import ValidationFailed

from . import errors
from .auth import TokenAuth
from .routers.cases import router as cases_router
from .routers.people import router as people_router
from .routers.triage import router as triage_router

# Every operation can answer with the error shape (casework/api/errors.py); the document says so, so clients
# and the fuzzer (tests/test_fuzz_api.py) know every status they may meet.
ERROR_ANSWERS = {
    "400": "Malformed request (invalid JSON)",
    "401": "No valid token (or inbound secret)",
    "403": "The token's scope or the user's role does not allow this",
    "404": "No such object, or hidden from this user's role",
    "409": "Conflicts with the object's state (an illegal transition)",
    "413": "The body is over the size limit",
    "422": "The input is not valid",
    "429": "Rate limited; see Retry-After",
}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}},
        }
    },
}


def _nul_path(value, path: str = "") -> str | None:
    """Where a NUL character sits in parsed JSON, if anywhere."""
    if isinstance(value, str):
        return path or "body" if "\x00" in value else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return f"{path}.{key!r}" if path else repr(key)
        found = _nul_path(item, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


class NulRefusingParser(Parser):
    """JSON bodies with a NUL character anywhere are refused with a 422: PostgreSQL text and jsonb cannot
    store one (a 500 found by `make fuzz` on the rules API), and no real input carries one."""

    def parse_body(self, request):
        data = super().parse_body(request)
        where = _nul_path(data)
        if where:
            raise ValidationFailed(
                f"The request holds a NUL character (at {where})", code="nul_character", details={"at": where}
            )
        return data


class CaseworkAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        ref = {"$ref": "#/components/schemas/Error"}
        for operations in schema["paths"].values():
            for operation in operations.values():
                answers = operation.setdefault("responses", {})
                for code, text in ERROR_ANSWERS.items():
                    answers.setdefault(
                        code, {"description": text, "content": {"application/json": {"schema": ref}}}
                    )
        return schema


api = CaseworkAPI(
    title="casework API",
    version="1",
    description=(
        "Support cases, customers and organisations. Authenticate with `Authorization: Bearer <token>` "
        "(create one with `casework create-token USERNAME`). Errors are "
        '`{"error": {"code": "...", "message": "...", "details": ...}}`.'
    ),
    auth=TokenAuth(),
    urls_namespace="api-v1",
    parser=NulRefusingParser(),
)
errors.install(api)
api.add_router("/", cases_router)
api.add_router("/", "casework.api.routers.case_actions.router")
api.add_router("/", people_router)
# Each app with an API adds its router here (routers/<app>.py), one line each.
api.add_router("/", triage_router)
api.add_router("/", "casework.api.routers.routing.router")
api.add_router("/", "casework.api.routers.sla.router")
api.add_router("/", "casework.api.routers.intake.router")
api.add_router("/", "casework.api.routers.reports.router")


api.add_router("/", "casework.api.routers.search.router")
api.add_router("/", "casework.api.routers.knowledge.router")
api.add_router("/", "casework.api.routers.privacy.router")
api.add_router("/", "casework.api.routers.insights.router")
api.add_router("/", "casework.api.routers.findings.router")
