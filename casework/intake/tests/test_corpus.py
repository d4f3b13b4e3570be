"""Every raw mail in ../shared/data/email must parse (or be refused as empty) and get a verdict."""

from __future__ import annotations

import collections
import mailbox
from pathlib import Path

import pytest

from casework.intake.parsing import UnparseableMessage, check_acceptable, parse_message
from casework.intake.threading import classify

EMAIL = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "email"
# Raw-mail folders; replies/ holds plain-text bodies, not messages (it is scored in test_reply_stripping).
FOLDERS = ("mikel/emails", "spamscope/mails", "cpython/data", "sisimai/maildir-bsd", "sisimai/maildir-not")
NOT_MAIL = {"SOURCE.md", "LICENSE", ".gitattributes"}


def _corpus() -> list[Path]:
    files = []
    for folder in FOLDERS:
        for path in sorted((EMAIL / folder).rglob("*")):
            if path.is_file() and path.name not in NOT_MAIL and not path.name.startswith("LICENSE"):
                files.append(path)
    return files


def _mbox_messages() -> list[tuple[str, bytes]]:
    messages = []
    for path in sorted((EMAIL / "sisimai" / "mailbox").glob("mbox-*")):
        for index, message in enumerate(mailbox.mbox(path, create=False)):
            messages.append((f"{path.name}#{index}", message.as_bytes()))
    return messages


def _expected_kind(path: Path) -> str | None:
    """The label the corpus gives a file: sisimai's folder and file-name prefix."""
    if path.parent.name == "maildir-bsd":
        if path.name.startswith("rfc3834"):
            return "auto_reply"
        # arf = abuse feedback reports: never a customer case, either as bounce or as auto-reply.
        return "not_normal" if path.name.startswith("arf") else "bounce"
    if path.parent.name == "maildir-not" and path.name.startswith("is-not-bounce"):
        return "normal"
    return None


CORPUS = _corpus() if EMAIL.is_dir() else []
pytestmark = pytest.mark.skipif(not CORPUS, reason="shared email corpus not present")


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(EMAIL)))
def test_corpus_mail_gets_a_verdict(path: Path) -> None:
    raw = path.read_bytes()
    try:
        parsed = parse_message(raw)
    except UnparseableMessage as exc:
        assert not raw.strip(), f"only empty input may be unparseable, got {exc.reason} for {len(raw)} bytes"
        return
    kind = classify(parsed)
    reason = check_acceptable(parsed)
    assert reason is None or reason.strip()
    expected = _expected_kind(path)
    if expected == "not_normal":
        assert kind != "normal", f"{path.name}: abuse report classified as a normal mail"
    elif expected is not None:
        assert kind == expected, f"{path.name}: {kind} != {expected} (subject {parsed.subject!r})"
    if kind == "bounce":
        assert parsed.bounce_recipient or parsed.bounce_reason


def test_sisimai_mbox_messages_are_bounces() -> None:
    messages = _mbox_messages()
    assert len(messages) == 38
    kinds = collections.Counter(classify(parse_message(raw)) for _, raw in messages)
    assert kinds == {"bounce": 38}


def test_corpus_labels_cover_the_sisimai_set() -> None:
    labelled = [p for p in CORPUS if _expected_kind(p)]
    manifest = (EMAIL / "sisimai" / "manifest-maildir-bsd.jsonl").read_text().splitlines()
    assert len([p for p in labelled if p.parent.name == "maildir-bsd"]) == len(manifest) == 629


def test_corpus_figures() -> None:
    """The corpus as a whole, in one pass of its own (the per-file tests run spread over xdist workers, so
    a counter they fill is never the whole picture): a change in any figure is a change in behaviour."""
    figures: collections.Counter[str] = collections.Counter()
    for path in CORPUS:
        raw = path.read_bytes()
        try:
            parsed = parse_message(raw)
        except UnparseableMessage:
            figures["unparseable (empty)"] += 1
            continue
        figures[f"kind={classify(parsed)}"] += 1
        figures["quarantined" if check_acceptable(parsed) else "accepted"] += 1
    assert len(CORPUS) == 807
    assert figures == {
        "kind=normal": 157,
        "kind=auto_reply": 15,
        "kind=bounce": 634,
        "unparseable (empty)": 1,
        "accepted": 795,
        "quarantined": 11,
    }
