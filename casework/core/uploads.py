"""What an attachment really is, and whether casework keeps it: the content is sniffed (the `filetype`
library reads magic numbers), never trusted from the sender's declared type or file name.

`inspect(filename, content, declared)` returns the type to store and a refusal reason (or None). Refused:
executables and scripts, by sniffed content (PE/ELF/Mach-O, ...) or by extension (a `.js` or `.bat` has no
magic number). The list is CASEWORK_BLOCKED_ATTACHMENT_EXTENSIONS. Everything is served as a download
(`application/octet-stream`, `nosniff`, `Content-Disposition: attachment`), so even an allowed HTML or SVG
file never renders in casework's origin."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass

import filetype
from django.conf import settings

BLOCKED_SNIFFED = frozenset(
    {
        "application/x-msdownload",  # PE: .exe, .dll, .scr
        "application/x-executable",  # ELF
        "application/x-mach-binary",
        "application/x-shockwave-flash",
        "application/vnd.microsoft.portable-executable",
        "application/x-dosexec",
    }
)


@dataclass(frozen=True)
class Inspection:
    content_type: str
    refused: str | None


def inspect(filename: str, content: bytes, declared: str = "") -> Inspection:
    sniffed = filetype.guess_mime(content[:8192]) if content else None
    content_type = sniffed or declared or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if sniffed in BLOCKED_SNIFFED:
        return Inspection(content_type, f"{filename!r} is a program ({sniffed}); programs are not accepted")
    if extension in settings.CASEWORK["BLOCKED_ATTACHMENT_EXTENSIONS"]:
        return Inspection(content_type, f"{filename!r}: .{extension} files are not accepted")
    return Inspection(content_type, None)
