"""Measuring duplicate detection on labelled reports (the Hadoop bug reports in ../shared/data).

An honest split: the labelled duplicate groups are divided in two by a hash of their smallest id — a
*tuning* half, on which the weights and the suggestion threshold are chosen, and a *test* half, on which
the figures in the README are reported. Negatives (reports never marked duplicate) are split the same
way. The data is read where it lies; nothing is copied into the repository.

    retrieval   for each duplicate report, is one of its labelled partners among the top k of all the
                other reports? (recall@1/@5/@10)
    detection   a report gets a suggestion when its best match scores ≥ threshold. Precision: of the
                suggestions made, how many name a labelled partner. Recall: of the duplicate reports,
                how many got a suggestion naming a partner.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .similarity import DEFAULT_WEIGHTS, Doc, Space

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "bugreports" / "hadoop"


def data_dir() -> Path:
    # The worktree lives at /work/wt-*; the shared data at /work/shared/data.
    for base in (DATA, Path("/work/shared/data/bugreports/hadoop")):
        if (base / "hadoop_bugs.csv").exists():
            return base
    raise FileNotFoundError("the Hadoop bug reports are not in ../shared/data/bugreports/hadoop")


@dataclass
class Labelled:
    docs: list[Doc]
    partners: dict[str, set[str]]  # report id → its labelled duplicates (both directions)


def load(directory: Path | None = None) -> Labelled:
    directory = directory or data_dir()
    csv.field_size_limit(sys.maxsize)
    with open(directory / "hadoop_bugs.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    docs = [Doc(r["Issue id"].strip(), r["Summary"] or "", r["Description"] or "") for r in rows]
    known = {d.key for d in docs}
    partners: dict[str, set[str]] = {}
    with open(directory / "hadoop_bugs-combined.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            a = row["Issue id"].strip()
            for b in (x.strip() for x in (row["Duplicate id"] or "").split(",")):
                if a in known and b in known and a != b:
                    partners.setdefault(a, set()).add(b)
                    partners.setdefault(b, set()).add(a)
    return Labelled(docs, partners)


def half(key: str) -> str:
    return "tune" if int(hashlib.sha256(key.encode()).hexdigest(), 16) % 2 == 0 else "test"


def group_key(report: str, partners: dict[str, set[str]]) -> str:
    """The smallest id of a report's duplicate group, so both ends of a pair land in the same half."""
    seen, todo = {report}, [report]
    while todo:
        for other in partners.get(todo.pop(), ()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return min(seen)


@dataclass
class Scored:
    report: str
    is_duplicate: bool
    best: float
    best_is_partner: bool
    partner_rank: int | None  # 1-based rank of the first partner, None if beyond the pool


def score_all(data: Labelled, weights: Sequence[float] = DEFAULT_WEIGHTS, depth: int = 10) -> list[Scored]:
    space = Space(data.docs)
    n = len(data.docs)
    keys = [d.key for d in data.docs]
    from rapidfuzz import fuzz

    out = []
    word_sim = (space.word @ space.word.T).tocsr()
    char_sim = (space.char @ space.char.T).tocsr()
    for i, key in enumerate(keys):
        word = word_sim[i].toarray().ravel()
        char = char_sim[i].toarray().ravel()
        base = weights[0] * word + weights[1] * char
        base[i] = -1
        # The subject ratio only matters near the top: rescore the 200 best by text.
        top = np.argpartition(-base, 200)[:200]
        subj = np.array([fuzz.token_set_ratio(data.docs[i].subject, data.docs[j].subject) / 100 for j in top])
        total = base[top] + weights[2] * subj
        order = top[np.argsort(-total)]
        best_score = float(np.max(total))
        ranked = [keys[j] for j in order[:depth]]
        partners = data.partners.get(key, set())
        rank = next((r + 1 for r, k in enumerate(ranked) if k in partners), None)
        out.append(Scored(key, bool(partners), best_score, ranked[0] in partners, rank))
    assert len(out) == n
    return out


def score_all_stored(data: Labelled, depth: int = 10) -> list[Scored]:
    """`score_all` through the production path (`vectors.py`): an IDF snapshot fitted on the reports,
    stored (encoded, float16) full and short vectors, the short-vector index giving `RETRIEVE`
    candidates, `rerank` with the full vectors and the subject ratio."""
    from . import vectors

    docs = data.docs
    snapshot = vectors.Snapshot.fit(docs)
    full = vectors.vectorise(docs, snapshot)
    full = vectors.decode_many(vectors.encode_all(full))
    short = vectors.decode_many(vectors.encode_all(vectors.truncate(full)))
    index = vectors.Index(list(range(len(docs))), short)
    subjects = [d.subject for d in docs]
    out = []
    for i, doc in enumerate(docs):
        mask = np.ones(len(docs), dtype=bool)
        mask[i] = False
        keys = [k for k, _ in index.top(short[i], vectors.RETRIEVE, mask)]
        matches = vectors.rerank(full[i], doc.subject, keys, full[keys], [subjects[k] for k in keys])
        ranked = [docs[m.key].key for m in matches[:depth]]
        partners = data.partners.get(doc.key, set())
        rank = next((r + 1 for r, k in enumerate(ranked) if k in partners), None)
        best = matches[0].score if matches else 0.0
        out.append(Scored(doc.key, bool(partners), best, bool(ranked) and ranked[0] in partners, rank))
    return out


def recall_at(scored: Iterable[Scored], k: int) -> float:
    dups = [s for s in scored if s.is_duplicate]
    return sum(1 for s in dups if s.partner_rank is not None and s.partner_rank <= k) / max(len(dups), 1)


def detection(scored: Sequence[Scored], threshold: float) -> tuple[float, float, float]:
    """(precision, recall, false-alarm rate) when the best match is suggested for a score ≥ threshold.

    Precision and recall are over the reports labelled duplicate (is the suggestion shown, and does it
    name a labelled partner?); the false-alarm rate is the share of the other reports that get a
    suggestion at all — an upper bound, since the labels are incomplete (Hadoop has many reports that
    are near-copies of each other for different branches without being marked duplicate)."""
    dups = [s for s in scored if s.is_duplicate]
    flagged = [s for s in dups if s.best >= threshold]
    correct = sum(1 for s in flagged if s.best_is_partner)
    precision = correct / len(flagged) if flagged else 1.0
    others = [s for s in scored if not s.is_duplicate]
    alarms = sum(1 for s in others if s.best >= threshold) / max(len(others), 1)
    return precision, correct / max(len(dups), 1), alarms


def split(data: Labelled, scored: Sequence[Scored]) -> dict[str, list[Scored]]:
    parts: dict[str, list[Scored]] = {"tune": [], "test": []}
    for s in scored:
        parts[half(group_key(s.report, data.partners))].append(s)
    return parts


def best_threshold(scored: Sequence[Scored], min_precision: float = 0.8) -> float:
    """The lowest threshold whose precision on `scored` reaches `min_precision` (most recall)."""
    for t in np.arange(0.10, 0.95, 0.01):
        precision, recall, _ = detection(scored, float(t))
        if recall and precision >= min_precision:
            return round(float(t), 2)
    return 0.95
