"""`casework report weekly|daily [--send] [--to ADDR …] [--week YYYY-MM-DD | --day YYYY-MM-DD]`: build a
scheduled report by hand; print its text, or queue it in the outbox for the subscribers (or the given
addresses). Queuing is idempotent per report, period and recipient, like the scheduled job."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from casework.reports import services


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"'{value}' is not a date like 2026-11-30") from None


class Command(BaseCommand):
    help = "Build the weekly report or the daily summary; print it, or --send it through the outbox."

    def add_arguments(self, parser) -> None:
        parser.add_argument("kind", choices=["weekly", "daily"])
        parser.add_argument("--send", action="store_true", help="Queue it for the subscribers (or --to).")
        parser.add_argument("--to", action="append", default=None, help="Send to this address (repeatable).")
        parser.add_argument("--week", help="Monday of the week to report (default: last week).")
        parser.add_argument("--day", help="Day of the daily summary (default: yesterday).")
        parser.add_argument("--html", action="store_true", help="Print the HTML instead of the text.")

    def handle(self, *args, **options) -> None:
        if options["kind"] == "weekly":
            week = _date(options["week"]) if options["week"] else None
            if week is not None and week.weekday() != 0:
                raise CommandError(f"--week must be a Monday; {week} is a {week:%A}")
            mail = services.weekly_report(week_start=week)
        else:
            mail = services.daily_summary(day=_date(options["day"]) if options["day"] else None)
        if not options["send"]:
            self.stdout.write(mail.html if options["html"] else mail.text)
            return
        if options["to"]:
            created = services.report_send(mail=mail, to=options["to"])
        else:
            # Subscribers get their own teams' figures: one mail per scope (a lead's, every team).
            kind = "weekly" if options["kind"] == "weekly" else "daily"
            created = services.send_period(kind, date.fromisoformat(mail.period))
        self.stdout.write(f"{mail.subject}: {created} mail(s) queued in the outbox")
