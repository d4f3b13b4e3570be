"""Agent workspace: new cases and phone calls, customer and organisation pages."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from casework.cases import selectors, services
from casework.cases.status import (
    OPEN_STATUSES,
    PRIORITY_CRITERIA,
    Channel,
)
from casework.core.errors import ApplicationError
from casework.people.models import Customer
from casework.people.permissions import agent_required as login_required
from casework.people.permissions import visible_cases
from casework.people.services import customer_for_caller

from .forms import (
    CallForm,
    CustomerForm,
    NewCaseForm,
)
from .views import _back_to_case, _error

# --------------------------------------------------------------------------------------------------
# creating cases, calls, customers
# --------------------------------------------------------------------------------------------------


@login_required
def case_new(request: HttpRequest) -> HttpResponse:
    form = NewCaseForm(request.POST or None, initial={"channel": Channel.EMAIL})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            case = services.case_open_for_contact(
                customer_email=data["customer_email"],
                customer_name=data["customer_name"],
                subject=data["subject"],
                description=data["description"],
                channel=data["channel"],
                priority=data["priority"] or None,
                category=data["category"] or None,
                actor=request.user,
            )
            messages.success(request, f"Opened {case.reference}.")
            return _back_to_case(case)
        except ApplicationError as exc:
            _error(request, exc)
    return render(request, "web/case_new.html", {"form": form, "priority_criteria": PRIORITY_CRITERIA})


@login_required
def call_new(request: HttpRequest) -> HttpResponse:
    initial = {}
    if ref := request.GET.get("case"):
        try:
            existing = selectors.case_get(ref, user=request.user)
            initial = {
                "case_reference": existing.reference,
                "customer_email": existing.customer.email or "",
                "customer_name": existing.customer.name,
                "customer_phone": existing.customer.phone,
            }
        except ApplicationError:
            pass
    if email := request.GET.get("email"):
        initial.setdefault("customer_email", email)
    if phone := request.GET.get("phone"):
        initial.setdefault("customer_phone", phone)
    form = CallForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            case = (
                selectors.case_get(data["case_reference"], user=request.user, write=True)
                if data["case_reference"]
                else None
            )
            if case is not None and not (data["customer_email"] or data["customer_phone"]):
                customer = case.customer
            else:
                customer, _ = customer_for_caller(
                    email=data["customer_email"], name=data["customer_name"], phone=data["customer_phone"]
                )
            message = services.case_log_call(
                customer=customer,
                case=case,
                summary=data["summary"],
                subject=data["subject"],
                direction=data["direction"],
                duration_seconds=data["duration_minutes"] * 60,
                priority=data["priority"],
                actor=request.user,
            )
            messages.success(request, f"Call logged on {message.case.reference}.")
            return _back_to_case(message.case)
        except ApplicationError as exc:
            _error(request, exc)
    return render(request, "web/call_new.html", {"form": form, "priority_criteria": PRIORITY_CRITERIA})


@login_required
def customer_detail(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = get_object_or_404(Customer.objects.select_related("organisation"), pk=customer_id)
    # Only the cases this agent's role lets them see (other teams' may be hidden).
    visible = visible_cases(customer.cases.all(), request.user)
    cases = visible.select_related("category", "assignee", "team").order_by("-created_at")[:200]
    stats = visible.aggregate(
        total=Count("id"),
        open=Count("id", filter=Q(status__in=OPEN_STATUSES)),
        reopened=Count("id", filter=Q(reopen_count__gt=0)),
    )
    form = CustomerForm(
        initial={
            "name": customer.name,
            "email": customer.email or "",
            "phone": customer.phone,
            "organisation": customer.organisation_id,
            "external_id": customer.external_id,
            "notes": customer.notes,
        }
    )
    colleagues = []
    if customer.organisation_id:
        colleagues = customer.organisation.customers.exclude(pk=customer.pk).order_by("name")[:20]
    return render(
        request,
        "web/customer.html",
        {
            "customer": customer,
            "cases": cases,
            "stats": stats,
            "colleagues": colleagues,
            "form": form,
            "history": customer.changes.select_related("actor")[:50],
            "new_call_url": reverse("web:call_new")
            + "?"
            + urlencode({"email": customer.email or "", "phone": customer.phone}),
        },
    )


@login_required
@require_POST
def customer_edit(request: HttpRequest, customer_id: int) -> HttpResponse:
    from casework.people.services import customer_update

    customer = get_object_or_404(Customer, pk=customer_id)
    form = CustomerForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(f"{form.fields[k].label or k}: {' '.join(v)}" for k, v in form.errors.items())
        messages.error(request, f"Not saved — {errors}")
        return redirect("web:customer", customer_id=customer.pk)
    data = form.cleaned_data
    reason = data.pop("reason")
    try:
        customer_update(customer=customer, actor=request.user, reason=reason, **data)
        messages.success(request, "Customer details saved.")
    except ApplicationError as exc:
        _error(request, exc)
    return redirect("web:customer", customer_id=customer.pk)


@login_required
def organisation_detail(request: HttpRequest, organisation_id: int) -> HttpResponse:
    """An organisation at a glance: tier, VIP, domains, contacts, open and past cases, SLA outcome."""
    from casework.people.models import Organisation
    from casework.sla.selectors import clock_outcomes

    organisation = get_object_or_404(Organisation.objects.prefetch_related("domains"), pk=organisation_id)
    visible = visible_cases(organisation.cases.all(), request.user)
    cases = selectors.with_next_due(visible.select_related("customer", "category", "assignee", "team"))
    open_cases = list(cases.filter(status__in=OPEN_STATUSES).order_by("-created_at")[:200])
    past_cases = list(cases.exclude(status__in=OPEN_STATUSES).order_by("-created_at")[:50])
    stats = visible.aggregate(
        total=Count("id"),
        open=Count("id", filter=Q(status__in=OPEN_STATUSES)),
        reopened=Count("id", filter=Q(reopen_count__gt=0)),
    )
    contacts = organisation.customers.annotate(
        open_cases=Count("cases", filter=Q(cases__status__in=OPEN_STATUSES)), all_cases=Count("cases")
    ).order_by("-open_cases", "name")[:100]
    return render(
        request,
        "web/organisation.html",
        {
            "organisation": organisation,
            "open_cases": open_cases,
            "past_cases": past_cases,
            "stats": stats,
            "contacts": contacts,
            "sla": clock_outcomes(case__organisation=organisation),
        },
    )
