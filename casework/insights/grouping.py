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
                text, _ = vectors.row_dots(batch.full[top], batch.full[i])
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


def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return ENGLISH_STOP_WORDS


def _idf(term: str, snapshot) -> float:
    from sklearn.utils import murmurhash3_32

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
