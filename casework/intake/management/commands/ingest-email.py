"""`casework ingest-email FILE|-`: one mail from a file or stdin (an MTA pipe), one JSON line out.

Exit status 0 for every verdict, quarantine included, so the MTA does not bounce mail we kept; a
non-zero exit (database down, a bug) makes the MTA defer and retry, and nothing was written.
"""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from casework.intake.services import ingest_raw


class Command(BaseCommand):
    help = "Ingest one raw email from FILE (or - for stdin) and print the result as one JSON line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="path of an .eml file, or - to read stdin")

    def handle(self, *args, **options) -> None:
        name = options["file"]
        if name == "-":
            raw = sys.stdin.buffer.read()
            source = "pipe"
        else:
            try:
                raw = Path(name).read_bytes()
            except OSError as exc:
                raise CommandError(f"cannot read {name}: {exc}") from exc
            source = "file"
        result = ingest_raw(raw, source=source)
        payload = result.as_json()
        line = {k: payload[k] for k in ("case", "created", "matched_by", "quarantined")}
        line.update({k: payload[k] for k in ("duplicate", "outcome", "reason")})
        self.stdout.write(json.dumps(line))
