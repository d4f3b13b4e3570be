"""Raw MIME for the parser: the message structure read with a compat32-based policy, and header values
decoded only when they are read.

`policy.default` parses every header again on each access, which was most of the time spent parsing a mail;
here plain values are used as written and `policy.default`'s decoders run only where they read better
(encoded words, unusual address lists, RFC 2231 or commented parameters). Pure: no Django, no database.
"""

from __future__ import annotations

import email.feedparser
import functools
import importlib.util
import re
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.policy import Compat32
from email.utils import getaddresses, parsedate_to_datetime

# --------------------------------------------------------------------------- headers


def fix_surrogates(value: str) -> str:
    # The parser keeps undecodable 8-bit header bytes as surrogates, which no database accepts.
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "surrogateescape")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")


class _RawHeaderPolicy(Compat32):
    """compat32, handing out header values as the mail has them (unfolded, 8-bit bytes still escaped).

    policy.default parses a header again on every access, and that parsing was most of the time spent on a
    mail; here only the headers that are read get decoded, and only as far as they are used. compat32 itself
    would wrap values with 8-bit bytes in a ``Header`` that replaces them on ``str()``, losing filenames and
    names that fix_surrogates can still read."""

    def header_fetch_parse(self, name, value):
        key = name.lower()
        if key in _PARAMETER_HEADERS:
            # The parser and _walk ask each part for these several times: short values are remembered.
            return _parameters(key, value) if len(value) <= 1000 else _parameters.__wrapped__(key, value)
        return _unfold(value)


# compat32 splits MIME parameters naively. It reads 'filename=a b.pdf' and 'boundary=----=_Part_1' whole,
# where policy.default stops at the space or the "=", but it keeps comments and stray quotes in the value
# ('"a.pdf" (comment)', an unclosed '"a.pdf'), and it raises on some mixes of RFC 2231 parameters
# ("name*", "name*0"): values with those, and RFC 2231 ones, get policy.default's reading instead.
_PARAMETER_HEADERS = frozenset({"content-type", "content-disposition"})
_PLAIN_PARAMETERS = re.compile(
    r"""
    [^;"()]*                                    # the type or the disposition
    (?: ;
        (?> [ \t]* [^=;"()\s*]+ [ \t]* = [ \t]*   # a name (no RFC 2231 "*") and "="
            (?: "[^"\\]*(?:\\.[^"\\]*)*" [ \t]*     # a quoted string with nothing after it
              | [^;"()\s] [^;"()]* )               # or a token, read up to the next ";"
        )?
    )*
    """,
    re.VERBOSE | re.DOTALL,
)


@functools.lru_cache(maxsize=1024)
def _parameters(name: str, value: str) -> str:
    value = _unfold(value)
    if _PLAIN_PARAMETERS.fullmatch(value):
        return value
    try:
        return str(_header_class(name)(name, fix_surrogates(value)))
    except Exception:  # policy.default's parser has bugs of its own; compat32's reading is better than none
        return value


_PARSE_POLICY = _RawHeaderPolicy()


def _unfold(value: str) -> str:
    if "\n" in value or "\r" in value:
        return value.replace("\r", "").replace("\n", "")
    return value


@functools.lru_cache(maxsize=64)
def _header_class(name: str) -> type:
    return policy.default.header_factory[name]


def _registry_text(name: str, value: str, defects: list[str] | None) -> str:
    """The value as policy.default reads it: for the values the fast paths below leave to it."""
    try:
        return str(_header_class(name.lower())(name, value))
    except Exception as exc:  # header parser bugs must not lose the mail
        if defects is not None:
            defects.append(f"header {name}: {type(exc).__name__}, decoded with compat32")
        try:
            return fix_surrogates(str(make_header(decode_header(value))))
        except Exception:
            return value


def decode_words(value: str, defects: list[str] | None = None, name: str = "x-text") -> str:
    # Without an RFC 2047 encoded word an unstructured value reads as it stands. (Names policy.default does
    # not know, like "x-text", are read as unstructured.)
    return _registry_text(name, value, defects) if "=?" in value else value


def header_text(value: str) -> str:
    """A raw header value (see _RawHeaderPolicy) as text: 8-bit bytes and encoded words decoded."""
    return decode_words(fix_surrogates(_unfold(value)))


def part_header(part: Message, name: str) -> str:
    value = part.get(name)
    return "" if value is None else header_text(value)


# The common shapes of an address list ("Name <a@b>", '"Last, First" <a@b>', "a@b", comma-separated), read
# with a regex. policy.default's address parser costs about 0.3 ms a header; it is kept for everything else
# (comments, groups, obsolete and broken syntax), which it reads better than email.utils.getaddresses.
_ATEXT = r"[^\s\x00-\x1f\x7f()<>\[\]:;@\\,.\"]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_ADDR_SPEC = rf"{_DOT_ATOM}@{_DOT_ATOM}"
_DISPLAY_NAME = rf'"(?P<quoted>[^"\\\r\n]*)"|(?P<phrase>{_ATEXT}+(?:[ \t]+{_ATEXT}+)*)'
_MAILBOX = re.compile(
    rf"[ \t]*(?:(?P<bare>{_ADDR_SPEC})|(?:{_DISPLAY_NAME})?[ \t]*<(?P<addr>{_ADDR_SPEC})>)[ \t]*(?:,|\Z)"
)
_WSP = re.compile(r"[ \t]+")
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_HELD = re.compile("\ue000(\\d+)\ue001")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# How many addresses of one To/Cc/Reply-To header are kept: a mail to 200,000 recipients is read, but only
# the first ones matter for threading and for who is copied.
MAX_ADDRESSES = 500


def _simple_mailboxes(value: str) -> list[tuple[str, str]] | None:
    pairs = []
    position = 0
    while position < len(value):
        match = _MAILBOX.match(value, position)
        if match is None or (match.end() == len(value) and value.endswith(",")):
            return None
        if match["bare"]:
            pairs.append(("", match["bare"]))
        else:
            # policy.default turns each run of blanks in a display name, quoted or not, into one space.
            name = _WSP.sub(" ", match["quoted"] or match["phrase"] or "").strip(" ")
            pairs.append((name, match["addr"]))
        position = match.end()
    return pairs or None


class Headers:
    """The first value of each header of one message, decoded only when asked for."""

    def __init__(self, msg: Message, defects: list[str]) -> None:
        self._raw: dict[str, str] = {}
        for key, value in msg.raw_items():
            self._raw.setdefault(key.lower(), value)
        self._defects = defects

    def raw(self, name: str) -> str:
        value = self._raw.get(name.lower())
        return "" if value is None else fix_surrogates(_unfold(value))

    def get(self, name: str) -> str:
        """An unstructured header as text."""
        return decode_words(self.raw(name), self._defects, name)

    def addresses(self, name: str) -> tuple[str, list[tuple[str, str]]]:
        """An address header as text and as (display name, address) pairs.

        The addresses are read from the raw header and only the display names are decoded afterwards: an
        encoded word can hide anything (`=?utf-8?q?Eve=0D=0ABcc:_evil@x?= <real@sender>`), and decoding it
        first would let a display name pose as the address."""
        value = self.raw(name)
        if not value:
            return "", []
        if "=?" not in value:
            pairs = _simple_mailboxes(value)
            if pairs is not None:
                return value, pairs
            value = _registry_text(name, value, self._defects)
            return value, parse_addresses(value)
        words: list[str] = []

        def hold(match: re.Match[str]) -> str:
            words.append(match.group(0))
            return f"\ue000{len(words) - 1}\ue001"

        masked = _ENCODED_WORD.sub(hold, value)
        pairs = _simple_mailboxes(masked)
        if pairs is None:
            pairs = parse_addresses(_registry_text(name, masked, self._defects))

        def restore(text: str) -> str:
            return _HELD.sub(lambda match: words[int(match.group(1))], text)

        decoded = []
        for display, address in pairs:
            display = decode_words(restore(display), self._defects) if display else ""
            decoded.append((_CONTROL.sub(" ", display).strip(), restore(address)))
        return _CONTROL.sub(" ", _registry_text(name, value, self._defects)), decoded


def message_ids(value: str) -> list[str]:
    found = re.findall(r"<([^<>\s]+)>", value)
    if not found:
        found = [token.strip("<>,;") for token in value.split() if "@" in token]
    return [item for item in found if item]


def parse_addresses(value: str) -> list[tuple[str, str]]:
    if not value:
        return []
    try:
        return getaddresses([value])
    except Exception:
        return [("", token) for token in re.findall(r"[\w.+'-]+@[\w.-]+", value)]


def address_list(pairs: list[tuple[str, str]], limit: int = MAX_ADDRESSES) -> list[str]:
    """The distinct addresses, lower-cased, in order, at most `limit` of them (linear in the header)."""
    result: dict[str, None] = {}
    for _name, address in pairs:
        address = address.strip().lower()
        if "@" in address:
            result.setdefault(address)
            if len(result) >= limit:
                break
    return list(result)


def parse_date(value: str, defects: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append(f"unparseable Date header {value[:60]!r}")
        return None
    if parsed.tzinfo is None:
        # RFC 5322 "-0000" means "zone unknown"; UTC is the least surprising reading.
        return parsed.replace(tzinfo=UTC)
    return parsed


# --------------------------------------------------------------------------- MIME structure

# email.feedparser compiles one regex per multipart boundary, "(?P<sep>" + re.escape(separator) + a fixed
# tail; boundaries are unique per mail, so re's cache never hits and compiling it took ~0.25 ms a mail. A
# private copy of the module gets a ``re`` that answers exactly that pattern with an equivalent matcher
# (a startswith() check plus one regex per separator length) and passes every other pattern to re.
_BOUNDARY_HEAD = "(?P<sep>"
_BOUNDARY_TAIL = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_ESCAPED_CHAR = re.compile(r"\\(.)", re.DOTALL)


@functools.lru_cache(maxsize=256)
def _any_separator_regex(length: int) -> re.Pattern[str]:
    return re.compile(f"{_BOUNDARY_HEAD}.{{{length}}}{_BOUNDARY_TAIL}", re.DOTALL)


class _BoundaryMatcher:
    """Matches what the compiled boundary pattern matches, with the same match objects."""

    def __init__(self, pattern: str, separator: str) -> None:
        self._pattern = pattern
        self._separator = separator
        self._regex = _any_separator_regex(len(separator))

    def match(self, line: str) -> re.Match[str] | None:
        return self._regex.match(line) if line.startswith(self._separator) else None

    def __getattr__(self, name: str):  # anything else a future feedparser might call
        return getattr(re.compile(self._pattern), name)


class _FeedparserRe:
    def __getattr__(self, name: str):
        return getattr(re, name)

    @staticmethod
    def compile(pattern, flags=0):
        if not flags and isinstance(pattern, str) and pattern.startswith(_BOUNDARY_HEAD):
            escaped = pattern[len(_BOUNDARY_HEAD) :].removesuffix(_BOUNDARY_TAIL)
            separator = _ESCAPED_CHAR.sub(r"\1", escaped)
            # Only a pattern that is exactly head + re.escape(separator) + tail is replaced.
            if _BOUNDARY_HEAD + re.escape(separator) + _BOUNDARY_TAIL == pattern:
                return _BoundaryMatcher(pattern, separator)
        return re.compile(pattern, flags)


def _private_feedparser():
    try:
        spec = importlib.util.find_spec("email.feedparser")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except Exception:  # a stdlib that cannot be loaded twice: the shared module, at its usual speed
        return email.feedparser
    module.re = _FeedparserRe()
    return module


_feedparser = _private_feedparser()


def parse_bytes(data: bytes) -> Message:
    # What BytesParser(policy=...).parsebytes() does, with the private feedparser.
    text = data.decode("ascii", "surrogateescape")
    parser = _feedparser.FeedParser(policy=_PARSE_POLICY)
    for start in range(0, len(text), 8192):
        parser.feed(text[start : start + 8192])
    return parser.close()
