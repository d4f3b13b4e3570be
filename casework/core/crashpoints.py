"""Named points where the crash tests kill the process, to prove that nothing is lost across them.

`crash_point("after_commit", "case_open_many")` does nothing unless the environment variable
`CASEWORK_CRASH_AT` names that point: `after_commit` (any door), `after_commit:case_open_many` (one door),
or `smtp_mid_send` (`smtp_accepted`, `smtp_handed_over`: after the server's 250, before and after the
hand-over journal write). Then the process kills itself with SIGKILL, exactly as the OOM killer or a `kill -9`
during a deploy would: no `finally`, no atexit, no flushing of anything that was not already durable.

`CASEWORK_CRASH_AFTER=N` lets the first N matching passes go by (kill on the N+1th), so a test can kill
the second commit of a run. The check is one dictionary lookup, so the points stay in production code.
"""

from __future__ import annotations

import os
import signal
import sys

_passes: dict[str, int] = {}


def crash_point(point: str, detail: str = "") -> None:
    wanted = os.environ.get("CASEWORK_CRASH_AT")
    if not wanted or wanted not in (point, f"{point}:{detail}"):
        return
    seen = _passes.get(wanted, 0)
    _passes[wanted] = seen + 1
    if seen < int(os.environ.get("CASEWORK_CRASH_AFTER", "0") or 0):
        return
    # Tell the test where we died (stderr is unbuffered enough for one line), then die without cleanup.
    sys.stderr.write(f"casework: crash point {point}{':' + detail if detail else ''} reached, SIGKILL\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
