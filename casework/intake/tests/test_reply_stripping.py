"""Score reply stripping against ../shared/data/email/replies/expected.jsonl, as that file defines each check.

Checks map onto casework's functions like this:
- visible_text_*: ``extract_reply`` (quotes and signature removed), i.e. ``ParsedMessage.reply_text``.
- first_fragment_*: ``extract_reply`` too: the upstream parsers split the signature into its own fragment,
  so the top fragment is the visible reply. casework's reply has trailing whitespace removed, so
  ``first_fragment_equals`` ignores trailing newlines on both sides; the byte-exact figure is printed too.
- reply_body_* / reply_signatures_*: ``split_thread`` (mail-parser-reply's per-reply segmentation).
- plain_part_visible_text_equals: ``parse_message`` on the .eml, first text/plain part, ``strip_quoted``.
- html_visible_text_equals_ignoring_whitespace: quotes stripped from HTML (``html_to_text`` with
  ``drop_quotes``), then ``strip_quoted``, all whitespace removed.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from mailparser_reply.parser import EmailMessage

from casework.intake.parsing import html_to_text, parse_message
from casework.intake.replies import (
    DEFAULT_REPLY_LANGUAGES,
    _library_header_matches,
    extract_reply,
    split_thread,
    strip_quoted,
)

REPLIES = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "email" / "replies"
ALL_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "da", "sv", "pl", "cs")
pytestmark = pytest.mark.skipif(not REPLIES.is_dir(), reason="shared reply fixtures not present")


def _read(fixture: str) -> str:
    return (REPLIES / fixture).read_bytes().decode("utf-8", errors="replace").replace("\r\n", "\n")


def evaluate(row: dict) -> tuple[bool, bool]:
    """(passed, passed_strictly) for one expectation."""
    check, expected = row["check"], row["expected"]
    if check == "plain_part_visible_text_equals":
        parsed = parse_message((REPLIES / row["fixture"]).read_bytes())
        ok = strip_quoted(parsed.text_body).strip() == expected
        return ok, ok
    if check == "html_visible_text_equals_ignoring_whitespace":
        text = strip_quoted(html_to_text(_read(row["fixture"]), drop_quotes=True))
        ok = re.sub(r"\s", "", text) == re.sub(r"\s", "", expected)
        return ok, ok
    text = _read(row["fixture"])
    if check.startswith("reply_"):
        segments = split_thread(text, row.get("languages") or ALL_LANGUAGES)
        index = row.get("reply_index", 0)
        if index >= len(segments):
            return False, False
        value = segments[index].body if check.startswith("reply_body") else segments[index].signatures
        ok = value == expected if check.endswith("_equals") else expected in value
        return ok, ok
    if check.startswith("first_fragment"):
        fragment = extract_reply(text, ALL_LANGUAGES)
        if check == "first_fragment_matches_regex":
            ok = re.search(expected, fragment) is not None
            return ok, ok
        if check == "first_fragment_trimmed_equals":
            ok = fragment.strip() == expected.strip()
            return ok, ok
        return fragment.rstrip("\n") == expected.rstrip("\n"), fragment == expected
    visible = extract_reply(text, ALL_LANGUAGES)
    if check == "visible_text_equals":
        return visible == expected, visible == expected
    if check == "visible_text_trimmed_equals":
        ok = visible.strip() == expected.strip()
        return ok, ok
    if check == "visible_text_contains":
        return expected in visible, expected in visible
    if check == "visible_text_not_contains":
        return expected not in visible, expected not in visible
    raise AssertionError(f"unknown check {check}")


def test_reply_stripping_score(capsys: pytest.CaptureFixture[str]) -> None:
    lines = (REPLIES / "expected.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    results = [(row, *evaluate(row)) for row in rows]
    passed = sum(ok for _, ok, _ in results)
    strict = sum(ok for _, _, ok in results)
    failures = [f"  {row['check']:<45} {row['fixture']}" for row, ok, _ in results if not ok]
    with capsys.disabled():
        print(
            f"\nreply stripping: {passed}/{len(rows)} = {passed / len(rows):.1%} "
            f"(byte-exact fragments: {strict}/{len(rows)} = {strict / len(rows):.1%})"
        )
        print("\n".join(failures))
    assert passed / len(rows) >= 0.95, "\n".join(failures)


@pytest.mark.parametrize("languages", [DEFAULT_REPLY_LANGUAGES, ("en",), ALL_LANGUAGES])
def test_library_header_scan_finds_what_finditer_finds(languages: tuple[str, ...]) -> None:
    # The scan tries only line starts and line breaks when the library's pattern proves nothing else can
    # match (not with "da", whose separator may start mid-line); the matches must be finditer's.
    regex = EmailMessage(text="", languages=list(languages)).HEADER_REGEX
    files = [p for p in sorted(REPLIES.rglob("*")) if p.is_file() and p.stat().st_size < 50_000]
    texts = [_read(str(p.relative_to(REPLIES))) for p in files]
    texts += [
        "From: a\nSent: b\n\n-----Original Message-----\n> x\nVon: c\nGesendet: d",
        "\n\nFrom: a\nTo: b\n",
    ]
    for text in texts:
        normalised = "\n".join(line.strip() for line in text.split("\n"))
        for candidate in (text, normalised):
            expected = [(m.span(), m.groups()) for m in regex.finditer(candidate)]
            assert [(m.span(), m.groups()) for m in _library_header_matches(candidate, languages)] == expected


def test_long_quoted_lines_do_not_stall_reply_stripping() -> None:
    # A line of thousands of ">" once took the quote-header regexes quadratic time (76 s for one mail).
    text = "Hi folks\n\nWhat is the best way?\n" + ">" * 200_000 + "\n" + "A" + ">" * 200_000 + "\n\nthanks\n"
    # CPU time, not wall time: a stall guard (quadratic was 76 s), not a speed claim, and it must not
    # depend on how busy the machine is. The speed itself lives in bench/bench_parse.py.
    started = time.process_time()
    assert extract_reply(text).startswith("Hi folks")
    assert time.process_time() - started < 5
