"""/api/v1/inbound/email — providers that push mail (raw MIME in the body) instead of being polled."""

from __future__ import annotations

from ninja import Router, Schema

from casework.core.errors import ValidationFailed
from casework.intake.services import ingest_raw

router = Router(tags=["intake"])


class IngestOut(Schema):
    case: str | None
    created: bool
    matched_by: str
    quarantined: bool
    reason: str
    duplicate: bool
    outcome: str


@router.post(
    "/inbound/email",
    response=IngestOut,
    summary="Ingest one raw email",
    description=(
        "Send the raw RFC 5322 message as the request body (`Content-Type: message/rfc822`). "
        "The answer says what happened: a new case, a message on a case (and why), a duplicate, or "
        "quarantine with the reason. Quarantine is a 200 too: the mail is kept, do not resend it."
    ),
    openapi_extra={
        "requestBody": {"required": True, "content": {"message/rfc822": {"schema": {"type": "string"}}}}
    },
)
def inbound_email(request):
    raw = request.body
    if not raw.strip():
        raise ValidationFailed("The request body must be the raw email", code="empty_body")
    return ingest_raw(raw, source="http").as_json()
