"""`casework worker`: the background task worker plus the periodic scheduler, in one process."""

from django.core.management import call_command
from django.core.management.base import BaseCommand

from casework.core.scheduler import SchedulerThread


class Command(BaseCommand):
    help = "Run background tasks (django-tasks-db) and the periodic scheduler (SLA sweep, mail polling, …)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--no-scheduler", action="store_true", help="Only run tasks; never schedule.")
        parser.add_argument(
            "--interval", type=float, default=1.0, help="Seconds between polls for new tasks."
        )
        parser.add_argument("--batch", action="store_true", help="Run outstanding tasks, then exit.")

    def handle(self, *args, **options) -> None:
        scheduler = None
        if not options["no_scheduler"] and not options["batch"]:
            scheduler = SchedulerThread()
            scheduler.start()
        try:
            worker_options = {
                "reload": False,
                "interval": options["interval"],
                "startup_delay": False,
                "queue_name": "*",
            }
            if options["batch"]:
                worker_options["batch"] = True
            call_command("db_worker", **worker_options)
        finally:
            if scheduler is not None:
                scheduler.stop()
                scheduler.join(timeout=10)
