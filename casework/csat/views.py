"""CSAT pages: the customer's one-click rating and comment page (public, the signed link is the key),
and the team leads' review queue (agents only)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from casework.cases.models import Case
from casework.core.errors import ApplicationError, Conflict
from casework.people.permissions import LEAD, role_required

from . import selectors, services
from .forms import CloseReviewForm, CommentForm
from .links import LABELS, BadSurveyLink, read_token
from .models import CsatAnswer, ReviewStatus


def _survey_case(token: str) -> tuple[Case | None, int, HttpResponse | None]:
    try:
        claim = read_token(token)
    except BadSurveyLink as bad:
        return None, 0, _problem("expired" if bad.expired else "invalid")
    case = Case.objects.select_related("customer").filter(pk=claim.case_id).first()
    if case is None:
        return None, 0, _problem("invalid")
    return case, claim.resolution, None


def _problem(kind: str) -> HttpResponse:
    from django.template.loader import render_to_string

    status = 410 if kind == "expired" else 400
    return HttpResponse(render_to_string("csat/problem.html", {"problem": kind}), status=status)


def _thanks(request, case, answer, token, *, status=200, locked=False, form=None) -> HttpResponse:
    form = form or CommentForm(initial={"score": answer.score, "comment": answer.comment})
    return render(
        request,
        "csat/thanks.html",
        {
            "case": case,
            "answer": answer,
            "label": LABELS[answer.score],
            "token": token,
            "form": form,
            "locked": locked,
            "may_change": services.may_change(answer),
        },
        status=status,
    )


def rate(request: HttpRequest, token: str, score: int) -> HttpResponse:
    """One click from the survey mail records the score (or changes it within the change window)."""
    case, resolution, problem = _survey_case(token)
    if problem is not None:
        return problem
    try:
        answer = services.csat_record(case=case, score=score, resolution=resolution)
    except Conflict:
        return _thanks(request, case, CsatAnswer.objects.get(case=case), token, status=409, locked=True)
    except ApplicationError:
        return _problem("invalid")
    return _thanks(request, case, answer, token)


def comment(request: HttpRequest, token: str) -> HttpResponse:
    case, resolution, problem = _survey_case(token)
    if problem is not None:
        return problem
    answer = CsatAnswer.objects.filter(case=case).first()
    form = CommentForm(request.POST or None, initial={"score": answer.score if answer else None})
    if request.method == "POST" and form.is_valid():
        try:
            answer = services.csat_record(
                case=case,
                score=form.cleaned_data["score"],
                resolution=resolution,
                comment=form.cleaned_data["comment"],
            )
        except Conflict:
            return _thanks(request, case, answer, token, status=409, locked=True)
        return render(
            request, "csat/done.html", {"case": case, "answer": answer, "label": LABELS[answer.score]}
        )
    if answer is not None and request.method != "POST":
        return _thanks(request, case, answer, token, locked=not services.may_change(answer))
    return render(
        request,
        "csat/comment.html",
        {"case": case, "form": form, "token": token},
        status=422 if request.method == "POST" else 200,
    )


@role_required(LEAD)
def reviews(request: HttpRequest) -> HttpResponse:
    if not selectors.is_reviewer(request.user):
        raise PermissionDenied("The review queue is for team leads.")
    status = request.GET.get("status", ReviewStatus.OPEN)
    if status not in ReviewStatus.values:
        status = ReviewStatus.OPEN
    rows = selectors.review_queue(request.user, status=status)
    return render(
        request,
        "csat/reviews.html",
        {
            "rows": rows,
            "status": status,
            "form": CloseReviewForm(),
            "statuses": ReviewStatus.choices,
            "threshold": services.review_threshold(),
        },
    )


@role_required(LEAD)
@require_POST
def review_close(request: HttpRequest, review_id: int) -> HttpResponse:
    review = get_object_or_404(selectors.reviews_for(request.user), pk=review_id)
    form = CloseReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose an outcome and write a note to close the review.")
        return redirect("csat:reviews")
    try:
        services.csat_review_close(
            review=review,
            outcome=form.cleaned_data["outcome"],
            note=form.cleaned_data["note"],
            actor=request.user,
        )
        messages.success(request, f"Review of {review.case.reference} closed.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("csat:reviews")
