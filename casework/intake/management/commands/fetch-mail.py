"""`casework fetch-mail [--mailbox NAME]`: one IMAP poll (the worker does this every IMAP_POLL_SECONDS)."""

import json

from django.core.management.base import BaseCommand, CommandError

from casework.intake.mailboxes import poll_all_mailboxes
from casework.intake.models import Mailbox


class Command(BaseCommand):
    help = "Poll the enabled IMAP mailboxes once (or only --mailbox NAME) and print a JSON line per mailbox."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--mailbox", default=None, help="name of one mailbox (also polls a disabled one)")

    def handle(self, *args, **options) -> None:
        name = options["mailbox"]
        if name and not Mailbox.objects.filter(name=name).exists():
            raise CommandError(f"No mailbox named '{name}'")
        results = poll_all_mailboxes(name=name)
        for result in results:
            self.stdout.write(json.dumps(result.as_json()))
        if any(r.error for r in results):
            raise CommandError("; ".join(f"{r.mailbox}: {r.error}" for r in results if r.error))
