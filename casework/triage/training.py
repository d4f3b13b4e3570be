"""Training on the deployment's own history: what a label is, when to retrain, and never blocking intake.

A **label** is a case whose category and priority a person set, confirmed or corrected: any
`category_changed` / `priority_changed` event by a user, or a triage verdict from the "needs human triage"
queue (a `note` with `data.triage_label`, written by `verdicts.triage_verdict`). The case's current
category and priority are the label; its subject and description are the text.

Training set = the shipped corpus (`corpus/train.jsonl`, the cold start) + CSV exports a team imported
(`casework triage train --from-csv FILE`, kept under MODEL_DIR/imported/) + the labelled history. Rows
whose category this install does not have are left out; a category an admin adds is learned as soon as
cases carry it.

Retraining reads with plain queries (no transaction held), fits in memory (seconds), writes the files and
swaps the model by renaming one pointer file (`model_store.save`): intake never waits for it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import platform
import resource
import shutil
import signal
import time
import traceback
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.db.models import Max, Q

from casework.cases.models import Case, CaseEvent, Category, EventKind

from . import corpus, model_store

logger = logging.getLogger(__name__)

# Below this many examples the out-of-fold log-loss is too noisy to choose a temperature: keep the default.
REFIT_TEMPERATURE_FROM = 200

LABEL_KINDS = (EventKind.CATEGORY_CHANGED, EventKind.PRIORITY_CHANGED)


def label_events():
    return CaseEvent.objects.filter(
        Q(kind__in=LABEL_KINDS, actor__isnull=False) | Q(kind=EventKind.NOTE, data__has_key="triage_label")
    )


def labelled_history():
    """Examples from cases a person labelled (one per case, its current category and priority)."""
    return [example for example, _ in labelled_history_grouped()]


def labelled_history_grouped():
    """`labelled_history` with each case's CV group: its organisation (one customer's wording stays on one
    side of a split), or the case itself when it has none."""
    from django.conf import settings

    from .examples import Example

    ids = label_events().values("case_id")
    # The newest CASEWORK_TRIAGE_TRAIN_MAX_CASES labelled cases: today's products and wording, and a
    # bounded retrain (at 1,000,000 generated cases the unbounded one took 114 s and ~400 MB).
    newest = (
        Case.objects.filter(pk__in=ids, category__isnull=False, merged_into__isnull=True)
        .order_by("-pk")
        .values_list("pk", flat=True)[: settings.CASEWORK["TRIAGE_TRAIN_MAX_CASES"]]
    )
    cases = (
        Case.objects.filter(pk__in=list(newest))
        .select_related("category", "organisation")
        .only(
            "subject", "description", "priority", "category__slug", "organisation__tier", "organisation__vip"
        )
        .order_by("pk")
    )
    return [
        (
            Example(
                subject=case.subject,
                body=case.description or "",
                category=case.category.slug,
                priority=case.priority,
                customer_tier=case.organisation.tier if case.organisation_id else "standard",
                vip=bool(case.organisation_id and case.organisation.vip),
            ),
            f"org:{case.organisation_id}" if case.organisation_id else f"case:{case.pk}",
        )
        for case in cases
    ]


def imported_dir() -> Path:
    return model_store.model_dir() / "imported"


def import_csv(path: str | Path) -> int:
    """Validate a team's inbox export and keep it for every later retrain; return its row count."""
    rows = corpus.load_csv(path, categories=set(Category.objects.values_list("slug", flat=True)))
    target = imported_dir()
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{Path(path).name}")
    return len(rows)


def gather(*, use_corpus: bool = True) -> tuple[list, dict[str, int]]:
    examples, _, counts = gather_grouped(use_corpus=use_corpus)
    return examples, counts


def gather_grouped(*, use_corpus: bool = True) -> tuple[list, list[str], dict[str, int]]:
    """Every labelled example, its cross-validation group and the counts by origin. Groups: the corpus's
    `source` tag, an imported file's `source` column (else the file), a case's organisation."""
    categories = set(Category.objects.values_list("slug", flat=True))
    examples: list = []
    groups: list[str] = []
    counts: dict[str, int] = {}
    if use_corpus and corpus.TRAIN_FILE.exists():
        rows = [r for r in corpus.load_jsonl(corpus.TRAIN_FILE) if r.example.category in categories]
        examples += [r.example for r in rows]
        groups += [f"corpus:{r.source or i}" for i, r in enumerate(rows)]
        counts["corpus"] = len(rows)
    n_csv = 0
    for path in sorted(imported_dir().glob("*.csv")) if imported_dir().exists() else []:
        rows = [r for r in corpus.load_csv(path) if r.example.category in categories]
        examples += [r.example for r in rows]
        groups += [f"csv:{r.source}" if r.source else f"csv:{path.name}" for r in rows]
        n_csv += len(rows)
    counts["imported_csv"] = n_csv
    history = labelled_history_grouped()
    examples += [e for e, _ in history]
    groups += [g for _, g in history]
    counts["history"] = len(history)
    return examples, groups, counts


def train(*, use_corpus: bool = True, params=None, cv: bool = True, log=logger.info) -> dict[str, Any]:
    """Fit a model on everything labelled, store it with its CV scores, and make it current."""
    import sklearn

    from . import classifier

    last_label = label_events().aggregate(last=Max("pk"))["last"]
    t0 = time.perf_counter()
    examples, groups, counts = gather_grouped(use_corpus=use_corpus)
    if not examples:
        raise ValueError("nothing to train on: no shipped corpus, imported CSV or labelled cases")
    params = params or classifier.Params()
    scores = classifier.cross_validate(examples, params, groups=groups) if cv else None
    fitted = ((scores or {}).get("category") or {}).get("fitted_temperature")
    if fitted and len(examples) >= REFIT_TEMPERATURE_FROM:
        # The category head's confidence is recalibrated on this history's own out-of-fold predictions.
        params = dataclasses.replace(params, category_temperature=fitted)
    model = classifier.fit(examples, params)
    heldout = heldout_scores(model) if cv else None
    holdout2 = heldout_scores(model, corpus.HOLDOUT2_FILE) if cv else None
    holdout3 = heldout_scores(model, corpus.HOLDOUT3_FILE) if cv else None
    meta = {
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "examples": len(examples),
        "sources": counts,
        "labels": {
            name: dict(Counter(getattr(e, name) for e in examples if getattr(e, name)))
            for name in ("category", "priority")
        },
        "params": params.as_dict(),
        "cv": scores,
        "heldout": heldout,
        "holdout2": holdout2,
        "holdout3": holdout3,
        "last_label_event_id": last_label,
        "seconds": round(time.perf_counter() - t0, 1),
        "sklearn": sklearn.__version__,
        "python": platform.python_version(),
    }
    name = model_store.save(model, meta)
    log(f"triage model {name}: {len(examples)} examples {counts}; CV {scores}")
    return {**meta, "version": name}


def heldout_scores(model, path: Path = corpus.EVAL_FILE) -> dict[str, Any] | None:
    """A shipped held-out set (never trained on: `eval.jsonl`, `holdout2.jsonl`, `holdout3.jsonl`), scored
    as the application runs: the shipped `case_opened` rules with the keyword rules giving way to the
    model, at the install's confidence threshold. Stored beside each version so a team sees what a retrain
    did to it."""
    from django.conf import settings

    from . import evaluation
    from .default_rules import DEFAULT_RULES, GIVES_WAY_TO_MODEL
    from .engine import rules_from_dicts

    if not path.exists():
        return None
    categories = list(Category.objects.values_list("slug", flat=True))
    messages = [m for m in corpus.load_jsonl(path) if m.example.category in set(categories)]
    if not messages:
        return None
    result = evaluation.evaluate(
        messages,
        rules=rules_from_dicts([r for r in DEFAULT_RULES if r["trigger"] == "case_opened"]),
        model=model,
        threshold=settings.CASEWORK["TRIAGE_CONFIDENCE"],
        categories=categories,
        fallback=frozenset(GIVES_WAY_TO_MODEL),
    )
    out: dict[str, Any] = {"file": path.name, "n": result["n"], "threshold": result["threshold"]}
    for system in ("model", "combined"):
        part = result[system]
        out[system] = {
            "category": {k: part["category"][k] for k in ("accuracy", "labels", "matrix")},
            "priority": {k: part["priority"][k] for k in ("accuracy", "labels", "matrix")},
            "critical_recall": part["critical_recall"],
        }
    out["combined"]["critical_safety_net"] = result["combined"]["critical_safety_net"]
    out["combined"]["needs_human_triage"] = result["combined"]["needs_human_triage"]
    return out


def retrain_if_needed() -> str | dict[str, Any]:
    """The worker's periodic job: train when people labelled cases since the current model was trained
    (or there is no model yet and there are labels).

    With CASEWORK_TRIAGE_RETRAIN_IN_CHILD (the default) the fit runs in a forked child process and this
    returns at once (`_retrain_in_child`); otherwise it fits here, in the worker."""
    from django.conf import settings

    if not settings.CASEWORK["TRIAGE_MODEL"]:
        return "model switched off"
    if settings.CASEWORK["TRIAGE_RETRAIN_IN_CHILD"] and hasattr(os, "fork"):
        return _retrain_in_child()
    reason = _no_training_needed()
    if reason:
        return reason
    result = train()
    return f"trained {result['version']}"


# The job asks every run whether people labelled cases since the model was trained. The newest label over
# every event walked the whole events table when there was none (9 M events at 1M cases: 1 s warm, 9-13 s
# cold on SQLite), so it looks only above the last event it found none up to (this Counter), a range of
# the primary key, at most LABELS_CHECK_IDS events a run: the first run after an upgrade goes through the
# history in short runs (a backlog: again within seconds). (A label whose transaction commits after a
# later-numbered event was checked waits for the next label to be seen; the retrain then reads every label.)
LABELS_CHECKED = "triage-labels-checked-up-to"
LABELS_CHECK_IDS = 250_000


def _no_training_needed() -> str | dict[str, Any] | None:
    """Why no retrain is due (a reason, or a backlog while the history is still being looked through), or
    None when one is."""
    from casework.core.models import Counter

    current = model_store.versions()
    meta = next((m for m in current if m.get("version") == model_store.current_name()), None)
    trained_up_to = (meta or {}).get("last_label_event_id") or 0
    checked = Counter.objects.filter(name=LABELS_CHECKED).values_list("value", flat=True).first() or 0
    top = CaseEvent.objects.aggregate(top=Max("pk"))["top"] or 0
    start = max(trained_up_to, checked)
    upto = min(top, start + LABELS_CHECK_IDS)
    last_label = label_events().filter(pk__gt=start, pk__lte=upto).aggregate(last=Max("pk"))["last"]
    if last_label is None:
        Counter.objects.update_or_create(name=LABELS_CHECKED, defaults={"value": max(upto, checked)})
        if upto < top:
            return {"backlog": True, "labels": f"none in events up to {upto} of {top}: looking on"}
    if meta is not None and last_label is None:
        return "no new labels"
    if meta is None and last_label is None:
        # The cold start (the shipped corpus alone) is `casework triage train`, run once at install: a worker
        # that starts must not spend its first minute fitting before it can stop or take other work.
        return "no model and no labelled cases yet: run `casework triage train` to start from the corpus"
    return None


# --- The retrain in a child process -------------------------------------------------------------------
#
# A fit at the 20,000-case cap takes ~30 s and lifts a process to 360-430 MB (measured at 1M cases); done in
# the worker, the worker's task loop (outbox delivery included) waited that long and its resident size
# stayed at the peak afterwards (CPython rarely gives freed memory back). So the job forks:
#
# - the job takes an exclusive `flock` on MODEL_DIR/training.lock and forks; the child inherits the locked
#   descriptor and the parent closes its copy, so the lock is held exactly as long as the child lives
#   (a killed child releases it; no stale pid files) and a second worker on this host sees "running";
# - the child fits with its own database connection (the parent closes its connections before the fork;
#   an in-memory SQLite database, in tests, is kept and read as the child's copy), writes the model files
#   and swaps the current pointer exactly as an in-process train, records its outcome in
#   MODEL_DIR/training-state.json, and leaves with os._exit (nothing of the parent's is torn down twice);
# - the job returns {"backlog": True}, so the scheduler runs it again after a few seconds: while the lock is
#   held it answers "running"; once free it reports the child's outcome once (a failure, or a child killed
#   before it finished, raises, so the job's row shows the error and retries with backoff) and reaps the
#   child if this process forked it.

LOCK_FILE = "training.lock"
STATE_FILE = "training-state.json"
_forked: set[int] = set()  # children of this process not reaped yet
CHILD_TIMEOUT = timedelta(hours=1)


class TrainingFailed(RuntimeError):
    """The retrain child failed or was killed; the message has its error."""


def _state_path() -> Path:
    return model_store.model_dir() / STATE_FILE


def read_state() -> dict[str, Any]:
    """The last child retrain's record (`{}` before the first)."""
    try:
        return json.loads(_state_path().read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _write_state(state: dict[str, Any]) -> None:
    path = _state_path()
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(state, indent=1))
    os.replace(partial, path)


def _reap() -> None:
    for pid in list(_forked):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _forked.discard(pid)


def _retrain_in_child() -> str | dict[str, Any]:
    _reap()
    directory = model_store.model_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            state = read_state()
            _stop_if_overdue(state)
            return {
                "backlog": True,
                "training": f"running in process {state.get('pid')} since {state.get('started_at')}",
            }
        report = _take_outcome()
        if report is not None:
            return report
        reason = _no_training_needed()
        if reason:
            return reason
        pid = _fork_training()
        return {"backlog": True, "training": f"started in process {pid}"}
    finally:
        os.close(fd)  # a child keeps the lock through its own copy of the descriptor


def _stop_if_overdue(state: dict[str, Any]) -> None:
    """A child of this process running past CHILD_TIMEOUT is killed (its outcome then reads "ended without
    finishing"): a fit is ~30 s at 1M cases, so one still running after an hour is stuck — a fork while
    another thread held a lock inside a C library can leave a child waiting forever — and would otherwise
    keep the lock, and every later retrain, to itself. A child another worker started is left to it."""
    pid = state.get("pid")
    try:
        started = datetime.fromisoformat(state["started_at"])
    except (KeyError, TypeError, ValueError):
        return
    if pid in _forked and (datetime.now(UTC) - started).total_seconds() > CHILD_TIMEOUT.total_seconds():
        logger.error("triage retrain: process %s has run since %s; stopping it", pid, state["started_at"])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _take_outcome() -> str | None:
    """The finished child's outcome, once: a message for the job's row, or TrainingFailed."""
    state = read_state()
    if not state or state.get("reported"):
        return None
    _write_state({**state, "reported": True})
    if state.get("status") == "ok":
        message = (
            f"trained {state['version']} in process {state['pid']}: {state['seconds']} s, "
            f"peak {state['peak_rss_mb']} MB"
        )
        logger.info("triage retrain: %s", message)
        return message
    if state.get("status") == "failed":
        raise TrainingFailed(f"the retrain in process {state.get('pid')} failed:\n{state.get('error')}")
    raise TrainingFailed(
        f"the retrain in process {state.get('pid')} (started {state.get('started_at')}) ended without "
        "finishing: killed, or out of memory?"
    )


def _fork_training() -> int:
    from django.db import connections

    started = datetime.now(UTC).isoformat(timespec="seconds")
    # The child must not share a socket or SQLite handle with its parent: close them here (the parent
    # reconnects on its next query). Django keeps an in-memory SQLite database open on close (tests).
    connections.close_all()
    go_read, go_write = os.pipe()
    pid = os.fork()
    if pid:
        _forked.add(pid)
        os.close(go_read)
        # The "running" record is written before the child may write its outcome (it waits for the pipe).
        try:
            _write_state({"status": "running", "pid": pid, "started_at": started})
        finally:
            os.write(go_write, b"1")
            os.close(go_write)
        return pid
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a stopping worker's handlers are not the child's
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.close(go_write)
        os.read(go_read, 1)
        os.close(go_read)
        t0 = time.perf_counter()
        result = train()
        _write_state(
            {
                "status": "ok",
                "pid": os.getpid(),
                "started_at": started,
                "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "version": result["version"],
                "seconds": round(time.perf_counter() - t0, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
        code = 0
    except BaseException:
        with contextlib.suppress(BaseException):
            _write_state(
                {
                    "status": "failed",
                    "pid": os.getpid(),
                    "started_at": started,
                    "error": traceback.format_exc()[-4000:],
                }
            )
    finally:
        os._exit(code)
