"""`casework serve`: web (gunicorn) + one worker, for the demo and small single-machine installs.

Children are started and stopped by PID; Ctrl+C stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand

from casework.core.demo import ADMIN_PASSWORD, DEMO_PASSWORD


class Command(BaseCommand):
    help = "Run the web server and a background worker together."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args, **options) -> None:
        bin_dir = os.path.dirname(sys.executable)
        web = [
            os.path.join(bin_dir, "gunicorn"),
            "casework.wsgi:application",
            "--bind",
            f"{options['host']}:{options['port']}",
            "--workers",
            str(options["web_workers"]),
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "10",
        ]
        worker = [sys.executable, "-m", "casework", "worker"]
        children = [subprocess.Popen(web), subprocess.Popen(worker)]
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write("")
        self.stdout.write(f"casework is running at {url}  (API docs: {url}api/v1/docs)")
        self.stdout.write(f"  administrator: admin / {ADMIN_PASSWORD}")
        self.stdout.write(f"  agents: ana, ben, chloe (L1) · dev, eva (L2) · felix (L3) / {DEMO_PASSWORD}")
        self.stdout.write("Press Ctrl+C to stop.")
        self.stdout.flush()

        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(child.poll() is None for child in children):
                time.sleep(0.5)
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
