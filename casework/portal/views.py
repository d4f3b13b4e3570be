"""Customer portal: passwordless sign-in, the customer's cases, the public timeline, reply/close/reopen.

Thin adapters: who may see what is `access.py`, every change goes through `services.py` (and from there
through the door functions in `cases.services`). A customer is signed in when the session holds
`portal_customer_id` (set only by following a sign-in link, see `links.py`). Anything a customer may not
see is a 404.
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.contrib import messages as flash
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from casework.cases.models import Case
from casework.cases.services import NewAttachment
from casework.core.errors import ApplicationError
from casework.people.models import Customer

from . import access, links, services
from .forms import ReopenForm, ReplyForm, SignInForm

SESSION_KEY = "portal_customer_id"


def client_ip(request: HttpRequest) -> str:
    # The direct peer. Behind a reverse proxy, configure it to set REMOTE_ADDR (docs/deploy.md).
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def current_customer(request: HttpRequest) -> Customer | None:
    customer_id = request.session.get(SESSION_KEY)
    if not customer_id:
        return None
    return Customer.objects.select_related("organisation").filter(pk=customer_id).first()


def sign_customer_in(request: HttpRequest, customer: Customer) -> None:
    if request.session.get(SESSION_KEY) != customer.pk:
        request.session.cycle_key()  # no session fixation across a sign-in
    request.session[SESSION_KEY] = customer.pk
    request.session.set_expiry(timedelta(days=settings.CASEWORK["PORTAL_SESSION_DAYS"]))


def customer_required(view):
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        customer = current_customer(request)
        if customer is None:
            return redirect(f"{reverse('portal:sign_in')}?next={request.get_full_path()}")
        request.customer = customer
        return view(request, *args, **kwargs)

    return wrapper


def _page(request, template, context=None, status=200):
    context = {"customer": getattr(request, "customer", None) or current_customer(request), **(context or {})}
    return render(request, template, context, status=status)


# --------------------------------------------------------------------------------------------------
# sign-in
# --------------------------------------------------------------------------------------------------


def sign_in(request: HttpRequest) -> HttpResponse:
    form = SignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        outcome = services.request_magic_link(
            email=form.cleaned_data["email"], ip=client_ip(request), case=_case_from_next(request)
        )
        if outcome.limited:
            return _page(request, "portal/rate_limited.html", {"what": "sign-in links"}, status=429)
        return _page(request, "portal/check_email.html", {"email": form.cleaned_data["email"]})
    return _page(
        request,
        "portal/sign_in.html",
        {
            "form": form,
            "minutes": settings.CASEWORK["PORTAL_MAGIC_LINK_MINUTES"],
            "next": request.GET.get("next") or request.POST.get("next", ""),
        },
    )


def _case_from_next(request: HttpRequest) -> Case | None:
    """The case a signed-out visitor was trying to open, so the mailed link lands on it (only if the
    address's customer may see it: request_magic_link checks)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    match = re.fullmatch(r"/portal/c/([\w-]+)/", target)
    return Case.objects.filter(public_token=match.group(1)).first() if match else None


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    request.session.pop(SESSION_KEY, None)
    request.session.cycle_key()
    flash.success(request, "You are signed out.")
    return redirect("portal:sign_in")


def _target(claim: links.LinkClaim) -> str:
    if claim.case_id:
        case = Case.objects.filter(pk=claim.case_id).only("public_token").first()
        if case is not None:
            return reverse("portal:case", args=[case.public_token])
    return reverse("portal:cases")


def follow(request: HttpRequest, token: str) -> HttpResponse:
    """A sign-in link from an email (see links.py for the whole contract)."""
    claim = links.read_token(token)
    if claim.state == links.FORGED or not Customer.objects.filter(pk=claim.customer_id).exists():
        return _page(
            request, "portal/link_problem.html", {"problem": "invalid", "form": SignInForm()}, status=400
        )
    already_in = request.session.get(SESSION_KEY) == claim.customer_id
    if claim.state == links.VALID and services.use_link(claim):
        sign_customer_in(request, Customer.objects.get(pk=claim.customer_id))
        return redirect(_target(claim))
    if already_in:
        return redirect(_target(claim))
    problem = "expired" if claim.state == links.EXPIRED else "used"
    return _page(
        request,
        "portal/link_problem.html",
        {"problem": problem, "token": token, "form": SignInForm()},
        status=410,
    )


@require_POST
def resend(request: HttpRequest) -> HttpResponse:
    """ "Send me a fresh link" from the used/expired page: mailed to the address the old link was for."""
    claim = links.read_token(request.POST.get("token", ""))
    customer = Customer.objects.filter(pk=claim.customer_id).first() if claim.state != links.FORGED else None
    if customer is None:
        return _page(
            request, "portal/link_problem.html", {"problem": "invalid", "form": SignInForm()}, status=400
        )
    case = Case.objects.filter(pk=claim.case_id).first() if claim.case_id else None
    if case is not None and not access.may_see(customer, case):
        case = None
    outcome = services.request_magic_link(email=customer.email, ip=client_ip(request), case=case)
    if outcome.limited:
        return _page(request, "portal/rate_limited.html", {"what": "sign-in links"}, status=429)
    return _page(request, "portal/check_email.html", {"email": customer.email})


# --------------------------------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------------------------------


@customer_required
def case_list(request: HttpRequest) -> HttpResponse:
    customer = request.customer
    cases = list(access.portal_cases(customer)[:200])
    for case in cases:
        case.portal_status = access.CUSTOMER_STATUS.get(case.status, case.status)
    return _page(
        request,
        "portal/cases.html",
        {
            "cases": cases,
            "sees_organisation": customer.is_admin_contact and customer.organisation_id,
        },
    )


def _case_context(request, case: Case, reply_form=None, reopen_form=None) -> dict:
    return {
        "case": case,
        "status_label": access.CUSTOMER_STATUS.get(case.status, case.status),
        "timeline": access.public_timeline(case),
        "reply_form": reply_form or ReplyForm(),
        "reopen_form": reopen_form or ReopenForm(),
        "can_close": services.can_close(case),
        "can_reopen": services.can_reopen(case),
        "is_own": case.customer_id == request.customer.pk,
    }


@customer_required
def case_detail(request: HttpRequest, public_token: str) -> HttpResponse:
    case = access.portal_case(request.customer, public_token)
    return _page(request, "portal/case.html", _case_context(request, case))


def _error(request, exc: ApplicationError) -> None:
    flash.error(request, exc.message)


@customer_required
@require_POST
def case_reply(request: HttpRequest, public_token: str) -> HttpResponse:
    case = access.portal_case(request.customer, public_token)
    form = ReplyForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, "portal/case.html", _case_context(request, case, reply_form=form), status=422)
    files = [
        NewAttachment(filename=f.name, content=f.read(), content_type=getattr(f, "content_type", "") or "")
        for f in form.cleaned_data["attachments"]
    ]
    try:
        message = services.portal_reply(
            customer=request.customer, case=case, body=form.cleaned_data["body"], attachments=files
        )
    except ApplicationError as exc:
        _error(request, exc)
        return _page(request, "portal/case.html", _case_context(request, case, reply_form=form), status=422)
    landed = message.case
    if landed.pk != case.pk:
        flash.success(request, f"This request was closed, so we opened {landed.reference} for your message.")
    else:
        flash.success(request, "Thanks — your reply was added.")
    return redirect("portal:case", landed.public_token)


@customer_required
@require_POST
def case_close(request: HttpRequest, public_token: str) -> HttpResponse:
    case = access.portal_case(request.customer, public_token)
    try:
        case = services.portal_close(customer=request.customer, case=case)
        flash.success(request, "Thanks — we've marked this request as settled.")
    except ApplicationError as exc:
        _error(request, exc)
    return redirect("portal:case", case.public_token)


@customer_required
@require_POST
def case_reopen(request: HttpRequest, public_token: str) -> HttpResponse:
    case = access.portal_case(request.customer, public_token)
    form = ReopenForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        landed = services.portal_reopen(customer=request.customer, case=case, reason=reason)
    except ApplicationError as exc:
        _error(request, exc)
        return redirect("portal:case", case.public_token)
    if landed.pk != case.pk:
        flash.success(request, f"This request was closed, so we opened {landed.reference} to continue it.")
    else:
        flash.success(request, "Reopened — we'll pick it up again.")
    return redirect("portal:case", landed.public_token)


@customer_required
def attachment_download(request: HttpRequest, public_token: str, attachment_id: int) -> HttpResponse:
    case = access.portal_case(request.customer, public_token)
    attachment = access.public_attachment(case, attachment_id)
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404("The file is no longer available") from None
    # A download, never inline: an uploaded HTML/SVG file cannot run script in our origin.
    response = FileResponse(handle, as_attachment=True, filename=attachment.filename)
    response["Content-Type"] = "application/octet-stream"
    response["X-Content-Type-Options"] = "nosniff"
    return response
