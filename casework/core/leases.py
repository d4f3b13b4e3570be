"""Who holds what, and for how long: the holder id of this process and a thread that keeps a lease alive.

Every claim casework makes on shared work (the scheduler, one periodic job, one outbox row) is a row with a
holder and an expiry, taken by a conditional UPDATE. A live holder renews its lease from a `LeaseKeeper`
thread, so work that outlasts the lease is never taken over while its worker is alive; a killed holder
stops renewing, and the lease runs out on its own. No process ever has to tell another that it died.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from types import TracebackType

from django.db import connection

logger = logging.getLogger(__name__)

# django-tasks-db stores worker ids in a 64-character column; the holder id doubles as the worker id.
HOLDER_ID_MAX = 64

_process_holder: str | None = None
_process_holder_pid: int | None = None


def new_holder_id() -> str:
    """`host:pid:random`: readable in the admin, unique even when a pid is reused after a restart."""
    suffix = f":{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return socket.gethostname()[: HOLDER_ID_MAX - len(suffix)] + suffix


def process_holder_id() -> str:
    """The holder id of this process (the `casework worker` sets it once; tests get one lazily).

    A forked child gets a fresh id: it is a different process and must never renew its parent's leases."""
    global _process_holder, _process_holder_pid
    if _process_holder is None or _process_holder_pid != os.getpid():
        _process_holder, _process_holder_pid = new_holder_id(), os.getpid()
    return _process_holder


class LeaseKeeper:
    """Calls `renew()` every `every` seconds in a background thread until the `with` block ends.

    `renew` returns False when the lease is no longer ours (it expired and someone else took it); the
    keeper then stops renewing and sets `lost`, so the owner can tell its result may be overtaken. A renewal
    that raises (the database restarting) is logged and tried again at the next beat: the lease is only
    lost if that goes on for longer than the lease itself.
    """

    def __init__(self, renew: Callable[[], bool], *, every: float, what: str) -> None:
        self.renew = renew
        self.every = max(every, 0.05)
        self.what = what
        self.lost = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease:{what}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._thread.join(timeout=max(5.0, self.every * 2))

    def _run(self) -> None:
        try:
            while not self._stopping.wait(self.every):
                try:
                    still_ours = self.renew()
                except Exception:
                    logger.exception("renewing the lease on %s failed; trying again", self.what)
                    continue
                if not still_ours:
                    self.lost.set()
                    logger.error("lease on %s was lost: it expired and another holder took it", self.what)
                    return
        finally:
            # This thread's own connection (Django connections are per thread); never left open.
            connection.close()
