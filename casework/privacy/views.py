"""The managers' retention and privacy page: what the retention job would do now (per policy), the
active legal holds, setting/releasing a hold, and erasure on request (a dry run first, then a confirm).
Views parse and authorise; the doors in services.py decide and record."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from casework.cases.models import Case, Category
from casework.core.errors import ApplicationError
from casework.people.models import Customer, Organisation
from casework.people.permissions import ADMIN, MANAGER, has_role, role_required

from . import policy_changes, retention, services
from .models import PrivacyChange, RetentionAction, RetentionPolicy


@role_required(MANAGER)
def page(request, erase_preview: dict | None = None):
    return render(
        request,
        "privacy/page.html",
        {
            "counts": retention.plan(),
            "policies": RetentionPolicy.objects.select_related("category", "organisation"),
            "holds": services.active_holds().select_related("case", "organisation"),
            "organisations": Organisation.objects.order_by("name").only("pk", "name"),
            "erase_preview": erase_preview,
            "can_admin": has_role(request.user, ADMIN),
            "changes": PrivacyChange.objects.select_related("actor")[:20],
        },
    )


# --- the policy editor (admins) -----------------------------------------------------------------------------


@role_required(ADMIN)
def policy_new(request: HttpRequest) -> HttpResponse:
    return _policy_form(request, None)


@role_required(ADMIN)
def policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _policy_form(request, get_object_or_404(RetentionPolicy, pk=pk))


def _policy_form(request: HttpRequest, policy: RetentionPolicy | None) -> HttpResponse:
    """GET: the form. POST `step=preview`: validate and count what the next retention run would do under
    the changed policies. POST `step=save` with the preview's fingerprint: save through the door. Saving
    fields that differ from the ones previewed shows the new counts first instead."""
    if request.method != "POST":
        fields = policy_changes.PolicyFields.of(policy) if policy else policy_changes.PolicyFields()
        return _render_policy(request, policy, fields)
    fields, errors = policy_changes.parse(request.POST)
    errors = errors or policy_changes.validate(fields, policy=policy)
    reason = (request.POST.get("reason") or "").strip()
    if errors:
        return _render_policy(request, policy, fields, errors=errors, reason=reason, status=400)
    digest = policy_changes.fingerprint(fields)
    step = request.POST.get("step")
    if step == "save" and request.POST.get("previewed") == digest:
        try:
            saved, change = policy_changes.policy_save(
                policy=policy, fields=fields, actor=request.user, reason=reason
            )
        except ApplicationError as exc:
            errors = (exc.details or {}).get("errors") or {"form": exc.message}
            preview = policy_changes.dry_run(fields, policy=policy)
            return _render_policy(
                request,
                policy,
                fields,
                errors=errors,
                reason=reason,
                preview=preview,
                previewed=digest,
                status=400,
            )
        if change is None:
            messages.info(request, f"“{saved.name}” is unchanged.")
        else:
            messages.success(request, f"Policy “{saved.name}” {change.get_kind_display().split(' ', 1)[1]}.")
        return redirect("privacy:page")
    preview = policy_changes.dry_run(fields, policy=policy)
    return _render_policy(
        request, policy, fields, reason=reason, preview=preview, previewed=digest, stale=step == "save"
    )


def _render_policy(
    request: HttpRequest,
    policy: RetentionPolicy | None,
    fields: policy_changes.PolicyFields,
    *,
    errors: dict | None = None,
    reason: str = "",
    preview: dict | None = None,
    previewed: str = "",
    stale: bool = False,
    status: int = 200,
) -> HttpResponse:
    from django.conf import settings

    return render(
        request,
        "privacy/policy_form.html",
        {
            "policy": policy,
            "fields": fields,
            "errors": errors or {},
            "reason": reason,
            "preview": preview,
            "previewed": previewed,
            "stale": stale,
            "actions": RetentionAction.choices,
            "categories": Category.objects.order_by("name").only("pk", "name"),
            "organisations": Organisation.objects.order_by("name").only("pk", "name"),
            "window": settings.CASEWORK["REOPEN_WINDOW_DAYS"],
            "changes": PrivacyChange.objects.filter(policy=policy).select_related("actor")[:20]
            if policy
            else [],
        },
        status=status,
    )


@require_POST
@role_required(MANAGER)
def hold(request):
    reason = request.POST.get("reason", "")
    setting = request.POST.get("action") != "release"
    reference = request.POST.get("reference", "").strip()
    organisation_id = request.POST.get("organisation", "").strip()
    try:
        if reference:
            case = Case.objects.filter(reference__iexact=reference).first()
            if case is None:
                raise ApplicationError(f"No case {reference}", code="case_not_found")
            door = services.case_set_legal_hold if setting else services.case_release_legal_hold
            door(case=case, actor=request.user, reason=reason)
            what = case.reference
        elif organisation_id.isdigit() and (org := Organisation.objects.filter(pk=organisation_id).first()):
            door = (
                services.organisation_set_legal_hold if setting else services.organisation_release_legal_hold
            )
            door(organisation=org, actor=request.user, reason=reason)
            what = org.name
        else:
            raise ApplicationError("Name a case reference or choose an organisation", code="required")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Legal hold {'set on' if setting else 'released from'} {what}.")
    return redirect("privacy:page")


@require_POST
@role_required(MANAGER)
def erase(request):
    email = request.POST.get("email", "").strip()
    reason = request.POST.get("reason", "")
    customer = Customer.objects.filter(email__iexact=email).first() if email else None
    if customer is None:
        messages.error(request, f"No customer with the address “{email}”." if email else "Give an address.")
        return redirect("privacy:page")
    confirmed = request.POST.get("confirm") == "yes"
    try:
        result = services.customer_erase(
            customer=customer, actor=request.user, reason=reason, dry_run=not confirmed
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("privacy:page")
    if not confirmed:
        # The dry run: show what would go, with the button that does it.
        return page(request, erase_preview={"email": customer.email, "reason": reason, **result})
    applied = result["applied"]
    messages.success(
        request,
        f"Erased: {applied.get('cases', 0)} case(s) anonymised, {applied.get('messages', 0)} message(s), "
        f"{applied.get('attachments', 0)} attachment(s), {applied.get('outbox_cancelled', 0)} unsent mail(s) "
        "cancelled. Each case keeps its audit skeleton.",
    )
    return redirect("privacy:page")
