"""Build test mails with the stdlib, so each test states only what it is about."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime


def build_mail(
    *,
    sender: str = "Alice Example <alice@example.com>",
    to: str = "support@casework.test",
    subject: str = "Printer on fire",
    text: str | None = "Hello,\nthe printer is on fire.\n",
    html: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
    message_id: str | None = "<m1@example.com>",
    date: datetime | None = datetime(2025, 3, 4, 10, 30, tzinfo=UTC),
) -> bytes:
    """A typical mail: text and/or HTML alternatives, extra headers, (filename, mime type, bytes) files."""
    msg = EmailMessage()
    if sender:
        msg["From"] = sender
    if to:
        msg["To"] = to
    if subject is not None:
        msg["Subject"] = subject
    if message_id:
        msg["Message-ID"] = message_id
    if date:
        msg["Date"] = format_datetime(date)
    for name, value in (headers or {}).items():
        msg[name] = value
    if text is not None:
        msg.set_content(text)
    if html is not None:
        if text is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    for filename, mime, payload in attachments or []:
        maintype, subtype = mime.split("/", 1)
        msg.add_attachment(payload, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def raw_mail(headers: str, body: str | bytes = b"Body text\n") -> bytes:
    """A mail from literal header text, for malformed input the stdlib would refuse to generate."""
    body_bytes = body.encode("latin-1") if isinstance(body, str) else body
    return headers.strip("\n").replace("\n", "\r\n").encode("latin-1") + b"\r\n\r\n" + body_bytes


def build_bounce(
    *, original_message_id: str, recipient: str = "gone@customer.test", status: str = "5.1.1"
) -> bytes:
    """An RFC 3464 delivery-status report returning one of our messages."""
    boundary = "BOUNDARY42"
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.casework.test>\r\n"
        "To: support@casework.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "Message-ID: <bounce1@mx.casework.test>\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.casework.test\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
        f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
        f"From: support@casework.test\r\nTo: {recipient}\r\nSubject: Re: Printer\r\n"
        f"Message-ID: <{original_message_id}>\r\n\r\nHello\r\n"
        f"--{boundary}--\r\n"
    ).encode("ascii")
