"""Stored case vectors: the pure engine that makes duplicate lookup and clustering fast at 100,000 cases.

The similarity of `similarity.py` (0.45 · word cosine + 0.35 · char cosine + 0.20 · subject ratio) used to
fit two TF-IDF vocabularies on every candidate pool, every time: ~0.6–0.9 s per lookup against 200 cases.
Here the text part is computed once per case and stored:

    word   word 1–2-grams (English stop words dropped) of subject ×2 + body[:4000], hashed into 2^20 columns
    char   character 3–5-grams inside word boundaries of subject ×2 + body[:600], hashed into 2^20 more

Both use sublinear tf and the IDF of a **snapshot** (`Snapshot`: document frequencies of every hashed
column over the cases it was fitted on, versioned). Each half is L2-normalised and scaled by the square
root of its weight, then the two are concatenated: the dot product of two stored vectors *is*
0.45 · word cosine + 0.35 · char cosine. A vector is stored as (column uint32, value float16) pairs: a
few hundred for a support case, ~4 kB for a long bug report.

Two stages, because the full vectors of 100,000 cases do not belong in a worker's memory:
  1. `Index` holds *short* vectors (`truncate`: the `TOP_WORD` + `TOP_CHAR` heaviest columns — the rare,
     telling n-grams; common ones weigh little after IDF) as a column-major sparse matrix, i.e. an
     inverted index: a query's products with every row touch only the posting lists of its columns.
     It returns the `RETRIEVE` best candidates.
  2. `rerank` scores those exactly with their full vectors (read from the database) and the subject
     ratio (rapidfuzz) for the `SHORTLIST` best by text, as `similarity.Space.scores` does.
Measured on the Hadoop reports: the same recall@1/@5/@10 as fitting TF-IDF on all of them (README.md).

Hashing needs no vocabulary (a new word gets a column without a refit); a collision of two n-grams in
2^20 columns is rare and costs a little precision, never a crash. A refit (a new snapshot version) is
needed only when the IDF drifts: `insights.vectorising` re-vectorises in batches.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz

from .similarity import CHAR_CHARS, DEFAULT_WEIGHTS, MAX_CHARS, SHORTLIST, SUBJECT_REPEAT, Doc, Match

HALF = 1 << 20
DIM = 2 * HALF
# Kept columns per half (measured on the Hadoop reports, README.md: recall unchanged from the full vectors).
TOP_WORD = 64
TOP_CHAR = 96
# Candidates the index hands to the exact rerank (measured: 200 keeps recall@10 of the full vectors).
RETRIEVE = 200
# float16 values: ~3 significant digits, a stored cosine is off by < 0.002.
_IDX = np.dtype("<u4")
_VAL = np.dtype("<f2")


def _word_hasher():
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        n_features=HALF,
        ngram_range=(1, 2),
        stop_words="english",
        token_pattern=r"(?u)\b\w\w+\b",
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    )


def _char_hasher():
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        n_features=HALF,
        analyzer="char_wb",
        ngram_range=(3, 5),
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    )


def texts(doc: Doc) -> tuple[str, str]:
    subject = " ".join([doc.subject] * SUBJECT_REPEAT)
    return f"{subject} {doc.body[:MAX_CHARS]}", f"{subject} {doc.body[:CHAR_CHARS]}"


def counts(docs: Sequence[Doc]):
    """Raw hashed term counts, one CSR row per doc, word columns then char columns."""
    from scipy.sparse import hstack

    pairs = [texts(d) for d in docs]
    word = _word_hasher().transform([p[0] for p in pairs])
    char = _char_hasher().transform([p[1] for p in pairs])
    return hstack([word, char], format="csr", dtype=np.float32)


@dataclass
class Snapshot:
    """Document frequencies per hashed column over `n_docs` cases: the IDF every stored vector of this
    `version` was computed with. The IDF is scikit-learn's smoothed one: ln((1 + n) / (1 + df)) + 1."""

    n_docs: int
    df: np.ndarray  # float32, DIM long
    version: int = 0

    @classmethod
    def fit(cls, docs: Sequence[Doc], version: int = 0, batch: int = 2000) -> Snapshot:
        snapshot = cls.empty(version)
        for start in range(0, len(docs), batch):
            snapshot.add(docs[start : start + batch])
        return snapshot

    def add(self, docs: Sequence[Doc]) -> None:
        """Count `docs` in (a fit made in steps: `vectorising.fit_step`)."""
        if docs:
            np.add.at(self.df, counts(docs).indices, 1.0)
            self.n_docs += len(docs)
            self._idf = None

    @classmethod
    def empty(cls, version: int = 0) -> Snapshot:
        """No cases yet: every column weighs the same (idf 1) until the first refit."""
        return cls(0, np.zeros(DIM, dtype=np.float32), version)

    @property
    def idf(self) -> np.ndarray:
        cached = getattr(self, "_idf", None)
        if cached is None:
            cached = (np.log((1.0 + self.n_docs) / (1.0 + self.df)) + 1.0).astype(np.float32)
            self._idf = cached
        return cached

    def idf_of(self, column: int) -> float:
        return float(self.idf[column])

    def to_bytes(self) -> bytes:
        cols = np.flatnonzero(self.df).astype(_IDX)
        vals = self.df[cols].astype("<u4")
        return zlib.compress(np.uint32(len(cols)).tobytes() + cols.tobytes() + vals.tobytes(), 6)

    @classmethod
    def from_bytes(cls, data: bytes, n_docs: int, version: int) -> Snapshot:
        raw = zlib.decompress(data)
        n = int(np.frombuffer(raw[:4], dtype="<u4")[0])
        cols = np.frombuffer(raw[4 : 4 + 4 * n], dtype=_IDX)
        vals = np.frombuffer(raw[4 + 4 * n :], dtype="<u4")
        df = np.zeros(DIM, dtype=np.float32)
        df[cols] = vals
        return cls(n_docs, df, version)


def weigh(m, snapshot: Snapshot, weights=DEFAULT_WEIGHTS):
    """Raw counts → stored full vectors: sublinear tf × idf, each half L2-normalised × √its weight."""
    from sklearn.preprocessing import normalize

    m = m.tocsr(copy=True)
    m.data = (1.0 + np.log(m.data)) * snapshot.idf[m.indices]
    word, char = normalize(m[:, :HALF]), normalize(m[:, HALF:])
    from scipy.sparse import hstack

    out = hstack([word * math.sqrt(weights[0]), char * math.sqrt(weights[1])], format="csr", dtype=np.float32)
    out.sort_indices()  # stored sorted: the pair products search them
    return out


def truncate(full, top_word: int = TOP_WORD, top_char: int = TOP_CHAR):
    """The short vectors of the index: each row's `top_word` heaviest word and `top_char` heaviest char
    columns, not re-normalised (a short·short product underestimates the cosine; it only picks
    candidates, the full vectors score them)."""
    from scipy.sparse import csr_matrix

    full = full.tocsr()
    indptr = [0]
    indices: list[np.ndarray] = []
    data: list[np.ndarray] = []
    for r in range(full.shape[0]):
        lo, hi = full.indptr[r], full.indptr[r + 1]
        cols, vals = full.indices[lo:hi], full.data[lo:hi]
        keep_parts = []
        for half, top in ((cols < HALF, top_word), (cols >= HALF, top_char)):
            where = np.flatnonzero(half)
            if len(where) > top:
                where = where[np.argpartition(-vals[where], top)[:top]]
            keep_parts.append(where)
        keep = np.sort(np.concatenate(keep_parts))
        indices.append(cols[keep])
        data.append(vals[keep])
        indptr.append(indptr[-1] + len(keep))
    return csr_matrix(
        (np.concatenate(data), np.concatenate(indices), np.asarray(indptr)),
        shape=full.shape,
        dtype=np.float32,
    )


def vectorise(docs: Sequence[Doc], snapshot: Snapshot, weights=DEFAULT_WEIGHTS):
    """The stored full vectors of `docs` (a CSR matrix, one row per doc)."""
    from scipy.sparse import csr_matrix

    if not docs:
        return csr_matrix((0, DIM), dtype=np.float32)
    return weigh(counts(docs), snapshot, weights)


def encode(matrix, row: int) -> bytes:
    lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
    return matrix.indices[lo:hi].astype(_IDX).tobytes() + matrix.data[lo:hi].astype(_VAL).tobytes()


def encode_all(matrix) -> list[bytes]:
    return [encode(matrix, r) for r in range(matrix.shape[0])]


def decode_many(blobs: Sequence[bytes]):
    """A CSR matrix of stored vectors, one row per blob (in order)."""
    from scipy.sparse import csr_matrix

    sizes = np.fromiter((len(b) // 6 for b in blobs), dtype=np.int64, count=len(blobs))
    indptr = np.zeros(len(blobs) + 1, dtype=np.int64)
    np.cumsum(sizes, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    data = np.empty(int(indptr[-1]), dtype=np.float32)
    for r, b in enumerate(blobs):
        n = sizes[r]
        if not n:
            continue
        lo = indptr[r]
        indices[lo : lo + n] = np.frombuffer(b, dtype=_IDX, count=n)
        data[lo : lo + n] = np.frombuffer(b, dtype=_VAL, count=n, offset=4 * n)
    return csr_matrix((data, indices, indptr), shape=(len(blobs), DIM))


class Index:
    """Stored (short) vectors of many cases, searchable by dot product, with a few per-row facts (`meta`:
    numpy arrays, e.g. created time, customer) to narrow a search without the database. Rows are kept
    column-major (`postings`: one row per hashed column listing the cases that have it — an inverted
    index), so a query's products touch only its own columns' lists. New rows go to a small row-major
    tail that is folded in when it grows: a lookup never rebuilds 100,000 rows."""

    TAIL = 4096

    def __init__(self, keys: Sequence[int] = (), matrix=None, **meta: np.ndarray) -> None:
        from scipy.sparse import csr_matrix

        self.keys = np.asarray(keys, dtype=np.int64)
        rows = matrix.tocsr() if matrix is not None else csr_matrix((0, DIM), dtype=np.float32)
        self.postings = rows.T.tocsr()
        self.tail_keys = np.zeros(0, dtype=np.int64)
        self.tail = csr_matrix((0, DIM), dtype=np.float32)
        self.alive = np.ones(len(self.keys), dtype=bool)
        self.meta = {name: np.asarray(values) for name, values in meta.items()}
        self.position: dict[int, int] = {int(k): i for i, k in enumerate(self.keys)}

    def __len__(self) -> int:
        return int(self.alive.sum())

    def add(self, keys: Sequence[int], matrix, **meta: np.ndarray) -> None:
        from scipy.sparse import vstack

        if not len(keys):
            return
        for k in keys:  # a re-vectorised case replaces its old row
            old = self.position.get(int(k))
            if old is not None:
                self.alive[old] = False
        base = len(self.keys) + len(self.tail_keys)
        self.tail_keys = np.concatenate([self.tail_keys, np.asarray(keys, dtype=np.int64)])
        self.tail = vstack([self.tail, matrix.tocsr()], format="csr")
        self.alive = np.concatenate([self.alive, np.ones(len(keys), dtype=bool)])
        for name, values in meta.items():
            self.meta[name] = np.concatenate([self.meta[name], np.asarray(values)])
        for n, k in enumerate(keys):
            self.position[int(k)] = base + n
        if len(self.tail_keys) >= self.TAIL:
            self.fold()

    def fold(self) -> None:
        from scipy.sparse import hstack

        if not len(self.tail_keys):
            return
        self.keys = np.concatenate([self.keys, self.tail_keys])
        self.postings = hstack([self.postings, self.tail.T], format="csr")
        self.tail_keys = self.tail_keys[:0]
        self.tail = self.tail[:0]

    def all_keys(self) -> np.ndarray:
        return np.concatenate([self.keys, self.tail_keys])

    def scores(self, query) -> np.ndarray:
        """Dot products of `query` (one or more rows) with every row, dense: shape (queries, rows)."""
        query = query.tocsr()
        out = (query @ self.postings).toarray()
        if self.tail.shape[0]:
            out = np.hstack([out, (query @ self.tail.T).toarray()])
        out[:, ~self.alive] = -1.0
        return out

    def top(self, query, k: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The `k` best (key, score) for one query row with a positive score, best first; `mask` (a bool
        per row, in `all_keys()` order) limits the rows considered."""
        s = self.scores(query)[0]
        if mask is not None:
            s = np.where(mask, s, -1.0)
        k = min(k, len(s))
        if k <= 0:
            return []
        pick = np.argpartition(-s, k - 1)[:k] if len(s) > k else np.arange(len(s))
        pick = pick[np.argsort(-s[pick], kind="stable")]
        keys = self.all_keys()
        return [(int(keys[p]), float(s[p])) for p in pick if s[p] > 0]


def rerank(
    query_full,
    query_subject: str,
    keys: Sequence,
    full,
    subjects: Sequence[str],
    *,
    weights=DEFAULT_WEIGHTS,
    shortlist: int = SHORTLIST,
) -> list[Match]:
    """Exact scores of the candidates (`full`: their stored full vectors, one row each, in `keys`
    order) against the query, best first: the text part is one sparse product; the subject ratio
    (rapidfuzz) is computed for the `shortlist` best by text only, as in `similarity.Space.scores`."""
    if not len(keys):
        return []
    text, word_part = row_dots(full, query_full)
    order = np.argsort(-text, kind="stable")[:shortlist]
    out = []
    for j in order:
        subj = fuzz.token_set_ratio(query_subject, subjects[j]) / 100.0
        word = float(word_part[j]) / weights[0] if weights[0] else 0.0
        char = float(text[j] - word_part[j]) / weights[1] if weights[1] else 0.0
        out.append(Match(keys[j], float(text[j] + weights[2] * subj), word, char, subj))
    out.sort(key=lambda m: (-m.score, str(m.key)))
    return out


def row_dots(rows, query) -> tuple[np.ndarray, np.ndarray]:
    """Dot products of each row of `rows` with the one-row `query`, in total and over the word half.
    Each stored column is looked up among the query's few hundred sorted columns (measured: faster than
    a sparse product, which transposes a 2^21-row matrix, or a dense scatter, which misses the cache)."""
    rows = rows.tocsr()
    q = query.tocsr()
    q.sort_indices()
    if not q.nnz or not rows.nnz:
        zero = np.zeros(rows.shape[0], dtype=np.float64)
        return zero, zero.copy()
    pos = np.searchsorted(q.indices, rows.indices)
    pos[pos == len(q.indices)] = 0
    contrib = np.where(q.indices[pos] == rows.indices, rows.data.astype(np.float64) * q.data[pos], 0.0)
    row_of = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    total = np.bincount(row_of, weights=contrib, minlength=rows.shape[0])
    word = np.bincount(row_of, weights=np.where(rows.indices < HALF, contrib, 0.0), minlength=rows.shape[0])
    return total, word


def shared_terms(a: Doc, b: Doc, snapshot: Snapshot, limit: int = 8) -> tuple[str, ...]:
    """The weightiest word terms two docs share (tf · idf of both), for the explanation of a match."""
    from sklearn.utils import murmurhash3_32

    analyse = _word_hasher().build_analyzer()
    ta, tb = Counter(analyse(texts(a)[0])), Counter(analyse(texts(b)[0]))
    scored = []
    for term in ta.keys() & tb.keys():
        h = murmurhash3_32(term, seed=0)
        idf = snapshot.idf_of(abs(h) % HALF if h != -(2**31) else 0)
        scored.append(((1 + math.log(ta[term])) * (1 + math.log(tb[term])) * idf * idf, term))
    picked: list[str] = []
    for _, term in sorted(scored, key=lambda x: (-x[0], x[1])):
        words = set(term.split())
        # "dashboard loading" already says "loading": one phrase, not three near-copies.
        if any(words <= set(p.split()) or set(p.split()) <= words for p in picked):
            continue
        picked.append(term)
        if len(picked) == limit:
            break
    return tuple(picked)
