import json

from django.core.management.base import BaseCommand, CommandError

from casework.people.models import Customer
from casework.people.privacy import customer_export


class Command(BaseCommand):
    help = "Print everything casework holds about a customer as JSON (recorded on their cases' timelines)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--dry-run", action="store_true", help="Print the counts only; record nothing")

    def handle(self, *args, **options) -> None:
        customer = Customer.objects.filter(email__iexact=options["email"].strip()).first()
        if customer is None:
            raise CommandError(f"No customer {options['email']!r}")
        export = customer_export(customer=customer, dry_run=options["dry_run"])
        self.stdout.write(json.dumps(export["counts"] if options["dry_run"] else export, indent=2))
