"""Agent workspace: the agent's own API tokens."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from casework.core.errors import ApplicationError
from casework.people.permissions import agent_required as login_required

from .views import _error

# --------------------------------------------------------------------------------------------------
# the agent's own API tokens (issue 17 adds roles and scopes; until then a person manages only theirs)
# --------------------------------------------------------------------------------------------------

_NEW_TOKEN = "casework.new_api_token"


@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    """List the agent's tokens; POST makes one. The secret is shown once, on the page the POST redirects
    to (kept in the session for that one read), so a reload never makes a second token."""
    from casework.api.services import token_issue, tokens_of

    if request.method == "POST":
        try:
            token, raw = token_issue(user=request.user, name=request.POST.get("name", ""))
        except ApplicationError as exc:
            _error(request, exc)
        else:
            request.session[_NEW_TOKEN] = {"id": token.pk, "secret": raw}
            messages.success(request, "Token created. Copy it now: it is shown only this once.")
        return redirect("web:api_tokens")
    new = request.session.pop(_NEW_TOKEN, None)
    return render(
        request,
        "web/api_tokens.html",
        {"tokens": tokens_of(request.user), "new_token": new, "base_url": request.build_absolute_uri("/")},
    )


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    from casework.api.services import token_revoke

    try:
        token = token_revoke(user=request.user, token_id=token_id)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    messages.success(request, f"Token {token.prefix}… revoked: it no longer works.")
    return redirect("web:api_tokens")
