"""`casework import-mbox FILE [--mailbox NAME]`: migrate an old shared inbox (mbox file or Maildir folder).

Resumable: every mail goes through `ingest_many` (batches of INTAKE_BATCH mails per transaction), which is
idempotent by Message-ID (or content hash), so after a crash the same command simply runs again and skips
what is already in.
"""

import json
import mailbox as stdlib_mailbox
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from casework.core.db.sqlite3.base import process_mmap_size
from casework.intake.models import Mailbox
from casework.intake.services import ingest_many


def _messages(path: Path) -> tuple[int, Iterator[bytes]]:
    if not path.is_dir():
        return mbox_count(path), mbox_messages(path)
    box = stdlib_mailbox.Maildir(str(path), factory=None, create=False)
    keys = sorted(box.keys(), key=_delivery_order)

    def generate() -> Iterator[bytes]:
        for key in keys:
            yield box.get_bytes(key)

    return len(keys), generate()


def mbox_count(path: Path) -> int:
    with path.open("rb") as lines:
        return sum(1 for line in lines if line.startswith(b"From "))


def mbox_messages(path: Path) -> Iterator[bytes]:
    """The mails of an mbox file, read one at a time and split as `mailbox.mbox` splits them: each starts
    at a "From " line (not part of the mail) and ends before the blank line that precedes the next one.

    `mailbox.mbox` first indexes the whole file (a dict of offsets per mail, then a list of its keys): at
    100,000 mails that index alone was tens of MB held for the whole import; this keeps one mail."""
    lines: list[bytes] | None = None
    last_was_blank = False
    with path.open("rb") as stream:
        for line in stream:
            if line.startswith(b"From "):
                if lines is not None:
                    yield _mbox_mail(lines, last_was_blank)
                lines, last_was_blank = [], False
                continue
            if lines is not None:
                lines.append(line)
            last_was_blank = line == b"\n"
    if lines is not None:
        yield _mbox_mail(lines, last_was_blank)


def _mbox_mail(lines: list[bytes], ends_with_blank: bool) -> bytes:
    if ends_with_blank:
        lines.pop()  # the separator before the next "From " line (or at the end of the file)
    return b"".join(lines)


_MAILDIR_NAME = re.compile(r"^(\d+)\.(?:M(\d+))?(?:P\d+)?(?:Q(\d+))?")


def _delivery_order(key: str) -> tuple:
    """Maildir names start `<seconds>.M<microseconds>P<pid>Q<counter>`: sort them numerically, so an original
    is imported before the reply delivered after it (a string sort puts `M99999` after `M100000`)."""
    match = _MAILDIR_NAME.match(key)
    if match is None:
        return (float("inf"), 0, 0, key)
    seconds, micros, counter = (int(part or 0) for part in match.groups())
    return (seconds, micros, counter, key)


class Command(BaseCommand):
    help = "Import every mail of an mbox file or Maildir folder; prints a summary. Safe to run again."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="mbox file or Maildir directory")
        parser.add_argument("--mailbox", default=None, help="record the mails as coming from this Mailbox")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument(
            "--now", action="store_true", help="stamp cases with the import time instead of each mail's Date"
        )

    def handle(self, *args, **options) -> None:
        path = Path(options["path"])
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        box = None
        if options["mailbox"]:
            box = Mailbox.objects.filter(name=options["mailbox"]).first()
            if box is None:
                raise CommandError(f"No mailbox named '{options['mailbox']}'")
        # An import reads back every part of the database it grows (duplicate and threading lookups, the
        # triage and routing reads); mapped, each page read stayed in its RSS, which grew by the size of
        # the map (128 MB) over a 20,000-mail import. Unmapped, the pages go through SQLite's bounded page
        # cache and the OS page cache instead (bench_memory). No effect on PostgreSQL.
        process_mmap_size(0)
        total, raws = _messages(path)
        counts: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        progress = tqdm(raws, total=total, unit="mail", disable=options["no_progress"], file=self.stderr)
        results = ingest_many(
            progress, source="mbox", mailbox=box, bypass_rate_limit=True, replay_date=not options["now"]
        )
        for result in results:
            counts["duplicates" if result.duplicate else _bucket(result.outcome)] += 1
            if result.quarantined:
                reasons[result.reason.split(":", 1)[0]] += 1
        summary = {
            "total": total,
            "created": counts["created"],
            "threaded": counts["threaded"],
            "duplicates": counts["duplicates"],
            "quarantined": counts["quarantined"],
            "ignored": counts["ignored"],
            "bounces": counts["bounces"],
            "quarantine_reasons": dict(reasons),
        }
        self.stdout.write(json.dumps(summary))


def _bucket(outcome: str) -> str:
    return {
        "ingested": "created",
        "threaded": "threaded",
        "quarantined": "quarantined",
        "bounce": "bounces",
    }.get(outcome, "ignored")
