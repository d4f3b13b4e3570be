"""Model → API dict conversion. Kept explicit so a list response never triggers a query per row: the
selectors have already joined/prefetched everything used here."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from casework.cases.models import Case, CaseEvent, Message
from casework.cases.status import allowed_targets
from casework.people.models import Customer, Organisation


def organisation_ref(org: Organisation | None) -> dict | None:
    if org is None:
        return None
    return {"id": org.pk, "name": org.name, "tier": org.tier, "vip": org.vip}


def customer_ref(customer: Customer) -> dict:
    return {
        "id": customer.pk,
        "email": customer.email,
        "name": customer.name,
        "organisation": organisation_ref(customer.organisation),
    }


def case_dict(case: Case, *, tags: list | None = None) -> dict:
    return {
        "id": case.pk,
        "reference": case.reference,
        "subject": case.subject,
        "status": case.status,
        "priority": case.priority,
        "category": case.category.slug if case.category_id else None,
        "channel": case.channel,
        "tier": case.tier,
        "customer": customer_ref(case.customer),
        "organisation": organisation_ref(case.organisation),
        "team": case.team.name if case.team_id else None,
        "assignee": case.assignee.username if case.assignee_id else None,
        "tags": [t.name for t in (case.tags.all() if tags is None else tags)],
        "sentiment": case.sentiment,
        "frustrated": case.frustrated,
        "merged_into": case.merged_into.reference if case.merged_into_id else None,
        "follow_up_of": case.follow_up_of.reference if case.follow_up_of_id else None,
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "first_response_at": case.first_response_at,
        "resolved_at": case.resolved_at,
        "closed_at": case.closed_at,
        "url": settings.BASE_URL + reverse("web:case", args=[case.reference]),
    }


def case_detail_dict(case: Case, *, tags: list | None = None, applied_rules: list | None = None) -> dict:
    """`tags` and `applied_rules` (rule_applied events) are read from the case unless given (a create
    answers from the write that made the case)."""
    if applied_rules is None:
        applied_rules = list(case.events.filter(kind="rule_applied").order_by("id"))
    return {
        **case_dict(case, tags=tags),
        "description": case.description,
        "custom_fields": case.custom_fields,
        "allowed_transitions": [t.target for t in allowed_targets(case.status)],
        "applied_rules": [
            {"rule": e.data.get("rule"), "explanation": e.data.get("explanation"), "at": e.created_at}
            for e in applied_rules
        ],
    }


def message_dict(message: Message) -> dict:
    return {
        "id": message.pk,
        "kind": message.kind,
        "channel": message.channel,
        "direction": message.direction,
        "author": message.author_display,
        "body": message.body,
        "created_at": message.created_at,
        "meta": message.meta,
    }


def event_dict(event: CaseEvent) -> dict:
    return {
        "id": event.pk,
        "kind": event.kind,
        "actor": event.actor_display,
        "old": event.old,
        "new": event.new,
        "reason": event.reason,
        "data": event.data,
        "created_at": event.created_at,
    }


def customer_dict(customer: Customer) -> dict:
    return {
        "id": customer.pk,
        "email": customer.email,
        "name": customer.name,
        "phone": customer.phone,
        "external_id": customer.external_id,
        "organisation": organisation_ref(customer.organisation),
        "created_at": customer.created_at,
    }


def organisation_dict(org: Organisation) -> dict:
    return {
        "id": org.pk,
        "name": org.name,
        "tier": org.tier,
        "vip": org.vip,
        "domains": [d.domain for d in org.domains.all()],
        "notes": org.notes,
        "external_id": org.external_id,
        "created_at": org.created_at,
    }
