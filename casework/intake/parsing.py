"""Pure inbound-mail parsing: raw RFC 5322 bytes → ``ParsedMessage``.

Nothing here touches the database or Django. The parser never raises for content reasons: every problem it
works around is written to ``ParsedMessage.defects`` so the caller can keep or quarantine the message with a
reason. Only input with nothing in it raises ``UnparseableMessage``.
"""

from __future__ import annotations

import binascii
import codecs
import dataclasses
import hashlib
import mimetypes
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from html.parser import HTMLParser

import nh3

from casework.intake.mime import (
    Headers,
    address_list,
    decode_words,
    fix_surrogates,
    header_text,
    message_ids,
    parse_bytes,
    parse_date,
    part_header,
)
from casework.intake.replies import DEFAULT_REPLY_LANGUAGES, extract_reply

# A support mail with more text than this is a log dump or a loop; processing it all would only slow the
# worker and the search index, so the rest is cut and the cut is recorded as a defect.
MAX_TEXT_CHARS = 1_000_000
MAX_FILENAME_CHARS = 150


class UnparseableMessage(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str
    content_type: str
    size: int
    payload: bytes = field(repr=False)
    inline: bool = False
    content_id: str | None = None


@dataclass(frozen=True)
class ParsedMessage:
    from_name: str
    from_address: str
    to: list[str]
    cc: list[str]
    reply_to: list[str]
    subject: str
    date: datetime | None
    message_id: str | None
    in_reply_to: list[str]
    references: list[str]
    text_body: str
    html_body: str
    reply_text: str
    attachments: list[ParsedAttachment]
    is_auto_reply: bool
    auto_reply_reason: str | None
    is_bounce: bool
    bounce_recipient: str | None
    bounce_status: str | None
    bounce_reason: str | None
    bounce_original_message_id: str | None
    fingerprint: str
    defects: list[str]
    raw_size: int


# --------------------------------------------------------------------------- body parts


def decode_part_text(part: Message, defects: list[str]) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception as exc:
        defects.append(f"undecodable payload: {type(exc).__name__}")
        payload = None
    if payload is None:
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    # compat32 leaves an RFC 822 comment in the value ("us-ascii (Plain Text)"); no charset name has a "(".
    charset = (part.get_content_charset() or "utf-8").partition("(")[0].strip().strip('"')
    try:
        codecs.lookup(charset)
    except LookupError:
        defects.append(f"unknown charset {charset!r}")
        charset = "utf-8"
    try:
        return payload.decode(charset)
    except UnicodeDecodeError:
        pass
    except Exception:  # some codecs raise their own errors on junk input
        charset = "utf-8"
    for fallback in ("utf-8", "latin-1"):
        try:
            text = payload.decode(fallback)
            defects.append(f"text not valid {charset}, decoded as {fallback}")
            return text
        except UnicodeDecodeError:
            continue
    return payload.decode("utf-8", errors="replace")  # pragma: no cover - latin-1 always decodes


_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_WINDOWS_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(10)),
}


def safe_filename(name: str | None, content_type: str, index: int) -> str:
    """A name that is safe to use as one path component on any filesystem."""
    name = unicodedata.normalize("NFC", fix_surrogates(name or ""))
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE_FILENAME.sub("_", name).strip().lstrip(".").strip()
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if stem.lower() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    if len(name) > MAX_FILENAME_CHARS:
        ext = ext[:20]
        stem = stem[: MAX_FILENAME_CHARS - len(ext) - 1]
    name = f"{stem}.{ext}" if ext else stem
    if not stem:
        guessed = mimetypes.guess_extension(content_type) or ".bin"
        name = f"attachment-{index}{guessed}"
    return name


_UU_BLOCK = re.compile(r"^begin [0-7]{3,4} ([^\r\n]+)\r?\n(.*?)^end[ \t]*$", re.MULTILINE | re.DOTALL)


def _extract_uuencoded(text: str, defects: list[str]) -> tuple[str, list[tuple[str, bytes]]]:
    files: list[tuple[str, bytes]] = []

    def decode(match: re.Match[str]) -> str:
        data = bytearray()
        for line in match.group(2).splitlines():
            if not line or line == "`":
                continue
            try:
                data += binascii.a2b_uu(line)
            except binascii.Error:
                # Some encoders pad lines wrongly; the length byte says how much is real.
                try:
                    nbytes = (((ord(line[0]) - 32) & 63) * 4 + 5) // 3
                    data += binascii.a2b_uu(line[:nbytes])
                except (binascii.Error, IndexError):
                    defects.append("broken uuencoded line skipped")
        files.append((match.group(1).strip(), bytes(data)))
        return ""

    if "begin " not in text:
        return text, files
    return _UU_BLOCK.sub(decode, text), files


@dataclass
class _Collected:
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)
    dsn_fields: dict[str, str] = field(default_factory=dict)
    returned_message_id: str | None = None
    is_report: bool = False


def _as_bytes(msg: Message) -> bytes:
    try:
        return msg.as_bytes(policy=policy.compat32)
    except Exception:
        return fix_surrogates(msg.as_string(policy=policy.compat32)).encode("utf-8", "replace")


def _walk(part: Message, out: _Collected, defects: list[str], in_report: bool = False) -> None:
    ctype = part.get_content_type()
    if ctype == "multipart/report":
        out.is_report = True
        in_report = in_report or (part.get_param("report-type") or "").lower() == "delivery-status"
    if ctype in ("message/delivery-status", "message/global-delivery-status"):
        out.is_report = True
        _read_dsn(part, out, defects)
        return
    if ctype.startswith("message/") and ctype not in ("message/delivery-status",):
        inner = part.get_payload()
        inner_msg = inner[0] if isinstance(inner, list) and inner else None
        if isinstance(inner_msg, Message):
            if out.returned_message_id is None:
                out.returned_message_id = next(
                    iter(message_ids(Headers(inner_msg, []).get("Message-ID"))), None
                )
            payload = _as_bytes(inner_msg)
        else:
            payload = (part.get_payload(decode=True) or b"") if not part.is_multipart() else b""
        _add_attachment(part, payload, out, default_ext=".eml")
        return
    if part.is_multipart():
        children = part.get_payload()
        for child in children if isinstance(children, list) else []:
            _walk(child, out, defects, in_report)
        return
    if ctype == "text/rfc822-headers":
        headers_text = decode_part_text(part, defects)
        match = re.search(r"^Message-ID:\s*(<[^>]+>)", headers_text, re.IGNORECASE | re.MULTILINE)
        if match and out.returned_message_id is None:
            out.returned_message_id = match.group(1)[1:-1]
        _add_attachment(part, headers_text.encode("utf-8"), out, default_ext=".txt")
        return
    disposition = (part.get_content_disposition() or "").lower()
    filename = _filename(part)
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
        text = decode_part_text(part, defects)
        if len(text) > MAX_TEXT_CHARS:
            defects.append(f"{ctype} part truncated at {MAX_TEXT_CHARS} characters (was {len(text)})")
            text = text[:MAX_TEXT_CHARS]
        if ctype == "text/html":
            out.htmls.append(text)
            return
        text, uu_files = _extract_uuencoded(text, defects)
        for name, data in uu_files:
            _add_attachment(part, data, out, filename=name, content_type="application/octet-stream")
        out.texts.append(text)
        return
    try:
        payload = part.get_payload(decode=True) or b""
    except Exception as exc:
        defects.append(f"undecodable attachment: {type(exc).__name__}")
        payload = b""
    _add_attachment(part, payload, out)


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # RFC 2231 parameters in the wild are often broken
        return None
    # Many clients put RFC 2047 encoded words in filename parameters instead of RFC 2231 ones.
    return decode_words(name) if name else name


def _add_attachment(
    part: Message,
    payload: bytes,
    out: _Collected,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    default_ext: str = "",
) -> None:
    ctype = fix_surrogates(content_type or part.get_content_type())
    name = filename or _filename(part)
    if not name and default_ext:
        name = f"attachment-{len(out.attachments) + 1}{default_ext}"
    content_id = part_header(part, "Content-ID").strip().strip("<>") or None
    inline = (part.get_content_disposition() or "") == "inline" or (
        content_id is not None and part.get_content_disposition() != "attachment"
    )
    out.attachments.append(
        ParsedAttachment(
            filename=safe_filename(name, ctype, len(out.attachments) + 1),
            content_type=ctype,
            size=len(payload),
            payload=payload,
            inline=inline,
            content_id=content_id,
        )
    )


def _read_dsn(part: Message, out: _Collected, defects: list[str]) -> None:
    blocks = part.get_payload()
    if isinstance(blocks, list):
        items = [
            [(key, header_text(value)) for key, value in block.raw_items()]
            for block in blocks
            if isinstance(block, Message)
        ]
    else:
        text = decode_part_text(part, defects)
        items = [re.findall(r"^([\w-]+):[ \t]*(.*(?:\n[ \t].*)*)", text, re.MULTILINE)]
    for block in items:
        for key, value in block:
            key = key.lower()
            if key in ("final-recipient", "original-recipient", "status", "diagnostic-code", "action"):
                out.dsn_fields.setdefault(key, " ".join(fix_surrogates(value).split()))


# --------------------------------------------------------------------------- HTML


_BLOCK_TAGS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "pre"}
_SKIP_TAGS = {"style", "script", "head", "title"}
_VOID_TAGS = {"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr", "source"}
# Containers mail clients wrap quoted history in (Gmail, Outlook for Mac, Thunderbird, Yahoo, Apple Mail).
_QUOTE_MARKERS = ("gmail_quote", "olk_src_body_section", "yahoo_quoted", "moz-cite-prefix", "divrplyfwdmsg")


class _TextExtractor(HTMLParser):
    def __init__(self, drop_quotes: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.drop_quotes = drop_quotes
        self.parts: list[str] = []
        self._stack: list[bool] = []  # per open element: does it hide its content?

    def _hidden(self) -> bool:
        return any(self._stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        marker = " ".join(f"{k}={v}" for k, v in attrs if k in ("class", "id") and v).lower()
        hides = tag in _SKIP_TAGS or (
            self.drop_quotes and (tag == "blockquote" or any(m in marker for m in _QUOTE_MARKERS))
        )
        if tag in _BLOCK_TAGS or tag == "hr":
            self.parts.append("\n")
        if tag not in _VOID_TAGS:
            self._stack.append(hides)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID_TAGS or not self._stack:
            return
        self._stack.pop()
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden():
            self.parts.append(data)


def html_to_text(html: str, *, drop_quotes: bool = False) -> str:
    """Readable text from HTML; with ``drop_quotes`` the quoted-history containers are left out."""
    extractor = _TextExtractor(drop_quotes)
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:  # html.parser can choke on pathological markup
        return nh3.clean(html, tags=set())
    lines = [" ".join(line.split()) for line in "".join(extractor.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def sanitize_html(html: str) -> str:
    return nh3.clean(html, link_rel="noopener noreferrer nofollow")


# --------------------------------------------------------------------------- auto-replies and bounces

_AUTO_SUBJECT = re.compile(
    r"^(?:auto(?:matic)?[ _-]?(?:reply|response)\b|auto:|out of (?:the )?office|abwesenheit|"
    r"automatische antwort|automatisch antwoord|réponse automatique|absence|respuesta automática|"
    r"fuera de la oficina|risposta automatica|fuori sede|afwezig|frånvaro|autosvar|fraværende|poza biurem|"
    r"automatyczna odpowiedź|au(?:ss|ß)er haus|ausser büro)",
    re.IGNORECASE,
)
_BOUNCE_SENDER = re.compile(r"^(?:mailer-daemon|post_?master|mail-daemon|mailerdaemon)(?:@|$)", re.IGNORECASE)
# Senders that are machines; only together with failure wording in the body do they mean a bounce.
_SYSTEM_SENDER = re.compile(
    r"^(?:no-?reply|do-?not-?reply|.*-admin|.*-owner|.*-bounces?|mail-?system)@", re.I
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (?:status notification|failure|failed|has failed|problem|notification)|"
    r"returned mail|failure notice|mail delivery (?:failed|failure|system|subsystem)|non[- ]?delivery|"
    r"could not be delivered|delivery report|nondeliverable|returned to sender|mail system error|"
    r"message not delivered|unzustellbar|non remis|no se puede entregar|could not send|error sending|"
    r"complaint about message|abuse report|feedback report",
    re.IGNORECASE,
)
_BOUNCE_BODY = re.compile(
    r"could(?: not|n't) be delivered|undeliverable|delivery (?:has )?failed|trouble delivering|"
    r"not a member of this mailing list|duplicated message-id|mailbox (?:is )?full|no such user|"
    r"user unknown|permanent(?:ly)? error|message was rejected|invalid (?:user|recipient) address|"
    r"delivery to the following recipient|\"notificationType\"\s*:\s*\"(?:Bounce|Complaint|Delivery)\"|"
    r"送信できませんでした|配信できませんでした|届きませんでした",
    re.IGNORECASE,
)
_STATUS_CODE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


def _auto_reply_reason(headers: Headers, subject: str) -> str | None:
    auto_submitted = headers.get("Auto-Submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"Auto-Submitted: {auto_submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autogenerated", "X-AutoReply-From", "X-Mail-Autoreply"):
        if headers.get(name):
            return f"{name} header"
    precedence = headers.get("Precedence").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    # Mailing-list traffic is noise for acknowledgements: answering it would mail the whole list.
    if headers.get("List-Id"):
        return "mailing list (List-Id)"
    if _AUTO_SUBJECT.match(subject):
        return f"auto-reply subject {subject[:60]!r}"
    return None


def _looks_like_bounce(
    collected: _Collected, headers: Headers, sender: str, subject: str, text: str, content_type: str
) -> bool:
    if content_type == "multipart/report" or collected.dsn_fields or collected.is_report:
        return True
    if _BOUNCE_SENDER.match(sender) or _BOUNCE_SUBJECT.search(subject):
        return True
    # RFC 5321 §4.5.5: notifications are sent with a null reverse-path, so "<>" plus failure wording is a
    # bounce even from MTAs that do not write DSNs.
    automated = (
        headers.get("Return-Path").strip() == "<>"
        or bool(_SYSTEM_SENDER.match(sender))
        or bool(headers.get("Auto-Submitted"))
        or any(a.content_type == "message/rfc822" for a in collected.attachments)
    )
    return automated and bool(_BOUNCE_BODY.search(text[:5000]))


def _bounce_details(
    collected: _Collected, is_bounce: bool, text: str, subject: str
) -> tuple[bool, str | None, str | None, str | None]:
    if not is_bounce:
        return False, None, None, None
    fields = collected.dsn_fields
    recipient = (
        (fields.get("final-recipient") or fields.get("original-recipient") or "").split(";")[-1].strip()
    )
    if not recipient:
        found = re.search(r"<?([\w.+'=-]+@[\w-]+(?:\.[\w-]+)+)>?", text)
        recipient = found.group(1) if found else ""
    status = fields.get("status", "").split()[0] if fields.get("status") else None
    if not status:
        code = _STATUS_CODE.search(text)
        status = code.group(1) if code else None
    reason = fields.get("diagnostic-code") or fields.get("action")
    if not reason:
        reason = next((line.strip() for line in text.splitlines() if line.strip()), None)
    reason = reason or subject or "delivery report"
    return True, recipient.lower() or None, status, (reason or "")[:500] or None


# --------------------------------------------------------------------------- entry points


def parse_message(raw: bytes, *, reply_languages: Sequence[str] = DEFAULT_REPLY_LANGUAGES) -> ParsedMessage:
    return _without_nul(_parse_message(raw, reply_languages=reply_languages))


def _scrub(value):
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    return isinstance(value, list) and any(isinstance(v, str) and "\x00" in v for v in value)


_TEXT_FIELDS = tuple(f.name for f in dataclasses.fields(ParsedMessage) if f.name != "attachments")


def _without_nul(parsed: ParsedMessage) -> ParsedMessage:
    """NUL characters decoded out of junk mail cannot be stored in PostgreSQL text or JSON columns; they carry
    no meaning in mail text, so they become U+FFFD like any other undecodable byte."""
    # Almost no mail has one: only the fields that do are rebuilt.
    changes = {name: _scrub(value) for name in _TEXT_FIELDS if _has_nul(value := getattr(parsed, name))}
    if any(_has_nul([a.filename, a.content_type, a.content_id]) for a in parsed.attachments):
        changes["attachments"] = [
            dataclasses.replace(a, filename=_scrub(a.filename), content_type=_scrub(a.content_type),
                                content_id=_scrub(a.content_id))
            for a in parsed.attachments
        ]  # fmt: skip
    return dataclasses.replace(parsed, **changes) if changes else parsed


def _parse_message(raw: bytes, *, reply_languages: Sequence[str] = DEFAULT_REPLY_LANGUAGES) -> ParsedMessage:
    if not raw or not raw.strip():
        raise UnparseableMessage("empty input")
    defects: list[str] = []
    body = raw.lstrip(b"\r\n\t ")
    try:
        msg = parse_bytes(body)
    except Exception as exc:  # a compat32 bug: policy.default's slower parser may still read it
        defects.append(f"compat32 failed ({type(exc).__name__}); parsed with policy.default")
        msg = BytesParser(policy=policy.default).parsebytes(body)
    if not msg.keys() and not msg.get_payload():
        raise UnparseableMessage("no headers and no body")
    headers = Headers(msg, defects)

    # Who wrote: From, else the headers that name the sender when a broken client left From out.
    from_value, senders, sender_header = "", [], "From"
    for sender_header in ("From", "Sender", "Reply-To", "Return-Path"):
        from_value, senders = headers.addresses(sender_header)
        if from_value:
            break
    if sender_header != "From" and from_value:
        defects.append(f"no From header; sender taken from {sender_header}")
    from_name, from_address = senders[0] if senders else ("", "")
    from_address = from_address.strip().strip("<>").lower()
    if "@" not in from_address:
        # Searched in the raw header, never in decoded display names (which can carry any text).
        found = re.search(r"[\w.+'=-]+@[\w-]+(?:\.[\w-]+)+", headers.raw(sender_header))
        from_address = found.group(0).lower() if found else ""
    subject = " ".join(headers.get("Subject").split())

    collected = _Collected()
    try:
        _walk(msg, collected, defects)
    except RecursionError:
        defects.append("MIME nesting too deep; remaining parts skipped")
    for part in _iter_parts(msg):
        defects.extend(type(defect).__name__ for defect in getattr(part, "defects", []))

    text_body = "\n\n".join(t.strip("\n") for t in collected.texts if t.strip())
    html_raw = "\n".join(collected.htmls)
    if len(text_body) > MAX_TEXT_CHARS:
        defects.append(f"text truncated at {MAX_TEXT_CHARS} characters")
        text_body = text_body[:MAX_TEXT_CHARS]
    html_body = sanitize_html(html_raw) if html_raw.strip() else ""
    source = text_body if text_body.strip() else html_to_text(html_raw, drop_quotes=True)
    reply_text = extract_reply(source, reply_languages) or source.strip()

    auto_reason = _auto_reply_reason(headers, subject)
    sender = from_address or from_value.strip().lower()
    bounce = _looks_like_bounce(collected, headers, sender, subject, source, msg.get_content_type())
    is_bounce, bounce_recipient, bounce_status, bounce_reason = _bounce_details(
        collected, bounce, source, subject
    )
    original_id = collected.returned_message_id
    if is_bounce and original_id is None:
        found_id = re.search(r"^\s*Message-ID:\s*<([^<>\s]+)>", source, re.IGNORECASE | re.MULTILINE)
        original_id = found_id.group(1) if found_id else None

    return ParsedMessage(
        from_name=fix_surrogates(from_name).strip(),
        from_address=from_address,
        to=address_list(headers.addresses("To")[1]),
        cc=address_list(headers.addresses("Cc")[1]),
        reply_to=address_list(headers.addresses("Reply-To")[1]),
        subject=subject,
        date=parse_date(headers.get("Date"), defects),
        message_id=next(iter(message_ids(headers.get("Message-ID"))), None),
        in_reply_to=message_ids(headers.get("In-Reply-To")),
        references=message_ids(headers.get("References")),
        text_body=text_body,
        html_body=html_body,
        reply_text=reply_text,
        attachments=collected.attachments,
        is_auto_reply=auto_reason is not None,
        auto_reply_reason=auto_reason,
        is_bounce=is_bounce,
        bounce_recipient=bounce_recipient,
        bounce_status=bounce_status,
        bounce_reason=bounce_reason,
        bounce_original_message_id=original_id if is_bounce else None,
        fingerprint=hashlib.sha256(raw).hexdigest(),
        defects=defects,
        raw_size=len(raw),
    )


def _iter_parts(msg: Message) -> Iterator[Message]:
    try:
        yield from msg.walk()
    except RecursionError:
        return


def check_acceptable(parsed: ParsedMessage) -> str | None:
    """Why this message must go to quarantine instead of a case, or None when it is fine."""
    if not (parsed.subject or parsed.text_body.strip() or parsed.html_body.strip() or parsed.attachments):
        return "no subject, body or attachments"
    # A bounce is matched by the message it returns, not by its sender, so it needs no sender address.
    if parsed.is_bounce:
        return None
    if not parsed.from_address:
        return "no sender address"
    local, _, domain = parsed.from_address.rpartition("@")
    if not local or not re.fullmatch(r"[^@\s\"<>]+", domain):
        return f"malformed sender address {parsed.from_address[:80]!r}"
    return None
