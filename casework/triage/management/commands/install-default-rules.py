from django.core.management.base import BaseCommand

from casework.triage.services import install_default_rules


class Command(BaseCommand):
    help = "Install the playbook's default triage rules (existing ones are kept unless --update)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--update", action="store_true", help="Overwrite shipped rules.")

    def handle(self, *args, **options) -> None:
        result = install_default_rules(update=options["update"])
        self.stdout.write(f"{result['created']} created, {result['updated']} updated")
