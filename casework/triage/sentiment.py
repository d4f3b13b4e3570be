"""Customer sentiment from VADER's offline lexicon (no cloud, ~0.1 ms per sentence).

Quoted lines are removed first so an angry earlier message that the customer is replying to does not count
against a calm reply. Long texts are cut to their opening and closing (where customers state how they feel,
"fix it or I'm cancelling"): VADER took 13.6 ms on a 5 KB message and 2.5 ms on the 2,000 characters kept.
"""

from __future__ import annotations

import functools

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

HEAD_CHARS = 1_500
TAIL_CHARS = 500
FRUSTRATED_THRESHOLD = -0.5


@functools.cache
def _analyser() -> SentimentIntensityAnalyzer:
    # Loading the lexicon takes ~30 ms; do it once per process.
    return SentimentIntensityAnalyzer()


def strip_quoted(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))


def score(text: str) -> float:
    """VADER compound score in [-1, 1] for the unquoted part of ``text``; 0.0 for empty text."""
    unquoted = strip_quoted(text or "").strip()
    if len(unquoted) > HEAD_CHARS + TAIL_CHARS:
        unquoted = f"{unquoted[:HEAD_CHARS]}\n{unquoted[-TAIL_CHARS:]}"
    if not unquoted:
        return 0.0
    return float(_analyser().polarity_scores(unquoted)["compound"])


def is_frustrated(value: float, threshold: float = FRUSTRATED_THRESHOLD) -> bool:
    return value <= threshold
