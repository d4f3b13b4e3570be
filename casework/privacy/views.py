"""The managers' retention and privacy page: what the retention job would do now (per policy), the
active legal holds, setting/releasing a hold, and erasure on request (a dry run first, then a confirm).
Views parse and authorise; the doors in services.py decide and record."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from casework.cases.models import Case
from casework.core.errors import ApplicationError
from casework.people.models import Customer, Organisation
from casework.people.permissions import MANAGER, role_required

from . import retention, services
from .models import RetentionPolicy


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
        },
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
