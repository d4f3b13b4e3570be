"""/api/v1/inbound/email — providers that push mail (raw MIME in the body) instead of being polled."""

from __future__ import annotations

from django.conf import settings
from ninja import Router, Schema

from casework.core.errors import TooLarge, ValidationFailed
from casework.intake.services import ingest_raw

from ..auth import InboundSecret

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
    auth=InboundSecret(),
    response=IngestOut,
    summary="Ingest one raw email",
    description=(
        "Send the raw RFC 5322 message as the request body (`Content-Type: message/rfc822`), with "
        "`Authorization: Bearer <CASEWORK_INBOUND_SECRET>` (not an agent token). "
        "The answer says what happened: a new case, a message on a case (and why), a duplicate, or "
        "quarantine with the reason. Quarantine is a 200 too: the mail is kept, do not resend it."
    ),
    openapi_extra={
        "requestBody": {"required": True, "content": {"message/rfc822": {"schema": {"type": "string"}}}}
    },
)
def inbound_email(request):
    # One size limit for mail however it arrives (CASEWORK_INTAKE_MAX_BYTES), not the 10 MB request limit:
    # a mail the pipe or IMAP would take must not be refused over HTTP. Past the limit the provider gets a
    # 413 and keeps the mail (the pipe and IMAP paths quarantine it instead; neither loses it).
    limit = settings.CASEWORK["INTAKE_MAX_BYTES"]
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise TooLarge(f"{length} bytes is over the {limit}-byte mail limit", code="mail_too_large")
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise TooLarge(f"The mail is over the {limit}-byte limit", code="mail_too_large")
    if not raw.strip():
        raise ValidationFailed("The request body must be the raw email", code="empty_body")
    return ingest_raw(raw, source="http").as_json()
