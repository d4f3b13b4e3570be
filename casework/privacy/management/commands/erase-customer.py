import json

from django.core.management.base import BaseCommand, CommandError

from casework.core.errors import ApplicationError
from casework.people.models import Customer
from casework.privacy.services import customer_erase


class Command(BaseCommand):
    help = (
        "Erase a customer on request (right to be forgotten): anonymise their cases, messages, attachments, "
        "mail and search entries, leaving each case's audit skeleton. Refused while a legal hold covers any "
        "of it. --dry-run prints what would be erased."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--dry-run", action="store_true", help="Print the counts; change nothing")
        parser.add_argument(
            "--reason", default="erasure requested by the customer", help="Recorded on each case"
        )

    def handle(self, *args, **options) -> None:
        customer = Customer.objects.filter(email__iexact=options["email"].strip()).first()
        if customer is None:
            raise CommandError(f"No customer {options['email']!r}")
        try:
            result = customer_erase(
                customer=customer,
                actor="command:erase-customer",
                reason=options["reason"],
                dry_run=options["dry_run"],
            )
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} [{exc.code}]") from exc
        self.stdout.write(json.dumps({"dry_run": options["dry_run"], **result}, indent=2))
        if options["dry_run"] and result["blocked_by"]:
            self.stderr.write(f"Blocked by legal hold: {', '.join(result['blocked_by'])}")
