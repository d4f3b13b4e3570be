"""The door for changing retention policies: create, edit, enable and disable, each validated, with the
dry run of the next retention run under the changed set of policies, in one transaction with a
`PrivacyChange` row saying who, when, from → to, why and what the dry run counted. The privacy page's
editor calls it (admins: a policy decides what is destroyed, which the issue's role list puts with
configuration); the Django admin shows policies read-only.

What a valid policy is (`validate`, every problem at once, keyed by field):
- a name (unique), an action from the list, whole days between 0 and 100 years;
- `anonymise`/`delete` say after how many days; `keep` has no days (it never removes a case);
- no policy touches a case the customer can still reopen: days after closing are at least
  `CASEWORK_REOPEN_WINDOW_DAYS` (a reply within the window reopens a closed case, so a case inside it
  is not finished) — the job itself never touches a case that is not closed;
- an attachment purge after the case is already anonymised or deleted would never run: refused;
- one policy per scope (category × organisation), disabled ones included: edit that one instead.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from casework.cases.models import Category
from casework.core.errors import ValidationFailed
from casework.people import permissions
from casework.people.models import Organisation

from . import retention
from .models import PrivacyChange, RetentionAction, RetentionPolicy

EDITABLE = (
    "name",
    "category",
    "organisation",
    "action",
    "after_days",
    "purge_attachments_after_days",
    "active",
)
MAX_DAYS = 36_500
# An unsaved policy needs an id for the precedence maths (ties go to the lowest id; a new one is newest).
UNSAVED_PK = 2**62


@dataclass
class PolicyFields:
    name: str = ""
    category: Category | None = None
    organisation: Organisation | None = None
    action: str = RetentionAction.ANONYMISE
    after_days: int | None = None
    purge_attachments_after_days: int | None = None
    active: bool = True

    @classmethod
    def of(cls, policy: RetentionPolicy) -> PolicyFields:
        return cls(**{name: getattr(policy, name) for name in EDITABLE})


def snapshot(fields: PolicyFields | RetentionPolicy) -> dict[str, Any]:
    """What the audit keeps: names rather than ids, so the record reads the same after a rename."""
    return {
        "name": fields.name,
        "category": fields.category.name if fields.category else None,
        "organisation": fields.organisation.name if fields.organisation else None,
        "action": fields.action,
        "after_days": fields.after_days,
        "purge_attachments_after_days": fields.purge_attachments_after_days,
        "active": fields.active,
    }


def fingerprint(fields: PolicyFields) -> str:
    """A digest of the proposed policy: saving needs the preview of exactly these fields first."""
    data = snapshot(fields) | {
        "category_id": fields.category.pk if fields.category else None,
        "organisation_id": fields.organisation.pk if fields.organisation else None,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]


def _days(raw: str, label: str, errors: dict[str, str], key: str) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        errors[key] = f"{label}: give a whole number of days, not “{raw[:20]}”."
        return None
    if value < 0:
        errors[key] = f"{label} cannot be negative."
        return None
    if value > MAX_DAYS:
        errors[key] = f"{label}: at most {MAX_DAYS} days (100 years)."
        return None
    return value


def parse(post: Any) -> tuple[PolicyFields, dict[str, str]]:
    """Form fields → PolicyFields, with a message per field that does not parse."""
    errors: dict[str, str] = {}
    fields = PolicyFields(
        name=(post.get("name") or "").replace("\x00", "").strip(),
        action=(post.get("action") or "").strip(),
        active=post.get("active") in ("on", "1", "true"),
    )
    for key, model in (("category", Category), ("organisation", Organisation)):
        raw = (post.get(key) or "").strip()
        if raw:
            found = model.objects.filter(pk=int(raw)).first() if raw.isdigit() and len(raw) < 18 else None
            if found is None:
                errors[key] = f"Choose a {key} from the list."
            setattr(fields, key, found)
    fields.after_days = _days(post.get("after_days"), "Days after closing", errors, "after_days")
    fields.purge_attachments_after_days = _days(
        post.get("purge_attachments_after_days"), "Attachments: days after closing", errors, "purge"
    )
    return fields, errors


def validate(fields: PolicyFields, *, policy: RetentionPolicy | None) -> dict[str, str]:
    """Every problem with the proposed policy, keyed by form field (empty: valid)."""
    errors: dict[str, str] = {}
    window = settings.CASEWORK["REOPEN_WINDOW_DAYS"]
    if not fields.name:
        errors["name"] = "Give the policy a name."
    elif len(fields.name) > 100:
        errors["name"] = "The name is longer than 100 characters."
    elif (
        RetentionPolicy.objects.filter(name__iexact=fields.name)
        .exclude(pk=getattr(policy, "pk", None))
        .exists()
    ):
        errors["name"] = f"Another policy is called “{fields.name}”."
    if fields.action not in RetentionAction.values:
        errors["action"] = "Choose keep, anonymise or delete."
    elif fields.action == RetentionAction.KEEP:
        if fields.after_days is not None:
            errors["after_days"] = "A “keep” policy never removes a case: leave the days empty."
    elif fields.after_days is None:
        errors["after_days"] = "Say after how many days a closed case is anonymised or deleted."
    elif fields.after_days < window:
        errors["after_days"] = (
            f"At least {window} days: a customer can reopen a closed case for {window} days "
            "(CASEWORK_REOPEN_WINDOW_DAYS), so it is not finished before then."
        )
    purge = fields.purge_attachments_after_days
    if purge is not None:
        if purge < window:
            errors["purge"] = (
                f"At least {window} days: a customer can reopen a closed case for {window} days, and its "
                "attachments are part of the work."
            )
        elif (
            fields.action in (RetentionAction.ANONYMISE, RetentionAction.DELETE)
            and fields.after_days is not None
            and purge >= fields.after_days
        ):
            errors["purge"] = (
                f"The case is {fields.action}d after {fields.after_days} days, attachments included: a purge "
                f"after {purge} days would never run. Leave it empty or make it shorter."
            )
    same_scope = RetentionPolicy.objects.filter(
        category=fields.category, organisation=fields.organisation
    ).exclude(pk=getattr(policy, "pk", None))
    other = same_scope.first()
    if other is not None:
        errors["scope"] = (
            f"“{other.name}” already covers this scope ({other.scope}"
            + ("" if other.active else ", disabled")
            + "): edit that policy instead."
        )
    return errors


def _proposed(fields: PolicyFields, policy: RetentionPolicy | None) -> RetentionPolicy:
    proposed = copy.copy(policy) if policy is not None else RetentionPolicy()
    for name in EDITABLE:
        setattr(proposed, name, getattr(fields, name))
    if proposed.pk is None:
        proposed.pk = UNSAVED_PK
    return proposed


def dry_run(fields: PolicyFields, *, policy: RetentionPolicy | None) -> dict[str, Any]:
    """What the next retention run would do under the policies with this change, against now: per policy
    and in total, with the same totals for the stored policies to compare."""
    proposed = _proposed(fields, policy)
    stored = list(RetentionPolicy.objects.select_related("category", "organisation"))
    others = [p for p in stored if p.pk != proposed.pk]
    after = retention.plan(policies=[*others, proposed])
    before = retention.plan(policies=stored)
    keys = ("purge_attachments", "anonymise", "delete", "held")
    return {
        "policies": [c.as_dict() for c in after],
        "total": {k: sum(getattr(c, k) for c in after) for k in keys},
        "total_before": {k: sum(getattr(c, k) for c in before) for k in keys},
        "this_policy": next((c.as_dict() for c in after if c.policy == proposed.name), None),
    }


def _kind(before: dict | None, after: dict) -> str:
    if before is None:
        return PrivacyChange.Kind.POLICY_CREATED
    changed = {k for k in after if after[k] != before.get(k)}
    if changed == {"active"}:
        return PrivacyChange.Kind.POLICY_ENABLED if after["active"] else PrivacyChange.Kind.POLICY_DISABLED
    return PrivacyChange.Kind.POLICY_UPDATED


@transaction.atomic
def policy_save(
    *, policy: RetentionPolicy | None, fields: PolicyFields, actor: Any, reason: str
) -> tuple[RetentionPolicy, PrivacyChange | None]:
    """Create (`policy=None`) or change a retention policy (disable: `fields.active = False`). Admins only
    when a person does it; a reason is required; nothing is written when anything is invalid. The dry run
    is counted again inside the transaction and kept with the change."""
    if permissions.is_user_actor(actor):
        permissions.require_role(actor, permissions.ADMIN, "changing retention policies")
    reason = (reason or "").replace("\x00", "").strip()
    errors = validate(fields, policy=policy)
    if not reason:
        errors["reason"] = "Say why you are changing the policy."
    elif len(reason) > 500:
        errors["reason"] = "The reason is longer than 500 characters."
    if errors:
        raise ValidationFailed(
            "The policy was not saved: " + " ".join(errors.values()),
            code="invalid_policy",
            details={"errors": errors},
        )
    if policy is not None:
        policy = RetentionPolicy.objects.select_for_update().get(pk=policy.pk)
        before = snapshot(policy)
    else:
        policy, before = RetentionPolicy(), None
    counted = dry_run(fields, policy=policy if before is not None else None)
    for name in EDITABLE:
        setattr(policy, name, getattr(fields, name))
    after = snapshot(policy)
    if before == after:
        return policy, None
    policy.save()
    change = PrivacyChange.objects.create(
        kind=_kind(before, after),
        policy=policy,
        label=policy.name,
        actor=actor if permissions.is_user_actor(actor) else None,
        actor_label=_label(actor),
        reason=reason,
        before=before,
        after=after,
        dry_run=counted,
    )
    return policy, change


def _label(actor: Any) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor[:200]
    return (actor.get_full_name() or actor.username)[:200]


def record_hold(*, kind: str, hold, actor: Any, reason: str, label: str) -> PrivacyChange:
    """The audit line of a legal hold set or released (the hold doors call it in their write)."""
    released = kind == PrivacyChange.Kind.HOLD_RELEASED
    return PrivacyChange.objects.create(
        kind=kind,
        hold=hold,
        label=label[:200],
        actor=actor if permissions.is_user_actor(actor) else None,
        actor_label=_label(actor),
        reason=reason[:500],
        before={"held": released},
        after={"held": not released},
    )
