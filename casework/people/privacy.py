"""Customer data export on request (a data subject access request): everything casework holds about one
customer as JSON, recorded on each of their cases' timelines. `casework export-customer EMAIL --dry-run`
counts what would be exported without recording anything.

Internal notes are left out: they are the team's working notes about the case, not the customer's
correspondence (an operator who must include them under their jurisdiction reads them from the timeline)."""

from __future__ import annotations

from typing import Any

from casework.core import clock

from .models import Customer


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def customer_export(*, customer: Customer, actor: Any = None, dry_run: bool = False) -> dict:
    from casework.cases import services
    from casework.cases.models import Case, Message
    from casework.cases.services.activity import SystemEvent

    cases = list(Case.objects.filter(customer=customer).order_by("created_at", "id"))
    messages = list(
        Message.objects.filter(case__in=cases)
        .exclude(kind="note")
        .prefetch_related("attachments")
        .order_by("id")
    )
    by_case: dict[int, list[Message]] = {}
    for message in messages:
        by_case.setdefault(message.case_id, []).append(message)
    export = {
        "exported_at": _iso(clock.now()),
        "customer": {
            "email": customer.email,
            "name": customer.name,
            "phone": customer.phone,
            "organisation": customer.organisation.name if customer.organisation_id else None,
            "external_id": customer.external_id,
            "created_at": _iso(customer.created_at),
        },
        "cases": [
            {
                "reference": case.reference,
                "subject": case.subject,
                "status": case.status,
                "channel": case.channel,
                "created_at": _iso(case.created_at),
                "closed_at": _iso(case.closed_at),
                "messages": [
                    {
                        "kind": m.kind,
                        "direction": m.direction,
                        "subject": m.subject,
                        "body": m.body,
                        "created_at": _iso(m.created_at),
                        "attachments": [
                            {"filename": a.filename, "size": a.size, "content_type": a.content_type}
                            for a in m.attachments.all()
                        ],
                    }
                    for m in by_case.get(case.pk, [])
                ],
            }
            for case in cases
        ],
        "counts": {"cases": len(cases), "messages": len(messages)},
    }
    if not dry_run and cases:
        services.case_record_system_events(
            events=[
                SystemEvent(
                    case=case,
                    kind="note",
                    reason="Customer data exported on request",
                    data={"privacy": "export", "messages": len(by_case.get(case.pk, []))},
                )
                for case in cases
            ],
            actor=actor,
        )
    return export
