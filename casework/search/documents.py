"""Pure pieces of search: what a case's document says, how a typed query is read, how a hit is highlighted.

No database here; `index.py` writes documents and `selectors.py` runs queries, on either database.
Words are runs of letters and digits (`WORD`), the same split SQLite's unicode61 tokenizer and the
punctuation-stripped PostgreSQL vectors make, so a word typed here is a word found there.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

WORD = re.compile(r"[^\W_]+")
# A message can be megabytes (a pasted log); the index keeps the start of each and of the whole case.
MESSAGE_CHARS = 20_000
BODY_CHARS = 200_000
MAX_TERMS = 10
MAX_KEYWORDS = 24
# Private markers around matches in snippets; escaped text can never contain them.
MARK_START, MARK_END = "\x02", "\x03"


@dataclass(frozen=True)
class DocumentParts:
    reference: str
    number: int
    subject: str
    description: str
    customer_name: str = ""
    customer_email: str = ""
    organisation: str = ""
    tags: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Document:
    reference: str
    subject: str
    people: str
    tags: str
    body: str


def reference_forms(reference: str, number: int) -> str:
    """'CW-000123' → 'CW-000123 CW000123 000123 123': typed with or without prefix, padding or dash."""
    prefix = reference.split("-", 1)[0] if "-" in reference else ""
    padded = reference.split("-", 1)[1] if "-" in reference else reference
    forms = [reference, f"{prefix}{padded}", padded, str(number)]
    return " ".join(dict.fromkeys(f for f in forms if f))


def build_document(parts: DocumentParts) -> Document:
    email = parts.customer_email or ""
    email_words = " ".join(WORD.findall(email))
    people = " ".join(p for p in (parts.customer_name, email, email_words, parts.organisation) if p)
    body_parts: list[str] = []
    size = 0
    for position, text in enumerate((parts.description, *parts.messages)):
        # The opening message usually repeats the description (and, built from the write's own
        # message, may be the very same string object: compare by position, not identity).
        if not text or (position > 0 and text == parts.description):
            continue
        text = text[:MESSAGE_CHARS]
        if size + len(text) > BODY_CHARS:
            text = text[: max(0, BODY_CHARS - size)]
        if text:
            body_parts.append(text)
            size += len(text) + 2
        if size >= BODY_CHARS:
            break
    return Document(
        reference=reference_forms(parts.reference, parts.number),
        subject=parts.subject or "",
        people=people,
        tags=" ".join(parts.tags),
        body="\n\n".join(body_parts).replace("\x00", ""),
    )


# Words that say nothing about the problem: left out of 'any of these words' queries (suggestions).
_STOPWORD_LINES = (
    "a about above after again against all also am an and any are as at be because been before being",
    "below between both but by can cannot could did do does doing don down during each few for from",
    "further get gets getting got had has have having he her here hers herself him himself his how i",
    "if in into is it its itself just let me more most my myself no nor not now of off on once only",
    "or other our ours ourselves out over own please same she should so some such than thank thanks",
    "that the their theirs them themselves then there these they this those through to too under",
    "until up us very was we were what when where which while who whom why will with would you your",
    "yours yourself yourselves hi hello dear regards best cheers help need want trying tried try",
    "still anyone someone something way keep keeps kept since like really",
)
STOPWORDS = frozenset(word for line in _STOPWORD_LINES for word in line.split())


def keywords(text: str, *, limit: int = MAX_KEYWORDS) -> list[str]:
    """The meaningful words of a text, first occurrence order, without stop words and one-letter words."""
    seen = dict.fromkeys(
        w
        for w in (w.casefold() for w in WORD.findall(text or ""))
        if len(w) > 1 and w not in STOPWORDS and not w.isdigit()
    )
    return list(seen)[:limit]


@dataclass(frozen=True)
class ParsedQuery:
    text: str
    terms: tuple[str, ...]
    # The case number when the whole query is a reference (CW-123, cw000123, 000123, 123).
    number: int | None = None

    @property
    def empty(self) -> bool:
        return not self.terms


def parse_query(text: str, *, prefix: str = "CW") -> ParsedQuery:
    text = " ".join((text or "").split())[:500]
    terms = [t.casefold() for t in WORD.findall(text)]
    number = None
    match = re.fullmatch(rf"(?:{re.escape(prefix)}\s*-?\s*)?#?(\d{{1,12}})", text, flags=re.IGNORECASE)
    if match:
        number = int(match.group(1))
        # "CW-123", "cw000123": the prefix is in every case's reference; only the digits narrow it down.
        terms = [match.group(1)]
    return ParsedQuery(text=text, terms=tuple(dict.fromkeys(terms))[:MAX_TERMS], number=number)


def fts5_match(query: ParsedQuery) -> str:
    """FTS5 MATCH expression: every word must appear, each as a prefix (typing, and 'export' finds
    'exports'); one-letter words only whole (a one-letter prefix matches nearly everything)."""
    return " ".join(f'"{t}"*' if len(t) > 1 else f'"{t}"' for t in query.terms)


def tsquery(query: ParsedQuery) -> str:
    """PostgreSQL to_tsquery('simple', …) text with the same meaning as `fts5_match`."""
    return " & ".join(f"{t}:*" if len(t) > 1 else t for t in query.terms)


def _term_pattern(terms: Iterable[str]) -> re.Pattern | None:
    # Word starts only, as the index matches them.
    alternatives = sorted((re.escape(t) for t in terms if t), key=len, reverse=True)
    if not alternatives:
        return None
    return re.compile(r"(?<![^\W_])(?:" + "|".join(alternatives) + r")[^\W_]*", re.IGNORECASE)


def highlight(text: str, terms: Iterable[str], *, width: int = 180) -> str:
    """An HTML-safe excerpt of `text` around the first match of any term, matches in <mark>. Text
    without a match gives its start (escaped)."""
    text = " ".join((text or "").split())
    pattern = _term_pattern(terms)
    found = pattern.search(text) if pattern else None
    if found is None:
        excerpt = text[:width] + ("…" if len(text) > width else "")
        return html.escape(excerpt)
    start = max(0, found.start() - width // 3)
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < found.start() else start
    end = min(len(text), start + width)
    excerpt = text[start:end]
    marked = pattern.sub(lambda m: f"{MARK_START}{m.group(0)}{MARK_END}", excerpt)
    escaped = html.escape(marked).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")
    return ("…" if start else "") + escaped + ("…" if end < len(text) else "")


def mark(text: str, terms: Iterable[str]) -> str:
    """`text` HTML-escaped with the matched words in <mark> (a subject line, whole)."""
    pattern = _term_pattern(terms)
    if pattern is None:
        return html.escape(text)
    marked = pattern.sub(lambda m: f"{MARK_START}{m.group(0)}{MARK_END}", text)
    return html.escape(marked).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")
