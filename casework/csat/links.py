"""Signed survey links: one-click 1–5 ratings and the comment page.

A link carries `{"k": case id, "n": resolution number}` signed with the salt `casework.csat.survey`
(`django.core.signing`, HMAC with SECRET_KEY, timestamped); the score is the last path segment, so the
five links of one mail share a token. Links expire after CASEWORK_CSAT_LINK_DAYS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "casework.csat.survey"
LABELS = {1: "Very unhappy", 2: "Unhappy", 3: "Neutral", 4: "Happy", 5: "Very happy"}


@dataclass(frozen=True)
class SurveyClaim:
    case_id: int
    resolution: int


class BadSurveyLink(Exception):
    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def make_token(case_id: int, resolution: int) -> str:
    return signing.dumps({"k": case_id, "n": resolution}, salt=SALT, compress=False)


def read_token(token: str) -> SurveyClaim:
    try:
        payload = signing.loads(token, salt=SALT, max_age=timedelta(days=settings.CASEWORK["CSAT_LINK_DAYS"]))
        return SurveyClaim(int(payload["k"]), int(payload["n"]))
    except signing.SignatureExpired:
        raise BadSurveyLink(expired=True) from None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise BadSurveyLink(expired=False) from None


def rating_url(token: str, score: int) -> str:
    return f"{settings.BASE_URL}{reverse('csat:rate', args=[token, score])}"


def comment_url(token: str) -> str:
    return f"{settings.BASE_URL}{reverse('csat:comment', args=[token])}"


def survey_context(case_id: int, resolution: int) -> dict:
    """The `csat_survey` notification's own context: five rating links and the comment page."""
    token = make_token(case_id, resolution)
    return {
        "ratings": [{"score": s, "label": LABELS[s], "url": rating_url(token, s)} for s in range(5, 0, -1)],
        "comment_url": comment_url(token),
    }
