import json

from django.core.management.base import BaseCommand

from casework.privacy.retention import run


class Command(BaseCommand):
    help = (
        "Apply the retention policies to closed cases (casework/privacy/retention.py): attachments purged, "
        "cases anonymised or deleted, held cases untouched. --dry-run prints the counts per policy only."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count per policy; change nothing")
        parser.add_argument(
            "--batch", type=int, default=None, help="Cases per write (CASEWORK_RETENTION_BATCH)"
        )

    def handle(self, *args, **options) -> None:
        report = run(dry_run=options["dry_run"], batch=options["batch"])
        self.stdout.write(json.dumps({"dry_run": options["dry_run"], **report.as_dict()}, indent=2))
