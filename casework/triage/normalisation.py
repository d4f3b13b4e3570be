"""What the model reads of a message: details that name one customer's case replaced by what kind of detail
they are.

Numbers, order and invoice IDs, e-mail and web addresses say nothing about a new customer's category or
priority, but each one is a feature the model can memorise from the writer who used it: "INV-20931",
"€2,340" or "order 5590231" then pull a message towards the label of the one message that had them.
Masked, they become one shared feature per kind (``__email__``, ``__url__``, ``__id__``) and digits become
``0`` (an amount, a time and a count keep their shape: "€0,000", "00:00", "000 users"). Chosen by grouped
cross-validation on the training corpus (`bench/triage_model_variants.py`, `README.md`).

Only the model's TF-IDF text is masked: the impact signals (`impact.py`) read the original text, where "12
of our 40 drivers" is a share of the people.

Pure: no Django, no scikit-learn.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_URL = re.compile(r"\bhttps?://\S+|\bwww\.\S+", re.IGNORECASE)
# An ID: a short letter prefix and at least three digits ("INV-20931", "HW-88410", "E-4410", "#12345"
# after the '#'), or five digits or more. "200ms" and "2FA" are words, not IDs.
_ID = re.compile(r"\b[A-Za-z]{1,6}[-_#]?\d{3,}\b|\b\d{5,}\b")
_DIGIT = re.compile(r"\d")


def mask_details(text: str) -> str:
    """E-mail and web addresses and IDs replaced by ``__email__``, ``__url__``, ``__id__``; every other
    digit by ``0``."""
    text = _EMAIL.sub(" __email__ ", text)
    text = _URL.sub(" __url__ ", text)
    text = _ID.sub(" __id__ ", text)
    return _DIGIT.sub("0", text)
