"""`casework insights-vectorise [--refit]`: store the vectors of every case without a current one."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Vectorise every case without a vector of the current IDF snapshot (the insights-vectorise job "
        "without its time budget). --refit first fits a new snapshot on the most recent cases, which "
        "makes every stored vector stale: all are re-vectorised, newest first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--refit", action="store_true", help="Fit a new IDF snapshot first.")
        parser.add_argument("--batch", type=int, default=None, help="Cases per transaction.")

    def handle(self, *args, refit: bool, batch: int | None, **options):
        from casework.insights import vectorising

        started = time.perf_counter()
        if refit:
            space = vectorising.refit()
            self.stdout.write(f"new snapshot v{space.pk} fitted on {space.row.n_docs} cases")
        result = vectorising.vectorise_pending(batch=batch, budget_s=float("inf"))
        self.stdout.write(
            f"{result['vectorised']} cases vectorised (snapshot v{result['space']}) "
            f"in {time.perf_counter() - started:.1f} s"
        )
