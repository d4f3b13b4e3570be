"""Versioned model files: save beside their CV scores, swap atomically, load lazily, fall back to rules.

    <CASEWORK_TRIAGE_MODEL_DIR>/
        triage-20261203-101500-ab12.joblib   the fitted vectoriser + heads
        triage-20261203-101500-ab12.json     meta: trained_at, examples, labels, params, CV scores, versions
        CURRENT                              the name of the model in use (replaced with os.replace)

Training writes the two files first and then replaces CURRENT in one rename, so a process reading it sees
the old model or the new one, never half of one; it never holds a database transaction (see
`training.py`). Each process loads the model the first time a write triages a message (web requests that
do not triage never import scikit-learn) and again when CURRENT names another file (one `stat` per
triage). A missing or corrupt file logs one clear line and triage goes on with the rules alone.

The joblib files are pickles: load only files this install wrote (the directory is the operator's).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from .classifier import TriageModel

logger = logging.getLogger(__name__)

POINTER = "CURRENT"
KEEP = 5  # model versions kept on disk (the newest); older ones are removed after a swap


def model_dir() -> Path:
    return Path(settings.CASEWORK["TRIAGE_MODEL_DIR"])


@dataclass
class _Loaded:
    name: str | None
    stamp: tuple[int, int] | None
    model: TriageModel | None


_lock = threading.Lock()
_state = _Loaded(name=None, stamp=None, model=None)


def _pointer_stamp(directory: Path) -> tuple[int, int] | None:
    try:
        st = (directory / POINTER).stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_ino)


def current_name(directory: Path | None = None) -> str | None:
    directory = directory or model_dir()
    try:
        return (directory / POINTER).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def current_model() -> TriageModel | None:
    """The model in use, or None (no model trained yet, the model switched off, or its file unreadable:
    triage then runs on the rules alone)."""
    if not settings.CASEWORK["TRIAGE_MODEL"]:
        return None
    directory = model_dir()
    stamp = _pointer_stamp(directory)
    if stamp is not None and stamp == _state.stamp:
        return _state.model
    with _lock:
        if stamp == _state.stamp and stamp is not None:
            return _state.model
        name = current_name(directory) if stamp is not None else None
        model = _load(directory, name) if name else None
        if stamp is None and _state.stamp is not None:
            logger.warning("triage model: %s/%s is gone; triaging with rules alone", directory, POINTER)
        _state.name, _state.stamp, _state.model = name, stamp, model
        return model


def _load(directory: Path, name: str) -> TriageModel | None:
    import joblib  # scikit-learn's own persistence; imported here so web processes do not pay for it

    from .classifier import TriageModel

    path = directory / f"{name}.joblib"
    try:
        model = joblib.load(path)
        if not isinstance(model, TriageModel):
            raise TypeError(f"expected a TriageModel, found {type(model).__name__}")
    except Exception as exc:  # a corrupt, truncated or foreign file: never break intake over it
        logger.error("triage model %s could not be loaded (%s: %s); triaging with rules alone", path,
                     type(exc).__name__, exc)  # fmt: skip
        return None
    logger.info("triage model %s loaded (%s examples)", name, model.meta.get("examples"))
    return model


def reset_cache() -> None:
    """Forget the loaded model (tests; a swap is noticed without this)."""
    with _lock:
        _state.name, _state.stamp, _state.model = None, None, None


def save(model: TriageModel, meta: dict[str, Any], directory: Path | None = None) -> str:
    """Write a new version and make it current; return its name."""
    import joblib

    directory = directory or model_dir()
    directory.mkdir(parents=True, exist_ok=True)
    name = f"triage-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    model.meta = {**model.meta, **meta, "version": name}
    tmp = directory / f".{name}.joblib.tmp"
    joblib.dump(model, tmp)
    os.replace(tmp, directory / f"{name}.joblib")
    (directory / f"{name}.json").write_text(json.dumps(model.meta, indent=2, default=str) + "\n")
    pointer_tmp = directory / f".{POINTER}.{name}.tmp"
    pointer_tmp.write_text(name + "\n", encoding="utf-8")
    os.replace(pointer_tmp, directory / POINTER)  # the swap: one rename
    _prune(directory, keep=name)
    return name


def _prune(directory: Path, keep: str) -> None:
    versions = sorted(p.stem for p in directory.glob("triage-*.joblib"))
    for old in versions[:-KEEP]:
        if old == keep:
            continue
        for suffix in (".joblib", ".json"):
            (directory / f"{old}{suffix}").unlink(missing_ok=True)


def versions(directory: Path | None = None) -> list[dict[str, Any]]:
    """Every stored version's meta, newest first (for the lead's page and `casework triage status`)."""
    directory = directory or model_dir()
    out = []
    for path in sorted(directory.glob("triage-*.json"), reverse=True):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            out.append({"version": path.stem, "error": "unreadable meta"})
    return out
