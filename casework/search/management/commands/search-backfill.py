"""casework search-backfill: build the search documents of existing cases (after an upgrade or a restore)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from casework.search.index import backfill


class Command(BaseCommand):
    help = "Build the search document of every case (--missing: only cases without one). Safe to re-run."

    def add_arguments(self, parser):
        parser.add_argument("--missing", action="store_true", help="only cases that have no document yet")
        parser.add_argument("--batch", type=int, default=500, help="cases per transaction (default 500)")

    def handle(self, *args, missing: bool = False, batch: int = 500, **options):
        started = time.monotonic()

        def progress(done: int) -> None:
            if options["verbosity"] >= 2:
                self.stderr.write(f"{done} cases indexed")

        done = backfill(batch=max(1, batch), only_missing=missing, progress=progress)
        self.stdout.write(f"{done} case documents written in {time.monotonic() - started:.1f} s")
