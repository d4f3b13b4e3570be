"""`casework worker`: the background task worker, the periodic scheduler and the pollers, in one process.

The process has one holder id, used as django-tasks-db's worker id, as the scheduler and job lease holder
and as the outbox claim holder, so the admin tells which process holds what.
"""

from importlib import import_module

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from casework.core import relay
from casework.core.leases import process_holder_id
from casework.core.workers import WorkerBackground, run_pollers_once, warm_imports


class _DbWorker(DbWorkerCommand):
    def configure_logging(self, verbosity: int) -> None:
        # db_worker sets its loggers to INFO at the default verbosity; casework's LOGGING decides instead
        # (a start and a finish line for every periodic job run would drown the worker log).
        pass


class Command(BaseCommand):
    help = (
        "Run background tasks (django-tasks-db, or hand them to CASEWORK_TASK_RELAY's workers), periodic "
        "jobs (SLA sweep, mail polling, …), the outbox."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--no-scheduler", action="store_true", help="Run tasks; never schedule jobs.")
        parser.add_argument(
            "--interval", type=float, default=1.0, help="Seconds between polls for new tasks."
        )
        parser.add_argument(
            "--batch", action="store_true", help="Run outstanding tasks, send due mail, then exit."
        )

    def handle(self, *args, **options) -> None:
        # Extra job modules (site-specific periodic jobs; the crash tests' probe job): imported here, in
        # the only kind of process that schedules and runs jobs.
        for module in settings.CASEWORK["JOB_MODULES"]:
            import_module(module)
        if settings.CASEWORK["WORKER_WARM_IMPORTS"] and not options["batch"]:
            warm_imports()  # a long-running worker: no job run pays a one-time library import
        worker_id = process_holder_id()
        background = None
        if not options["batch"]:
            background = WorkerBackground(worker_id=worker_id, schedule=not options["no_scheduler"])
            background.start()
        try:
            if relay.relay_enabled():
                # Tasks run on the relay backend's workers (casework/core/relay.py); this process hands
                # them over and keeps the scheduler, pollers and outbox.
                loop = relay.Relay(interval=options["interval"])
                if options["batch"]:
                    loop.run_once()
                    run_pollers_once()
                else:
                    loop.run()
                return
            worker_options = {
                "reload": False,
                "interval": options["interval"],
                "startup_delay": False,
                "queue_name": "*",
                "worker_id": worker_id,
            }
            if options["batch"]:
                worker_options["batch"] = True
            call_command(_DbWorker(), **worker_options)
            if options["batch"]:
                run_pollers_once()
        finally:
            if background is not None:
                background.stop()
