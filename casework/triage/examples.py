"""A labelled message, as training and evaluation see it. Kept apart from `classifier.py` so that loading
labelled files (and importing the worker's jobs) does not import scikit-learn."""

from __future__ import annotations

from dataclasses import dataclass

PRIORITIES = ("critical", "high", "medium", "low")
# The corpus's category slugs, in the order the quality reports print their confusion matrices.
CATEGORIES = (
    "authentication",
    "billing",
    "bug",
    "data",
    "performance",
    "question",
    "feature-request",
    "other",
)


@dataclass(frozen=True)
class Example:
    subject: str
    body: str
    category: str | None = None
    priority: str | None = None
    customer_tier: str = "standard"
    vip: bool = False
    angry: bool | None = None  # the corpus labels tone; a head learns it when examples carry it
