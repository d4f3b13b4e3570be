"""The public web form (`/portal/new/`), embeddable in an iframe on the customer's own site.

Only these routes may be framed: they drop `X-Frame-Options` and send `Content-Security-Policy:
frame-ancestors` from CASEWORK_WEBFORM_FRAME_ANCESTORS; every other page keeps Django's `DENY`. The
form posts without a CSRF token (a third-party iframe does not get the SameSite=Lax CSRF cookie, and the
form carries no session authority: it only opens a case as the address typed in). Spam is held off by a
honeypot field, a signed time stamp (the time trap) and a per-IP rate limit; a refused post keeps what
was typed and says what to do. The case is opened through the case-creation door with channel `web`.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from casework.cases.services import NewAttachment
from casework.core.errors import ApplicationError
from casework.knowledge.suggest import new_session_token

from . import ratelimit, services
from .forms import WebForm, time_stamp
from .views import client_ip, current_customer

SENT_SALT = "casework.portal.webform.sent"
SENT_MAX_AGE = 3600


def frameable(view):
    """Let other sites embed this view (and only this view) in an iframe."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.xframe_options_exempt = True
        ancestors = " ".join(settings.CASEWORK["WEBFORM_FRAME_ANCESTORS"]) or "'none'"
        response["Content-Security-Policy"] = f"frame-ancestors {ancestors}"
        return response

    return wrapper


def _embed(request: HttpRequest) -> bool:
    return request.GET.get("embed") == "1" or request.POST.get("embed") == "1"


def _render(request, form, status=200):
    return render(
        request,
        "portal/webform.html",
        {"form": form, "embed": _embed(request), "customer": current_customer(request)},
        status=status,
    )


def _again(request, form: WebForm, status: int) -> HttpResponse:
    """Show the form again with what was typed (minus files, which browsers cannot refill) and a fresh
    time stamp."""
    data = request.POST.copy()
    data["started"] = time_stamp()
    data["website"] = ""
    again = WebForm(data)
    again._errors = form.errors  # the errors of the real attempt; the copy is not validated again
    return _render(request, again, status=status)


@csrf_exempt
@frameable
def new_request(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        customer = current_customer(request)
        initial = {"started": time_stamp(), "suggestion_session": new_session_token()}
        if customer is not None:
            initial.update(name=customer.name, email=customer.email)
        return _render(request, WebForm(initial=initial))
    form = WebForm(request.POST, request.FILES)
    if not form.is_valid():
        return _again(request, form, status=400 if form.trap else 422)
    if not ratelimit.allow(
        "webform-ip",
        client_ip(request),
        limit=settings.CASEWORK["WEBFORM_POSTS_PER_IP_HOUR"],
        window=services.HOUR,
    ):
        form.add_error(None, "Too many requests from your network in the last hour; please try again later.")
        return _again(request, form, status=429)
    data = form.cleaned_data
    files = [
        NewAttachment(filename=f.name, content=f.read(), content_type=getattr(f, "content_type", "") or "")
        for f in data["attachments"]
    ]
    try:
        case = services.webform_submit(
            name=data["name"],
            email=data["email"],
            subject=data["subject"],
            description=data["description"],
            category=data["category"],
            attachments=files,
            ip=client_ip(request),
            suggestion_session=data["suggestion_session"],
        )
    except ApplicationError as exc:
        form.add_error(None, exc.message)
        return _again(request, form, status=422)
    sent = signing.dumps(case.reference, salt=SENT_SALT)
    url = reverse("portal:new_sent", args=[sent])
    return redirect(f"{url}?embed=1" if _embed(request) else url)


@frameable
def new_request_sent(request: HttpRequest, sent: str) -> HttpResponse:
    try:
        reference = signing.loads(sent, salt=SENT_SALT, max_age=SENT_MAX_AGE)
    except signing.BadSignature:
        return redirect("portal:new")
    return render(
        request,
        "portal/webform_sent.html",
        {"reference": reference, "embed": _embed(request), "customer": current_customer(request)},
    )


@require_GET
@frameable
def suggestions(request: HttpRequest) -> JsonResponse:
    """Knowledge-base suggestions for what the visitor is typing — the hook the knowledge issue fills.

    Contract: `GET /portal/new/suggestions/?q=<subject and description so far>&s=<session>` answers
    `{"query": "<q, trimmed to 500 chars>", "suggestions": [{"title": str, "url": str, "excerpt": str}, …]}`
    (at most 5, best first). The web form's script (`static/portal/portal.js`) calls it while the visitor
    types (debounced, from 12 characters on) and shows the list in the `kb_suggestions` block of
    `portal/webform.html`; an empty list shows nothing. `s` is the form's deflection session (a hidden
    field the page was given): the shown articles are recorded against it, their URLs carry it so an
    opened one is recorded, and the form posts it so a request sent anyway is recorded too.
    """
    query = " ".join(request.GET.get("q", "").split())[:500]
    return JsonResponse({"query": query, "suggestions": find_suggestions(query, request.GET.get("s", ""))})


def find_suggestions(query: str, token: str = "") -> list[dict]:
    """Published public articles that may answer `query`, best first (casework/knowledge/suggest.py)."""
    from casework.knowledge.suggest import suggestions_for_visitor

    return suggestions_for_visitor(query, token)
