"""`casework bench-data --cases N`: synthetic history for measuring reports (casework/testing/bench_data.py).
Refuses a database that already has cases."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from casework.testing.bench_data import generate


class Command(BaseCommand):
    help = "Fill an EMPTY database with N synthetic cases over two years (bulk inserts) to measure reports."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--cases", type=int, required=True)
        parser.add_argument("--seed", type=int, default=16)
        parser.add_argument("--years", type=float, default=2.0)

    def handle(self, *args, **options) -> None:
        if options["cases"] < 1:
            raise CommandError("--cases must be at least 1")
        with tqdm(total=options["cases"], unit="case", disable=None) as bar:
            try:
                totals = generate(
                    options["cases"], seed=options["seed"], years=options["years"], progress=bar.update
                )
            except RuntimeError as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(totals))
