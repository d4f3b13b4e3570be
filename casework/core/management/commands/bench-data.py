"""`casework bench-data --cases N`: add N generated cases (two years of history) for benchmarks."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Generate a realistic data set fast (bulk inserts): organisations, customers, agents and N cases "
        "over two years with messages, events, SLA clocks, breaches and escalations. For benchmarks; "
        "never on a production database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--cases", type=int, required=True, help="How many cases to add.")
        parser.add_argument("--seed", type=int, default=20, help="Random seed (same seed, same data).")
        parser.add_argument("--batch", type=int, default=5000, help="Cases per transaction.")
        parser.add_argument(
            "--days", type=int, default=730, help="Span of the history in days (default two years)."
        )
        parser.add_argument(
            "--indexes",
            choices=["auto", "rebuild", "keep"],
            default="auto",
            help="Drop the bulk tables' non-unique indexes for the load and rebuild them after ('auto': when "
            "adding at least 50,000 cases and at least as many as there are).",
        )
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, cases: int, seed: int, batch: int, json: bool, no_progress: bool, **options):
        if cases < 1:
            raise CommandError("--cases must be at least 1")
        if options["days"] < 1:
            raise CommandError("--days must be at least 1")
        if batch < 1:
            raise CommandError("--batch must be at least 1")
        from tqdm import tqdm

        from casework.testing.benchdata import generate

        with tqdm(total=cases, unit="case", disable=no_progress, file=self.stderr._out, smoothing=0.1) as bar:
            result = generate(
                cases,
                seed=seed,
                batch_size=batch,
                days=options["days"],
                rebuild_indexes={"auto": None, "rebuild": True, "keep": False}[options["indexes"]],
                progress=bar.update,
            )
        out = result.as_dict()
        if json:
            self.stdout.write(_dumps(out))
            return
        self.stdout.write(
            f"{out['cases']} cases in {out['seconds']} s ({out['cases_per_s']}/s) on {out['database']}"
        )
        for label, count in sorted(out["rows"].items()):
            self.stdout.write(f"  {label}: {count}")
        self.stdout.write(f"  phases: {out['phases']}")


def _dumps(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True)
