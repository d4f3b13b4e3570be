from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import UTC, datetime
from email import policy
from email.utils import getaddresses

import pytest

from casework.intake import parsing
from casework.intake.mime import _FeedparserRe
from casework.intake.parsing import (
    MAX_TEXT_CHARS,
    ParsedAttachment,
    UnparseableMessage,
    check_acceptable,
    html_to_text,
    parse_message,
    safe_filename,
)
from casework.intake.replies import extract_reply
from casework.intake.tests.mailbuilder import build_bounce, build_mail, raw_mail


def test_basic_fields() -> None:
    raw = build_mail(
        sender='"Alice Example" <Alice@Example.COM>',
        to="Support <support@casework.test>, second@casework.test",
        subject="  Printer   on\tfire ",
        headers={
            "Cc": "boss@example.com",
            "Reply-To": "replies@example.com",
            "In-Reply-To": "<a1@casework.test>",
            "References": "<r0@x.test> <a1@casework.test>",
        },
    )
    parsed = parse_message(raw)
    assert parsed.from_name == "Alice Example"
    assert parsed.from_address == "alice@example.com"
    assert parsed.to == ["support@casework.test", "second@casework.test"]
    assert parsed.cc == ["boss@example.com"]
    assert parsed.reply_to == ["replies@example.com"]
    assert parsed.subject == "Printer on fire"
    assert parsed.date == datetime(2025, 3, 4, 10, 30, tzinfo=UTC)
    assert parsed.message_id == "m1@example.com"
    assert parsed.in_reply_to == ["a1@casework.test"]
    assert parsed.references == ["r0@x.test", "a1@casework.test"]
    assert parsed.text_body.startswith("Hello,\nthe printer is on fire.")
    assert parsed.fingerprint == hashlib.sha256(raw).hexdigest()
    assert parsed.raw_size == len(raw)
    assert parsed.is_auto_reply is False and parsed.is_bounce is False
    assert check_acceptable(parsed) is None


def test_encoded_subject_and_name_are_decoded() -> None:
    raw = raw_mail(
        "From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>\n"
        "Subject: =?iso-8859-1?q?Drucker_f=E4llt_aus?=\nMessage-ID: <x@y>"
    )
    parsed = parse_message(raw)
    assert parsed.from_name == "Jürgen Müller"
    assert parsed.subject == "Drucker fällt aus"


def test_html_is_sanitised_and_reply_text_falls_back_to_html() -> None:
    html = '<p>Hi <b>team</b></p><script>alert(1)</script><a href="javascript:x()" onclick="y()">link</a>'
    parsed = parse_message(build_mail(text=None, html=html))
    assert "<script" not in parsed.html_body
    assert "onclick" not in parsed.html_body and "javascript:" not in parsed.html_body
    assert "<b>team</b>" in parsed.html_body
    assert parsed.text_body == ""
    assert parsed.reply_text.startswith("Hi team")


def test_html_quote_containers_are_dropped_from_reply() -> None:
    html = (
        "<div>Thanks, it works now.</div><div class='gmail_quote'>On Mon, Bob wrote:"
        "<blockquote>old text</blockquote></div>"
    )
    assert html_to_text(html, drop_quotes=True) == "Thanks, it works now."
    assert "old text" in html_to_text(html)


def test_reply_text_strips_quote_and_signature() -> None:
    text = (
        "The fix works, thanks!\n\n-- \nAlice\nACME Corp\n\n"
        "On Tue, Mar 4, 2025 at 10:00 AM Support <support@casework.test> wrote:\n> Please try again.\n"
    )
    assert parse_message(build_mail(text=text)).reply_text == "The fix works, thanks!"


@pytest.mark.parametrize(
    "quoted",
    [
        "-----Original Message-----\nFrom: Support\nSent: Monday\nTo: Alice\nSubject: Re: x\n\nold",
        "Am 04.03.2025 um 10:00 schrieb Support <support@casework.test>:\n> alt",
        "Le mar. 4 mars 2025 à 10:00, Support <support@casework.test> a écrit :\n> ancien",
        "El mar, 4 mar 2025 a las 10:00, Support (<support@casework.test>) escribió:\n> viejo",
        "Op di 4 mrt. 2025 om 10:00 schreef Support <support@casework.test>:\n> oud",
        "Von: Support <support@casework.test>\nGesendet: Dienstag, 4. März 2025\nAn: Alice\n\nalt",
        "________________________________\nFrom: Support\nSent: Tuesday\n\nold",
    ],
)
def test_reply_text_cuts_quote_headers_in_several_forms(quoted: str) -> None:
    assert extract_reply(f"New answer here.\n\n{quoted}\n") == "New answer here."


def test_bottom_posted_reply_is_kept() -> None:
    text = "On Mon, Bob <bob@x.test> wrote:\n> question?\n\nHere is my answer.\n"
    assert extract_reply(text) == "Here is my answer."


def test_attachments_filename_sanitised_and_inline_flag() -> None:
    raw = build_mail(
        attachments=[
            ("../../etc/passwd", "text/plain", b"root:x"),
            ("report.pdf", "application/pdf", b"%PDF-1.4 data"),
            ("winmail.dat", "application/ms-tnef", b"\x78\x9f\x3e\x22tnef"),
        ]
    )
    parsed = parse_message(raw)
    names = [a.filename for a in parsed.attachments]
    assert names == ["passwd", "report.pdf", "winmail.dat"]
    pdf = parsed.attachments[1]
    assert pdf.content_type == "application/pdf" and pdf.payload == b"%PDF-1.4 data" and pdf.size == 13
    assert parsed.attachments[2].content_type == "application/ms-tnef"
    assert not any(a.inline for a in parsed.attachments)


def test_inline_image_with_content_id() -> None:
    boundary = "B1"
    body = (
        f"--{boundary}\r\nContent-Type: text/html\r\n\r\n<img src='cid:logo1'>\r\n"
        f"--{boundary}\r\nContent-Type: image/png\r\nContent-ID: <logo1>\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        f"\r\n{base64.b64encode(b'PNGDATA').decode()}\r\n--{boundary}--\r\n"
    )
    raw = raw_mail(f"From: a@b.test\nContent-Type: multipart/related; boundary={boundary}", body)
    (image,) = parse_message(raw).attachments
    assert image.inline is True and image.content_id == "logo1" and image.payload == b"PNGDATA"
    assert image.filename == "attachment-1.png"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("C:\\Users\\x\\report.pdf", "report.pdf"),
        ("..hidden", "hidden"),
        ("a<b>c|d?.txt", "a_b_c_d_.txt"),
        ("CON.txt", "_CON.txt"),
        ("", "attachment-3.pdf"),
        ("x" * 300 + ".log", "x" * 146 + ".log"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name, "application/pdf", 3) == expected


def test_unknown_charset_falls_back_and_records_defect() -> None:
    raw = raw_mail(
        "From: a@b.test\nSubject: x\nContent-Type: text/plain; charset=uft-8",
        "Gr\xfc\xdfe aus K\xf6ln",
    )
    parsed = parse_message(raw)
    assert parsed.text_body == "Grüße aus Köln"
    assert any("unknown charset 'uft-8'" in d for d in parsed.defects)


def test_eight_bit_junk_in_headers_does_not_crash() -> None:
    raw = b"From: J\xfcrgen <j@example.de>\r\nSubject: Gr\xfc\xdfe \xff\xfe\r\nTo: \xc0\r\n\r\nbody\r\n"
    parsed = parse_message(raw)
    assert parsed.from_address == "j@example.de"
    assert "Gr" in parsed.subject
    parsed.subject.encode("utf-8")  # no lone surrogates survive


def test_missing_headers_quarantine_reason() -> None:
    parsed = parse_message(b"Subject: hello\r\n\r\nno sender here\r\n")
    assert parsed.from_address == "" and parsed.date is None and parsed.message_id is None
    assert check_acceptable(parsed) == "no sender address"


def test_bad_date_recorded_as_defect() -> None:
    parsed = parse_message(raw_mail("From: a@b.test\nDate: yesterday-ish"))
    assert parsed.date is None
    assert any("Date" in d for d in parsed.defects)


@pytest.mark.parametrize("raw", [b"", b"   \r\n\r\n"])
def test_empty_input_is_unparseable(raw: bytes) -> None:
    with pytest.raises(UnparseableMessage) as info:
        parse_message(raw)
    assert info.value.reason == "empty input"


def test_uuencoded_block_becomes_attachment() -> None:
    data = b"hello uuencode world\n" * 3
    lines = [binascii.b2a_uu(data[i : i + 45]).decode().rstrip("\n") for i in range(0, len(data), 45)]
    body = "See attached.\n\nbegin 644 notes.txt\n" + "\n".join(lines) + "\n`\nend\n"
    parsed = parse_message(raw_mail("From: a@b.test\nSubject: uu", body))
    (attachment,) = parsed.attachments
    assert attachment.filename == "notes.txt" and attachment.payload == data
    assert "begin 644" not in parsed.text_body and parsed.text_body.startswith("See attached.")


def test_nested_rfc822_kept_as_eml_not_merged() -> None:
    inner = build_mail(
        sender="x@inner.test", subject="inner", text="SECRET INNER TEXT\n", message_id="<in@x>"
    )
    boundary = "OUT"
    body = (
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nForwarding this.\r\n"
        f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n".encode()
        + inner
        + f"\r\n--{boundary}--\r\n".encode()
    )
    parsed = parse_message(
        raw_mail(f"From: a@b.test\nContent-Type: multipart/mixed; boundary={boundary}", body)
    )
    assert "SECRET INNER TEXT" not in parsed.text_body
    (eml,) = parsed.attachments
    assert eml.filename.endswith(".eml") and eml.content_type == "message/rfc822"
    assert b"SECRET INNER TEXT" in eml.payload


def test_huge_text_is_truncated_with_defect() -> None:
    parsed = parse_message(build_mail(text="a" * (MAX_TEXT_CHARS + 5000)))
    assert len(parsed.text_body) <= MAX_TEXT_CHARS
    assert any("truncated" in d for d in parsed.defects)


@pytest.mark.parametrize(
    ("headers", "subject", "reason_part"),
    [
        ({"Auto-Submitted": "auto-replied"}, "Re: x", "Auto-Submitted"),
        ({"X-Autoreply": "yes"}, "Re: x", "X-Autoreply"),
        ({"X-Autorespond": "1"}, "Re: x", "X-Autorespond"),
        ({"Precedence": "bulk"}, "News", "Precedence: bulk"),
        ({"List-Id": "<users.lists.example.org>"}, "digest", "List-Id"),
        ({}, "Out of Office: back Monday", "subject"),
        ({}, "Abwesenheitsnotiz: Urlaub", "subject"),
        ({}, "Réponse automatique : absent", "subject"),
        ({}, "Automatic reply: Printer", "subject"),
    ],
)
def test_auto_reply_signals(headers: dict[str, str], subject: str, reason_part: str) -> None:
    parsed = parse_message(build_mail(headers=headers, subject=subject))
    assert parsed.is_auto_reply is True
    assert reason_part in (parsed.auto_reply_reason or "")


def test_auto_submitted_no_is_not_auto_reply() -> None:
    parsed = parse_message(build_mail(headers={"Auto-Submitted": "no"}))
    assert parsed.is_auto_reply is False and parsed.auto_reply_reason is None


def test_dsn_bounce_fields() -> None:
    parsed = parse_message(build_bounce(original_message_id="cw.7.abc.sig@casework.test"))
    assert parsed.is_bounce is True
    assert parsed.bounce_recipient == "gone@customer.test"
    assert parsed.bounce_status == "5.1.1"
    assert "User unknown" in (parsed.bounce_reason or "")
    assert parsed.bounce_original_message_id == "cw.7.abc.sig@casework.test"
    assert check_acceptable(parsed) is None


def test_plain_mailer_daemon_bounce_finds_original_id_in_body() -> None:
    body = (
        "Hi. This is the qmail-send program. I'm afraid I wasn't able to deliver your message.\n"
        "<gone@customer.test>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        "--- Below this line is a copy of the message.\n\nMessage-ID: <orig-42@casework.test>\nSubject: hi\n"
    )
    parsed = parse_message(raw_mail("From: MAILER-DAEMON@mx.example.net\nSubject: failure notice", body))
    assert parsed.is_bounce is True
    assert parsed.bounce_recipient == "gone@customer.test"
    assert parsed.bounce_status == "5.1.1"
    assert parsed.bounce_original_message_id == "orig-42@casework.test"


def test_normal_mail_mentioning_delivery_is_not_a_bounce() -> None:
    parsed = parse_message(build_mail(text="Our delivery failed to arrive, the mailbox is full of boxes.\n"))
    assert parsed.is_bounce is False


# --------------------------------------------------------------------------- header decoding edge cases


def test_encoded_word_display_name_with_comma_keeps_its_address() -> None:
    raw = raw_mail(
        "From: =?utf-8?q?M=C3=BCller=2C_J=C3=BCrgen?= <jm@example.de>\n"
        'To: =?utf-8?q?M=C3=BCller=2C_J=C3=BCrgen?= <jm@example.de>, "Last, First" <first@x.test>, b@x.test'
    )
    parsed = parse_message(raw)
    assert parsed.from_name == "Müller, Jürgen" and parsed.from_address == "jm@example.de"
    assert parsed.to == ["jm@example.de", "first@x.test", "b@x.test"]


@pytest.mark.parametrize(
    ("header", "name", "address"),
    [
        (b'"M\xc3\xbcller, J" <jm@example.de>', "Müller, J", "jm@example.de"),  # 8-bit UTF-8
        (b"J\xfcrgen <j@example.de>", "Jürgen", "j@example.de"),  # 8-bit Latin-1
        (b'"Alice   Example" <Alice@Example.COM>', "Alice Example", "alice@example.com"),
        (b"Alice\r\n\tExample <a@example.com>", "Alice Example", "a@example.com"),  # folded
        (b"alice@example.com (Alice A)", "", "alice@example.com"),  # comments are not names
        (
            b"=?utf-8?q?J=C3=BCrgen?= =?utf-8?q?_M=C3=BCller?= <jm@example.de>",
            "Jürgen Müller",
            "jm@example.de",
        ),
        (b'"=?utf-8?q?J=C3=BCrgen?=" <jm@example.de>', "Jürgen", "jm@example.de"),
        (b"=?utf-8?q?broken <jm@example.de>", "=?utf-8?q?broken", "jm@example.de"),
        (b"=?bogus?q?J=E4?= <jm@example.de>", "J\ufffd", "jm@example.de"),
        (b"Mail Delivery Subsystem <MAILER-DAEMON>", "Mail Delivery Subsystem", ""),
    ],
)
def test_sender_header_forms(header: bytes, name: str, address: str) -> None:
    parsed = parse_message(b"From: " + header + b"\r\nSubject: x\r\n\r\nbody\r\n")
    assert (parsed.from_name, parsed.from_address) == (name, address)


@pytest.mark.parametrize(
    "value",
    [
        'Alice <a@x.test>, "B, b" <b@x.test>, c@x.test',
        '"  spaced   out  "  <s@x.test>',
        "Dr. Who <who@x.test>, O'Brien, Pat <pat@x.test>",
        "a@x.test b@x.test",
        "undisclosed-recipients:;",
        "Group: a@x.test, Bob <b@x.test>;",
        "<Undisclosed-Recipient:@x.test;>",
        "Mikel@Lindsaar <raasdnil@x.test>",
        "a@x.test, , b@x.test,",
        "x@[1.2.3.4], ü@x.test, Jürgen <j@x.test>",
        "=?utf-8?q?a=2C_b?= <ab@x.test>, c@x.test",
    ],
)
def test_address_lists_read_as_policy_default_reads_them(value: str) -> None:
    # Common shapes take a fast path; it must agree with the stdlib parser that reads all the others.
    header = policy.default.header_factory("to", value)
    expected = []
    for _name, address in getaddresses([str(header)]):
        if "@" in address and address.lower() not in expected:
            expected.append(address.lower())
    parsed = parse_message(raw_mail(f"From: a@x.test\nTo: {value}".encode().decode("latin-1")))
    assert parsed.to == expected


def test_eight_bit_headers_decode_as_utf8_else_latin1() -> None:
    raw = b"From: a@b.test\r\nSubject: Gr\xc3\xbc\xc3\x9fe\r\nList-Id: Gr\xfc\xdfe\r\n\r\nbody\r\n"
    parsed = parse_message(raw)
    assert parsed.subject == "Grüße"
    assert parsed.auto_reply_reason == "mailing list (List-Id)"
    latin1 = parse_message(b"From: a@b.test\r\nSubject: Gr\xfc\xdfe aus K\xf6ln\r\n\r\nbody\r\n")
    assert latin1.subject == "Grüße aus Köln"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # whitespace between encoded words is dropped
        ("=?utf-8?q?broken", "=?utf-8?q?broken"),
        ("=?bogus?q?a=E4?= b", "a\ufffd b"),
        ("=?utf-8?b?w6Q=?=\n  folded\n\tagain", "ä folded again"),
        ("Re: [CW-000123] =?iso-8859-1?q?f=E4llt?= aus", "Re: [CW-000123] fällt aus"),
    ],
)
def test_encoded_words_in_subject(subject: str, expected: str) -> None:
    parsed = parse_message(raw_mail(f"From: a@b.test\nSubject: {subject}"))
    assert parsed.subject == expected


def test_sender_falls_back_to_sender_then_return_path() -> None:
    assert parse_message(raw_mail("From:\nSender: Sam <s@x.test>")).from_address == "s@x.test"
    assert parse_message(raw_mail("Return-Path: <r@x.test>\nSubject: x")).from_address == "r@x.test"


def test_message_ids_are_read_as_written() -> None:
    raw = raw_mail(
        "From: a@b.test\nMessage-ID: <a1@b@casework.test>\nIn-Reply-To: <p@x.test> (sent by x)\n"
        "References: <r0@x.test>\n <p@x.test>"
    )
    parsed = parse_message(raw)
    assert parsed.message_id == "a1@b@casework.test"  # as a reply's References will quote it
    assert parsed.in_reply_to == ["p@x.test"] and parsed.references == ["r0@x.test", "p@x.test"]


def _one_attachment(disposition: bytes, content_type: bytes = b"application/pdf") -> ParsedAttachment:
    raw = (
        b"From: a@b.test\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--B\r\nContent-Type: " + content_type + b"\r\nContent-Disposition: " + disposition + b"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--B--\r\n"
    )
    (attachment,) = parse_message(raw).attachments
    return attachment


@pytest.mark.parametrize(
    ("disposition", "filename"),
    [
        (b"attachment; filename*=utf-8''%E2%82%AC%20rates.pdf", "€ rates.pdf"),
        (b"attachment; filename*0*=utf-8''%E2%82%AC; filename*1=\" rates.pdf\"", "€ rates.pdf"),
        (b"attachment; filename*=iso-8859-1'de'Gr%FC%DFe.pdf", "Grüße.pdf"),
        (b'attachment; filename="=?utf-8?B?VGhpcyBpcyBhIHRlc3QucGRm?="', "This is a test.pdf"),
        (b"attachment; filename==?utf-8?B?VGhpcyBpcyBhIHRlc3QucGRm?=", "This is a test.pdf"),
        (b'attachment; filename="ci\xc3\xable.txt"', "ciële.txt"),
        (b'attachment; filename="ci\xeble.txt"', "ciële.txt"),
        (b"attachment;\r\n\tfilename=This is a test.txt", "This is a test.txt"),
    ],
)
def test_attachment_filename_forms(disposition: bytes, filename: str) -> None:
    attachment = _one_attachment(disposition)
    assert attachment.filename == filename and attachment.payload == b"hello"


def test_eight_bit_content_type_and_content_id_are_text() -> None:
    raw = (
        b"From: a@b.test\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: image/p\xc3\xa4ng\r\nContent-ID: <c\xc3\xa4@x>\r\n\r\nPNG\r\n--B--\r\n"
    )
    (attachment,) = parse_message(raw).attachments
    assert attachment.content_type == "image/päng" and attachment.content_id == "cä@x"


def test_charset_with_comment() -> None:
    raw = raw_mail("From: a@b.test\nContent-Type: text/plain; charset=iso-8859-1 (Latin 1)", "Gr\xfc\xdfe")
    parsed = parse_message(raw)
    assert parsed.text_body == "Grüße" and parsed.defects == []


def test_unquoted_boundary_with_equals_sign() -> None:
    # Outlook writes boundary=----=_NextPart_...; the boundary runs to the end of the parameter.
    boundary = "----=_NextPart_000_0093_01C81419.EB75E850"
    body = (
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nHello\r\n"
        f"--{boundary}\r\nContent-Type: text/html\r\n\r\n<p>Hello</p>\r\n--{boundary}--\r\n"
    )
    parsed = parse_message(
        raw_mail(f"From: a@b.test\nContent-Type: multipart/alternative; boundary={boundary}", body)
    )
    assert parsed.text_body == "Hello" and parsed.attachments == [] and parsed.defects == []


@pytest.mark.parametrize(
    "separator", ["--B", "--a.b*c+d?(e)[f]{1}^$|\\", "--with space", "--ünï", "--" + "x" * 70]
)
def test_boundary_matcher_matches_like_the_compiled_pattern(separator: str) -> None:
    # parsing.py answers email.feedparser's per-boundary regex without compiling it; same matches.
    pattern = f"(?P<sep>{re.escape(separator)})(?P<end>--)?(?P<ws>[ \\t]*)(?P<linesep>\\r\\n|\\r|\\n)?$"
    fast, real = _FeedparserRe.compile(pattern), re.compile(pattern)
    assert type(fast) is not re.Pattern
    for tail in ["", "\n", "\r\n", "--", "--\r\n", "  \t\n", "x\n", "\n\n", "-- \r", "-\n"]:
        for line in (separator + tail, "x" + separator + tail, separator[:-1] + tail):
            expected, got = real.match(line), fast.match(line)
            assert (expected is None) == (got is None), line
            if expected:
                assert (expected.span(), expected.groupdict()) == (got.span(), got.groupdict()), line


@pytest.mark.parametrize(
    ("disposition", "filename"),
    [
        (b'attachment; filename="a.pdf" (scanned)', "a.pdf"),
        (b'attachment; filename="a.pdf', "a.pdf"),
        (b"attachment; filename=a.pdf (scanned)", "a.pdf"),
        (b'(note) attachment; filename="a.pdf"', "a.pdf"),
        (b"attachment; filename*=utf-8''a%20b.pdf; filename*0=c.pdf", "a b.pdf"),
    ],
)
def test_parameters_with_comments_and_broken_quoting(disposition: bytes, filename: str) -> None:
    assert _one_attachment(disposition).filename == filename


def test_boundary_with_comment_and_unclosed_quote() -> None:
    for content_type in ('multipart/mixed; boundary="abc" (comment)', 'multipart/mixed; boundary="abc'):
        body = "--abc\r\nContent-Type: text/plain\r\n\r\npart one\r\n--abc--\r\n"
        parsed = parse_message(raw_mail(f"From: a@b.test\nContent-Type: {content_type}", body))
        assert parsed.text_body == "part one" and parsed.defects == []


def test_parser_failure_falls_back_to_policy_default(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: bytes) -> None:
        raise TypeError("compat32 bug")

    monkeypatch.setattr(parsing, "parse_bytes", broken)
    raw = build_mail(attachments=[("r.pdf", "application/pdf", b"%PDF")])
    parsed = parse_message(raw)
    assert parsed.from_address == "alice@example.com" and parsed.text_body.startswith("Hello,")
    assert [a.filename for a in parsed.attachments] == ["r.pdf"]
    assert parsed.defects == ["compat32 failed (TypeError); parsed with policy.default"]
