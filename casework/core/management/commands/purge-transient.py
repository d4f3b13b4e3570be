import json

from django.core.management.base import BaseCommand

from casework.core.retention import purge_transient


class Command(BaseCommand):
    help = "Delete transient rows past their retention (casework/core/retention.py); --dry-run counts them."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing"
        )

    def handle(self, *args, **options) -> None:
        counts = purge_transient(dry_run=options["dry_run"])
        self.stdout.write(json.dumps({"dry_run": options["dry_run"], "rows": counts}))
