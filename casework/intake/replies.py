"""Reply stripping: the new text of a reply, with quoted history and signature removed.

Pure, like parsing.py (which calls ``extract_reply`` for ``ParsedMessage.reply_text``). Scored against
../shared/data/email/replies/expected.jsonl in tests/test_reply_stripping.py.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from re import _constants as _sre
from re import _parser as _sre_parser

from mailparser_reply.parser import EmailMessage

DEFAULT_REPLY_LANGUAGES = ("en", "de", "fr", "es", "it", "nl")

# mail-parser-reply finds most quote headers; these patterns cover what it misses (measured on
# ../shared/data/email/replies): headers in languages it lacks, headers wrapped over two lines, localized
# "Original Message" separators, and Outlook header blocks in more languages.

_WROTE_VERBS = (
    r"wrote|schrieb|a\s+écrit|écrit|escribió|ha\s+scritto|schreef|geschreven|napisał|napisała|napisał\(a\)|"
    r"nadesłał|escreveu|skrev|kirjoitti|написал|написала|написал\(а\)|пишет|napsal|napsal\(a\)|írta"
)
# "On <date>, <name> wrote:" in its many languages: a wrote-verb, plus a date (digit) or a known opening word,
# ending in ":" (or the verb itself ending the line, as some clients drop the colon). The leading "*+" is
# possessive: the lookahead runs once per line, not once per leading ">" (a line of ">"s took minutes).
_WROTE_HEADERS = re.compile(
    r"^[>\s-]*+(?=.*\d|(?:On|Am|Le|El|Il|Op|Den|Em|Dne|W\s+dniu|Dnia)\b)"
    rf"(?:.{{0,200}}?\b(?:{_WROTE_VERBS})\b.{{0,120}}:|.{{0,200}}?\b(?:{_WROTE_VERBS}))\s*-*\s*$"
    r"|^[>\s]*.{0,80}\d.{0,80}<[^<>\s]+@[^<>\s]+>\s?:\s*$",
    re.IGNORECASE,
)
_SEPARATOR_LINE = re.compile(
    r"^\s*(?:>\s*)*(?:-{3,}\s*[^-\n]{3,50}?\s*-{3,}|_{20,}|-{20,}|Begin forwarded message:|"
    r"\*{0,2}From:\*{0,2}\s.*\bSent:\s.*)\s*$",
    re.IGNORECASE,
)
_FROM_LABELS = r"From|Von|De|Da|Van|Från|Fra|Od|От|Lähettäjä|Feladó|Van|发件人|差出人"
_OTHER_LABELS = (
    r"Sent|Date|To|Subject|Cc|Gesendet|Datum|An|Betreff|Envoyé|À|A|Objet|Enviado|Para|Asunto|Fecha|Inviato|"
    r"Oggetto|Data|Verzonden|Aan|Onderwerp|Skickat|Till|Ämne|Sendt|Til|Emne|Do|Temat|Wysłano|Отправлено|Кому|"
    r"Тема|Дата|Lähetetty|Vastaanottaja|Aihe|Enviada|Assunto|Dátum|Tárgy|Címzett|收件人|主题|日期|発信日時|件名|"
    r"Message du|Copie à|Sujet"
)
_HEADER_LINE = re.compile(
    rf"^\s*(?:>\s*)*\*{{0,2}}(?:{_FROM_LABELS}|{_OTHER_LABELS})\s?:\*{{0,2}}\s*\S?", re.I
)
_FROM_LINE = re.compile(rf"^\s*(?:>\s*)*\*{{0,2}}(?:{_FROM_LABELS})\s?:\*{{0,2}}(?:\s|$)", re.IGNORECASE)
_SIGNATURE_DELIMITER = re.compile(r"^(?:--\s?|__|—\s?-)$")
_SENT_FROM = re.compile(
    r"^(?:Sent from my|Sent from|Get Outlook for|Sent via|Envoyé de mon|Envoyé depuis|Von meinem|"
    r"Gesendet von|Enviado desde mi|Enviado do meu|Inviato da|Verzonden vanaf|Verstuurd vanaf mijn|"
    r"Skickat från|Sendt fra|Envoyé à partir de|Obtenir Outlook pour)\b[^,.;:!?<]{0,60}(?:<[^<>\s]*>)?$",
    re.IGNORECASE,
)
_header_regex_cache: dict[tuple[str, ...], tuple[re.Pattern[str], bool]] = {}


def _library_header_matches(text: str, languages: Sequence[str]) -> Iterator[re.Match[str]]:
    """``finditer`` of mail-parser-reply's quote-header regex over ``text``.

    That regex is one alternation of a dozen patterns, and ``finditer`` tries all of them at every position
    of the text (~0.3 ms a mail). Each of them starts with "^" or "\\n", so when the parsed pattern proves
    that, only line starts and line breaks are tried, in order: the same matches, a few ``match`` calls."""
    key = tuple(languages)
    if key not in _header_regex_cache:
        regex = EmailMessage(text="", languages=list(languages)).HEADER_REGEX
        _header_regex_cache[key] = (regex, _matches_start_at_lines(regex))
    regex, at_lines = _header_regex_cache[key]
    if not at_lines:
        yield from regex.finditer(text)
        return
    position = found = 0
    while True:
        match = regex.match(text, position)
        if match:
            if match.end() == position:  # empty matches follow finditer's own rules: let it handle them
                yield from itertools.islice(regex.finditer(text), found, None)
                return
            yield match
            found += 1
            position = match.end()
        elif position < len(text) and text[position] == "\n":
            position += 1
        else:
            position = text.find("\n", position)
            if position < 0:
                return


def _matches_start_at_lines(regex: re.Pattern[str]) -> bool:
    try:
        return _starts_at_line_boundary(_sre_parser.parse(regex.pattern, regex.flags))
    except Exception:  # re's parser is internal: if it changes, scan the plain way
        return False


def _starts_at_line_boundary(items) -> bool:
    """Whether a match of this parsed pattern can only start where "^" or "\\n" matches."""
    for op, av in items:
        if op is _sre.AT:
            return av in (_sre.AT_BEGINNING, _sre.AT_BEGINNING_STRING)
        if op is _sre.LITERAL:
            return av == ord("\n")
        if op in (_sre.ASSERT, _sre.ASSERT_NOT):
            continue  # zero-width: the next item decides
        if op is _sre.SUBPATTERN:
            return _starts_at_line_boundary(av[-1])
        if op is _sre.BRANCH:
            return all(_starts_at_line_boundary(branch) for branch in av[1])
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            if not _starts_at_line_boundary(av[2]):
                return False
            if av[0] >= 1:
                return True
            continue  # it may match nothing: then what follows decides
        return False
    return False


# Possessive "*+" for the same reason as in _WROTE_HEADERS.
_OPENER = re.compile(r"^[>\s-]*+(?:.*\d|(?:On|Am|Le|El|Il|Op|Den|Em|Dne|W\s+dniu|Dnia)\b)", re.IGNORECASE)
_SIGN_OFF = re.compile(
    r"^(?:(?:best|kind|warm|many)\s+regards|regards|cheers|best|thanks|many thanks|thank you|sincerely|"
    r"mit freundlichen grü(?:ß|ss)en|(?:viele |beste |liebe )?grü(?:ß|ss)e|cordialement|bien à vous|saludos|"
    r"un saludo|cordiali saluti|distinti saluti|met vriendelijke groet(?:en)?|groeten|hälsningar|"
    r"med vänlig hälsning|med venlig hilsen)\s*[,.!]?$",
    re.IGNORECASE,
)


def _quote_header_at(lines: list[str], index: int) -> int:
    """How many lines the "… wrote:" header starting at ``index`` spans (0 when there is none)."""
    stripped = lines[index].strip()
    if _WROTE_HEADERS.match(stripped):
        return 1
    if not _OPENER.match(stripped):
        return 0
    # Clients wrap long headers ("On Mon, … Bob <\nbob@x> wrote:"); rejoin up to three lines.
    joined = stripped
    for extra in (1, 2):
        if index + extra >= len(lines) or not lines[index + extra].strip():
            return 0
        joined = f"{joined} {lines[index + extra].strip()}"
        if _WROTE_HEADERS.match(joined):
            return extra + 1
    return 0


def _quote_cut_line(lines: list[str], languages: Sequence[str]) -> tuple[int, int] | None:
    """(first quoted line, lines its "wrote:" header spans or 0), or None when nothing is quoted."""
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        span = _quote_header_at(lines, index)
        if span:
            return index, span
        if index > 0 and _SEPARATOR_LINE.match(stripped):
            return index, 0
        if _FROM_LINE.match(stripped) or (_HEADER_LINE.match(stripped) and index > 0):
            following = [other for other in lines[index + 1 : index + 5] if other.strip()]
            has_header_after = any(_HEADER_LINE.match(o) for o in following[:3])
            if has_header_after and (
                _FROM_LINE.match(stripped) or any(_FROM_LINE.match(o) for o in following)
            ):
                return index, 0
    # Fall back to the library's own (multi-language) header patterns; it works on stripped lines.
    normalised = "\n".join(line.strip() for line in lines)
    for match in _library_header_matches(normalised, languages):
        start = match.start() + (len(match.group(0)) - len(match.group(0).lstrip()))
        line_index = normalised.count("\n", 0, start)
        if line_index > 0:
            return line_index, 0
    return None


def _is_noise(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith(">") or not re.sub(r"[=\-_*#~.]", "", stripped)


def _in_quote_block(lines: list[str], index: int) -> bool:
    line = lines[index].lstrip()
    if not line or line.startswith(">"):
        return True
    # Clients re-wrap quoted paragraphs, leaving unmarked continuation lines that start mid-sentence.
    return index > 0 and lines[index - 1].lstrip().startswith(">") and line[0].islower()


def strip_quoted(text: str, languages: Sequence[str] = DEFAULT_REPLY_LANGUAGES) -> str:
    """The newest part of a reply: the text outside the quoted history (signature kept)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found = _quote_cut_line(lines, languages)
    below = ""
    if found is not None:
        cut, span = found
        rest = lines[cut + span :]
        # Bottom-posted or inline answer: after a "wrote:" header and its ">" block comes unquoted text.
        position = 0
        while position < len(rest) and _in_quote_block(rest, position):
            position += 1
        if span and position < len(rest) and any(line.lstrip().startswith(">") for line in rest[:position]):
            below = strip_quoted("\n".join(rest[position:]), languages)
        lines = lines[:cut]
    while lines and _is_noise(lines[-1]):
        lines.pop()
    above = "\n".join(lines).rstrip()
    return f"{above}\n\n{below}" if above and below else (above or below)


def strip_signature(text: str) -> str:
    lines = text.split("\n")
    for index, line in enumerate(lines):
        stripped = line.strip()
        if index == 0:
            continue
        if _SIGNATURE_DELIMITER.match(stripped) or _SENT_FROM.match(stripped):
            return "\n".join(lines[:index]).rstrip()
        # A sign-off counts only when just a short name block follows it, so "Thanks," mid-text survives.
        if _SIGN_OFF.match(stripped) and sum(bool(o.strip()) for o in lines[index + 1 :]) <= 4:
            return "\n".join(lines[:index]).rstrip()
    return text.rstrip()


def extract_reply(text: str, languages: Sequence[str] = DEFAULT_REPLY_LANGUAGES) -> str:
    """New text of a reply: quoted history and signature removed."""
    reply = strip_signature(strip_quoted(text, languages))
    return "\n".join(line.rstrip() for line in reply.split("\n")).strip()


@dataclass(frozen=True)
class ReplySegment:
    body: str
    signatures: str
    header: str


def split_thread(text: str, languages: Sequence[str] = DEFAULT_REPLY_LANGUAGES) -> list[ReplySegment]:
    """Every reply in a quoted thread, newest first (mail-parser-reply's segmentation)."""
    message = EmailMessage(text=text, languages=list(languages)).read()
    return [ReplySegment(r.body, r.signatures or "", r.headers or "") for r in message.replies]
