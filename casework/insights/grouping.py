"""Incremental clustering over stored vectors (pure): which cluster each new case joins, and why.

Single link, as `similarity.assign_clusters`: each new case (in time order) joins the cluster of the
most similar case seen so far — clustered ones and the new ones before it — created within `window`
seconds before it, when the score reaches `threshold`; else it founds a cluster. Clusters never split
or merge, so a cluster's id (and the problem a lead made of it) stays put. The window is relative to
each case, so a catch-up run over months of cases groups each with its own recent past, as the job
running every few minutes would have.

Cost: one sparse product of the batch's short vectors with the batch and its window (`Batch.short`),
then per new case a numpy mask over that row for its `SHORTLIST` best; the exact scores of all those
pairs (full vectors) in a few element-wise sparse products; and the subject ratio of those few
(rapidfuzz). Measured in `bench/bench_insights.py`.
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
    shortlists = _shortlists(batch, new, window)
    text = _pair_dots(batch.full, shortlists)
    cluster_of = list(batch.clusters)
    out: list[Assignment] = []
    for i in new:
        best_j, best_score = None, -1.0
        for j, dot in zip(shortlists[i], text[i], strict=True):
            score = dot + weights[2] * fuzz.token_set_ratio(batch.subjects[i], batch.subjects[j]) / 100
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


def _shortlists(batch: Batch, new: list[int], window: float) -> dict[int, np.ndarray]:
    """For each new row, the `SHORTLIST` rows before it within the window that its short vector is most
    like (score > 0). Depends on the texts and times only, not on who joins which cluster, so the exact
    scores of every shortlist can be computed at once."""
    first = new[0]
    short_scores = (batch.short[first:] @ batch.short.T).toarray()
    out: dict[int, np.ndarray] = {}
    for i in new:
        row = short_scores[i - first, :i]
        row[batch.times[:i] < batch.times[i] - window] = -1.0
        m = min(SHORTLIST, i)
        top = np.argpartition(-row, m - 1)[:m] if i > m else np.arange(i)
        out[i] = top[row[top] > 0]
    return out


def _pair_dots(full, shortlists: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """The exact text score (dot product of full vectors) of every row with each row of its shortlist.
    Row i is scattered into a dense scratch vector once; its candidates' columns are gathered with one
    index array and summed per candidate with `add.reduceat` — a handful of numpy calls per case (a
    loop per candidate, or scipy row slicing, cost more than the arithmetic; measured on 100,000 cases)."""
    indptr, indices, data = full.indptr, full.indices, full.data
    scratch = np.zeros(full.shape[1], dtype=np.float64)
    out: dict[int, np.ndarray] = {}
    for i, top in shortlists.items():
        dots = np.zeros(len(top))
        lo, hi = indptr[i], indptr[i + 1]
        if len(top) and hi > lo:
            starts, lengths = indptr[top], indptr[top + 1] - indptr[top]
            total = int(lengths.sum())
            if total:
                offsets = np.cumsum(lengths) - lengths
                take = np.repeat(starts - offsets, lengths) + np.arange(total)
                scratch[indices[lo:hi]] = data[lo:hi]
                products = scratch[indices[take]] * data[take]
                scratch[indices[lo:hi]] = 0.0
                nonempty = lengths > 0
                dots[nonempty] = np.add.reduceat(products, offsets[nonempty])
        out[i] = dots
    return out


_STOP: frozenset[str] | None = None


def _stop_words() -> frozenset[str]:
    global _STOP
    if _STOP is None:
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        _STOP = frozenset(ENGLISH_STOP_WORDS)
    return _STOP


def _idf(term: str, snapshot) -> float:
    """The snapshot's IDF of a word's column, remembered per snapshot (a catch-up asks for the same
    words hundreds of thousands of times)."""
    cache = snapshot.__dict__.setdefault("_word_idf", {})
    value = cache.get(term)
    if value is None:
        from sklearn.utils import murmurhash3_32

        h = murmurhash3_32(term, seed=0)
        value = cache[term] = snapshot.idf_of(abs(h) % vectors.HALF if h != -(2**31) else 0)
    return value


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
