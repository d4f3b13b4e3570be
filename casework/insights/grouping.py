"""Incremental clustering over stored vectors (pure): which cluster each new case joins, and why.

Single link, as `similarity.assign_clusters`: each new case (in time order) joins the cluster of the
most similar case seen so far — clustered ones and the new ones before it — created within `window`
seconds before it, when the score reaches `threshold`; else it founds a cluster. Clusters never split
or merge, so a cluster's id (and the problem a lead made of it) stays put. The window is relative to
each case, so a catch-up run over months of cases groups each with its own recent past, as the job
running every few minutes would have.

Cost: one sparse product of the batch's short vectors with the batch and its window (`Batch.short`),
then per new case a numpy mask over that row, the exact score of its `SHORTLIST` best (full vectors,
`vectors.row_dots`) and the subject ratio of those few (rapidfuzz). Measured in `bench/bench_insights.py`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rapidfuzz import fuzz

from . import vectors
from .similarity import DEFAULT_WEIGHTS, Assignment

SHORTLIST = 10
WORD = re.compile(r"(?u)\b\w\w+\b")


@dataclass
class Batch:
    """Rows: the clustered cases of the window first (`clusters[i]` set), then the new ones in time order
    (`clusters[i]` None). `short`/`full`: CSR matrices of their stored vectors, same row order."""

    keys: Sequence[Any]
    times: np.ndarray  # epoch seconds
    clusters: list[Any]
    subjects: Sequence[str]
    texts: Sequence[str]  # subject + start of the body, for the shared words of the explanation
    short: Any
    full: Any


def assign(
    batch: Batch, *, threshold: float, window: float, snapshot, weights=DEFAULT_WEIGHTS
) -> list[Assignment]:
    n = len(batch.keys)
    new = [i for i in range(n) if batch.clusters[i] is None]
    if not new:
        return []
    first = new[0]
    short_scores = (batch.short[first:] @ batch.short.T).toarray() if first < n else np.zeros((0, n))
    cluster_of = list(batch.clusters)
    out: list[Assignment] = []
    for i in new:
        row = short_scores[i - first, :i].copy()
        row[batch.times[:i] < batch.times[i] - window] = -1.0
        best_j, best_score = None, -1.0
        if i:
            m = min(SHORTLIST, i)
            top = np.argpartition(-row, m - 1)[:m] if i > m else np.arange(i)
            top = top[row[top] > 0]
            if len(top):
                text = _pair_dots(batch.full, i, top)
                for t, j in enumerate(top):
                    score = (
                        text[t]
                        + weights[2] * fuzz.token_set_ratio(batch.subjects[i], batch.subjects[j]) / 100
                    )
                    if score > best_score:
                        best_j, best_score = int(j), float(score)
        if best_j is not None and best_score >= threshold:
            cluster_of[i] = cluster_of[best_j]
            shared = quick_shared(batch.texts[i], batch.texts[best_j], snapshot)
            out.append(Assignment(batch.keys[i], cluster_of[i], best_score, batch.keys[best_j], shared))
        else:
            cluster_of[i] = ("new", batch.keys[i])
            out.append(Assignment(batch.keys[i], cluster_of[i], max(best_score, 0.0), None))
    return out


def _pair_dots(full, i: int, rows: np.ndarray) -> np.ndarray:
    """Dot products of row `i` of a CSR matrix with its `rows`, on the raw arrays (slicing a scipy
    matrix per case cost more than the arithmetic; measured on 100,000 cases)."""
    lo, hi = full.indptr[i], full.indptr[i + 1]
    qi, qv = full.indices[lo:hi], full.data[lo:hi]
    out = np.zeros(len(rows))
    if not len(qi):
        return out
    for n, j in enumerate(rows):
        a, b = full.indptr[j], full.indptr[j + 1]
        idx = full.indices[a:b]
        pos = np.searchsorted(qi, idx)
        pos[pos == len(qi)] = 0
        hit = qi[pos] == idx
        out[n] = float(np.dot(full.data[a:b][hit], qv[pos[hit]]))
    return out


_STOP: frozenset[str] | None = None


def _stop_words() -> frozenset[str]:
    global _STOP
    if _STOP is None:
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        _STOP = frozenset(ENGLISH_STOP_WORDS)
    return _STOP


def _idf(term: str, snapshot) -> float:
    from sklearn.utils import murmurhash3_32  # loaded once by the first call; a dict lookup after

    h = murmurhash3_32(term, seed=0)
    return snapshot.idf_of(abs(h) % vectors.HALF if h != -(2**31) else 0)


def quick_shared(a: str, b: str, snapshot, limit: int = 6) -> tuple[str, ...]:
    """The rarest words two short texts share (by the snapshot's IDF): the explanation of a join, cheap
    enough for a catch-up over 100,000 cases (`vectors.shared_terms` also weighs bigrams and counts)."""
    stop = _stop_words()
    common = {w for w in WORD.findall(a.lower()) if w not in stop} & set(WORD.findall(b.lower()))
    return tuple(sorted(common, key=lambda w: (-_idf(w, snapshot), w))[:limit])


def label(subjects: Sequence[str], snapshot, limit: int = 4) -> str:
    """A few words that say what a cluster is about: the words in most of its subjects, rarer first."""
    stop = _stop_words()
    counts: Counter[str] = Counter()
    for s in subjects:
        counts.update({w for w in WORD.findall(s.lower()) if w not in stop and not w.isdigit()})
    if not counts:
        return subjects[0][:80] if subjects else ""
    ranked = sorted(counts, key=lambda w: (-counts[w] * math.log1p(_idf(w, snapshot)), w))
    return ", ".join(ranked[:limit])
