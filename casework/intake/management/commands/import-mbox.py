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

from casework.intake.models import Mailbox
from casework.intake.services import ingest_many


def _messages(path: Path) -> tuple[int, Iterator[bytes]]:
    if path.is_dir():
        box = stdlib_mailbox.Maildir(str(path), factory=None, create=False)
    else:
        box = stdlib_mailbox.mbox(str(path), factory=None, create=False)
    keys = sorted(box.keys(), key=_delivery_order) if path.is_dir() else list(box.keys())

    def generate() -> Iterator[bytes]:
        for key in keys:
            yield box.get_bytes(key)

    return len(keys), generate()


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
