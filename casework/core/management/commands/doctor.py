"""`casework doctor`: find cases missing what their writes should have decided or queued (clocks,
triage, routing, reply mail), repair what can be repaired, and print the counts."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from casework.core import doctor


class Command(BaseCommand):
    help = (
        "Find open cases without SLA clocks, untriaged or unrouted cases, public replies with no mail, "
        "failed mail and failed reaction steps; repair what can be repaired and print the counts."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Report only; change nothing.")
        parser.add_argument("--json", action="store_true", help="One JSON object instead of a table.")
        parser.add_argument(
            "--limit", type=int, default=doctor.DEFAULT_LIMIT, help="At most this many rows per check."
        )
        parser.add_argument(
            "--fail-on-findings",
            action="store_true",
            help="Exit 1 when anything was found (for monitoring), even if it was repaired.",
        )

    def handle(self, *args, **options) -> None:
        outcomes = doctor.examine(repair=not options["dry_run"], limit=options["limit"])
        if options["json"]:
            self.stdout.write(
                json.dumps({"dry_run": options["dry_run"], "checks": [o.as_dict() for o in outcomes]})
            )
        else:
            width = max(len(o.check) for o in outcomes)
            self.stdout.write(f"{'check'.ljust(width)}  found  repaired  reported  examples")
            for o in outcomes:
                line = f"{o.check.ljust(width)}  {o.found:5}  {o.repaired:8}  {o.reported:8}  "
                line += ", ".join(o.examples) + (f"  CHECK FAILED: {o.error}" if o.error else "")
                self.stdout.write(line.rstrip())
                self.stdout.write(f"{''.ljust(width)}  {o.description}")
        if any(o.error for o in outcomes) or (options["fail_on_findings"] and any(o.found for o in outcomes)):
            raise SystemExit(1)
