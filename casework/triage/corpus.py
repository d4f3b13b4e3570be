"""Labelled messages from files: the shipped corpus (JSON lines) and a team's old inbox export (CSV).

JSON lines: one object per line with ``subject``, ``body``, ``category``, ``priority`` and optionally
``angry`` (bool), ``source``, ``customer_tier``, ``vip``. CSV: a header row with at least ``subject``,
``body``, ``category``, ``priority`` (any order, extra columns ignored). Category values may be slugs
("feature-request") or names ("Feature request"); they are normalised to slugs.

A bad row is an error that names the file and line; nothing is half-loaded.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from .examples import PRIORITIES, Example

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
TRAIN_FILE = CORPUS_DIR / "train.jsonl"
EVAL_FILE = CORPUS_DIR / "eval.jsonl"
# A second held-out set, written independently of both (see corpus/HOLDOUT2.md): never trained or tuned on.
HOLDOUT2_FILE = CORPUS_DIR / "holdout2.jsonl"
# A third one (corpus/HOLDOUT3.md), written before the fourth round of changes: the "before" and "after" set.
HOLDOUT3_FILE = CORPUS_DIR / "holdout3.jsonl"
HELD_OUT_FILES = {"eval": EVAL_FILE, "holdout2": HOLDOUT2_FILE, "holdout3": HOLDOUT3_FILE}


class CorpusError(ValueError):
    pass


@dataclass(frozen=True)
class LabelledMessage:
    example: Example
    angry: bool | None = None
    source: str = ""


def slug(value: str) -> str:
    return "-".join(str(value).strip().casefold().replace("_", " ").split())


def _row(data: dict, where: str, categories: set[str] | None) -> LabelledMessage:
    missing = [k for k in ("category", "priority") if not str(data.get(k) or "").strip()]
    if missing or not (str(data.get("subject") or "").strip() or str(data.get("body") or "").strip()):
        raise CorpusError(f"{where}: needs subject or body, and {', '.join(missing) or 'both labels'}")
    category, priority = slug(data["category"]), slug(data["priority"])
    if priority not in PRIORITIES:
        raise CorpusError(f"{where}: priority {data['priority']!r} is not one of {', '.join(PRIORITIES)}")
    if categories is not None and category not in categories:
        raise CorpusError(
            f"{where}: unknown category {data['category']!r} (known: {', '.join(sorted(categories))})"
        )
    angry = data.get("angry")
    if isinstance(angry, str):
        angry = angry.strip().casefold() in {"1", "true", "yes", "y"}
    vip = data.get("vip")
    if isinstance(vip, str):
        vip = vip.strip().casefold() in {"1", "true", "yes", "y"}
    return LabelledMessage(
        example=Example(
            subject=str(data.get("subject") or ""),
            body=str(data.get("body") or ""),
            category=category,
            priority=priority,
            customer_tier=str(data.get("customer_tier") or "standard"),
            vip=bool(vip),
            angry=None if angry is None else bool(angry),
        ),
        angry=None if angry is None else bool(angry),
        source=str(data.get("source") or ""),
    )


def load_jsonl(path: str | Path, *, categories: set[str] | None = None) -> list[LabelledMessage]:
    path = Path(path)
    rows: list[LabelledMessage] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
            if not isinstance(data, dict):
                raise CorpusError(f"{path}:{number}: expected an object")
            rows.append(_row(data, f"{path}:{number}", categories))
    return rows


def load_csv(path: str | Path, *, categories: set[str] | None = None) -> list[LabelledMessage]:
    path = Path(path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = {h.strip().casefold() for h in reader.fieldnames or []}
        need = {"subject", "body", "category", "priority"} - header
        if need:
            raise CorpusError(f"{path}: missing column(s) {', '.join(sorted(need))}")
        rows = []
        for number, raw in enumerate(reader, 2):
            data = {(k or "").strip().casefold(): v for k, v in raw.items()}
            rows.append(_row(data, f"{path}:{number}", categories))
    return rows


def load(path: str | Path, *, categories: set[str] | None = None) -> list[LabelledMessage]:
    return (load_csv if str(path).endswith(".csv") else load_jsonl)(path, categories=categories)
