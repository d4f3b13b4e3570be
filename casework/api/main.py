"""The versioned REST API: /api/v1/ with OpenAPI at /api/v1/openapi.json and docs at /api/v1/docs."""

from __future__ import annotations

from ninja import NinjaAPI

from . import errors
from .auth import TokenAuth
from .routers.cases import router as cases_router
from .routers.people import router as people_router
from .routers.triage import router as triage_router

api = NinjaAPI(
    title="casework API",
    version="1",
    description=(
        "Support cases, customers and organisations. Authenticate with `Authorization: Bearer <token>` "
        "(create one with `casework create-token USERNAME`). Errors are "
        '`{"error": {"code": "...", "message": "...", "details": ...}}`.'
    ),
    auth=TokenAuth(),
    urls_namespace="api-v1",
)
errors.install(api)
api.add_router("/", cases_router)
api.add_router("/", people_router)
# Each app with an API adds its router here (routers/<app>.py), one line each.
api.add_router("/", triage_router)
api.add_router("/", "casework.api.routers.routing.router")
api.add_router("/", "casework.api.routers.sla.router")
api.add_router("/", "casework.api.routers.intake.router")
api.add_router("/", "casework.api.routers.reports.router")


api.add_router("/", "casework.api.routers.search.router")
api.add_router("/", "casework.api.routers.knowledge.router")
api.add_router("/", "casework.api.routers.insights.router")
