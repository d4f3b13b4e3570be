"""`casework insights-cluster [--days N]`: run the clustering job now, or catch up over N days."""

from __future__ import annotations

import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Run the clustering job once. With --days N, a catch-up: every case of the last N days in no "
        "cluster is grouped with the cases of the CLUSTER_WINDOW_HOURS before it, as the periodic job "
        "would have done (e.g. after installing casework on an existing case history). Incident alerts "
        "are raised only for clusters active within the window."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="Catch up over this many days.")

    def handle(self, *args, days: int | None, **options):
        from casework.core import clock
        from casework.insights.clustering import cluster_recent

        if days is not None and days < 1:
            raise CommandError("--days must be at least 1")
        since = clock.now() - timedelta(days=days) if days else None
        started = time.perf_counter()
        result = cluster_recent(since=since)
        self.stdout.write(
            f"{result['assigned']} cases clustered, {result['clusters']} new clusters, "
            f"{result['proposed']} proposed to problems, {result['alerts']} incident alerts "
            f"in {time.perf_counter() - started:.1f} s"
        )
