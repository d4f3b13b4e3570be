"""How alike two cases are, and why: the pure engine behind duplicate suggestions and clusters.

`rank(query, candidates)` scores each candidate against the query with three signals and a weighted sum:

    word     cosine of TF-IDF word unigrams + bigrams (sublinear tf, English stop words dropped)
    char     cosine of TF-IDF character 3–5-grams inside word boundaries (survives typos, plurals,
             "NullPointerException" vs "null pointer exception")
    subject  rapidfuzz token_set_ratio of the two subjects / 100 (word order and extra words forgiven)

The vectorisers are fitted on the pool being compared (the query plus its candidates, a few hundred
cases at most), so the IDF says what is rare *among the cases that could be duplicates*. The weights and
thresholds were chosen on the tuning half of the Hadoop duplicate reports and measured on the other half
(README.md, `bench/bench_insights.py`). Each match explains itself: the signals and the words the two
texts share that weigh the most.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rapidfuzz import fuzz

# scikit-learn (and scipy) load on first use, in the worker: a web process must not pay ~1 s and tens of
# MB for them at start (casework/triage/tests/test_learned_triage.py checks it for every app's jobs).

# Chosen on the tuning half of the Hadoop reports (README.md): the body carries most of the signal;
# character n-grams rescue reports worded differently; the subject ratio separates look-alike templates.
DEFAULT_WEIGHTS = (0.45, 0.35, 0.20)
# Subjects count twice: a report's title is its densest description.
SUBJECT_REPEAT = 2
MAX_CHARS = 4000
# Character n-grams are the slow part (a pure-Python analyser): they see the subject and the start of the
# body only. Measured on the Hadoop reports: recall@10 unchanged, ranking ~5x faster (README.md).
CHAR_CHARS = 600
SHORTLIST = 50


@dataclass(frozen=True)
class Doc:
    key: Any
    subject: str
    body: str = ""

    @property
    def text(self) -> str:
        return " ".join([self.subject] * SUBJECT_REPEAT + [self.body[:MAX_CHARS]])

    @property
    def short_text(self) -> str:
        return " ".join([self.subject] * SUBJECT_REPEAT + [self.body[:CHAR_CHARS]])


@dataclass(frozen=True)
class Match:
    key: Any
    score: float
    word: float
    char: float
    subject: float
    shared: tuple[str, ...] = field(default=())

    def why(self) -> str:
        words = ", ".join(self.shared[:6]) or "no distinctive words"
        return (
            f"shared words: {words}; text {self.word:.2f}, spelling {self.char:.2f}, "
            f"subject {self.subject:.2f}"
        )

    def as_data(self) -> dict:
        return {
            "score": round(self.score, 4),
            "word": round(self.word, 4),
            "char": round(self.char, 4),
            "subject": round(self.subject, 4),
            "shared": list(self.shared[:10]),
        }


def _vectorisers():
    from sklearn.feature_extraction.text import TfidfVectorizer

    word = TfidfVectorizer(
        ngram_range=(1, 2), sublinear_tf=True, stop_words="english", min_df=1, token_pattern=r"(?u)\b\w\w+\b"
    )
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=1)
    return word, char


class Space:
    """TF-IDF spaces fitted on a set of docs; rows are L2-normalised, so a dot product is a cosine."""

    def __init__(self, docs: Sequence[Doc]) -> None:
        from scipy.sparse import csr_matrix

        self.docs = list(docs)
        self.index = {doc.key: i for i, doc in enumerate(self.docs)}
        texts = [doc.text for doc in self.docs] or [""]
        short = [doc.short_text for doc in self.docs] or [""]
        self.word_vec, self.char_vec = _vectorisers()
        try:
            self.word = self.word_vec.fit_transform(texts).tocsr()
        except ValueError:  # only stop words or nothing at all
            self.word = csr_matrix((len(texts), 1))
            self.word_vec = None
        try:
            self.char = self.char_vec.fit_transform(short).tocsr()
        except ValueError:  # empty texts
            self.char = csr_matrix((len(texts), 1))
        self.terms = self.word_vec.get_feature_names_out() if self.word_vec is not None else np.array([])

    def scores(
        self, i: int, others: Sequence[int], weights=DEFAULT_WEIGHTS, shortlist: int | None = SHORTLIST
    ) -> list[Match]:
        """Matches of doc `i` against `others`. The subject ratio is computed only for the `shortlist`
        best by text (it can add at most its weight, so it reorders the top; measured: no recall lost)."""
        if not len(others):
            return []
        rows = np.asarray(others)
        word = (self.word[rows] @ self.word[i].T).toarray().ravel()
        char = (self.char[rows] @ self.char[i].T).toarray().ravel()
        if shortlist is not None and len(rows) > shortlist:
            base = weights[0] * word + weights[1] * char
            keep = np.argpartition(-base, shortlist)[:shortlist]
            rows, word, char = rows[keep], word[keep], char[keep]
        subject_i = self.docs[i].subject
        matches = []
        for n, j in enumerate(rows):
            subj = fuzz.token_set_ratio(subject_i, self.docs[j].subject) / 100.0
            score = weights[0] * word[n] + weights[1] * char[n] + weights[2] * subj
            matches.append(Match(self.docs[j].key, float(score), float(word[n]), float(char[n]), float(subj)))
        return matches

    def shared_terms(self, i: int, j: int, limit: int = 8) -> tuple[str, ...]:
        product = self.word[i].multiply(self.word[j]).tocoo()
        if not product.nnz:
            return ()
        picked: list[str] = []
        for k in np.argsort(-product.data):
            term = str(self.terms[product.col[k]])
            # "dashboard loading" already says "loading": one phrase, not three near-copies.
            if any(
                set(term.split()) <= set(p.split()) or set(p.split()) <= set(term.split()) for p in picked
            ):
                continue
            picked.append(term)
            if len(picked) == limit:
                break
        return tuple(picked)


def rank(
    query: Doc, candidates: Sequence[Doc], *, limit: int = 10, weights=DEFAULT_WEIGHTS, min_score: float = 0.0
) -> list[Match]:
    """The candidates most like `query`, best first, each with its signals and shared words."""
    candidates = [c for c in candidates if c.key != query.key]
    if not candidates:
        return []
    space = Space([query, *candidates])
    matches = space.scores(0, range(1, len(candidates) + 1), weights)
    best = sorted((m for m in matches if m.score >= min_score), key=lambda m: (-m.score, str(m.key)))[:limit]
    out = []
    for m in best:
        shared = space.shared_terms(0, space.index[m.key])
        out.append(Match(m.key, m.score, m.word, m.char, m.subject, shared))
    return out


@dataclass(frozen=True)
class Assignment:
    key: Any
    cluster: Any  # an existing cluster's id, or ("new", key of the case that founded it)
    score: float
    matched: Any  # the case it is most like (None when it founded a cluster)
    shared: tuple[str, ...] = ()


def assign_clusters(
    clustered: Sequence[tuple[Doc, Any]],
    new: Sequence[Doc],
    *,
    threshold: float,
    weights=DEFAULT_WEIGHTS,
) -> list[Assignment]:
    """Incremental single-link clustering: each new doc (in the given order) joins the cluster of the most
    similar doc seen so far — already clustered ones and the new ones before it — when that similarity
    reaches `threshold`, else founds a cluster of its own. Existing clusters never split or merge, so a
    cluster's id (and the problem a lead made of it) stays put."""
    if not new:
        return []
    docs = [d for d, _ in clustered] + list(new)
    space = Space(docs)
    cluster_of: dict[int, Any] = {i: c for i, (_, c) in enumerate(clustered)}
    out: list[Assignment] = []
    base = len(clustered)
    # The text similarities of every new doc with every doc, in two sparse products (not one per doc).
    new_rows = slice(base, len(docs))
    text = (
        weights[0] * (space.word[new_rows] @ space.word.T).toarray()
        + weights[1] * (space.char[new_rows] @ space.char.T).toarray()
    )
    for n in range(len(new)):
        i = base + n
        row = text[n, :i]
        best_j, best_score = None, -1.0
        if i:
            top = np.argpartition(-row, SHORTLIST)[:SHORTLIST] if i > SHORTLIST else np.arange(i)
            subject = docs[i].subject
            for j in top:
                score = row[j] + weights[2] * fuzz.token_set_ratio(subject, docs[j].subject) / 100.0
                if score > best_score:
                    best_j, best_score = int(j), float(score)
        if best_j is not None and best_score >= threshold:
            cluster_of[i] = cluster_of[best_j]
            out.append(
                Assignment(
                    new[n].key, cluster_of[i], best_score, docs[best_j].key, space.shared_terms(i, best_j)
                )
            )
        else:
            cluster_of[i] = ("new", new[n].key)
            out.append(Assignment(new[n].key, cluster_of[i], max(best_score, 0.0), None))
    return out


def label(docs: Sequence[Doc], limit: int = 4) -> str:
    """A few words that say what a group of cases is about: the highest summed TF-IDF word terms."""
    if not docs:
        return ""
    space = Space(docs)
    if space.word_vec is None:
        return docs[0].subject[:80]
    weights = np.asarray(space.word.sum(axis=0)).ravel()
    order = np.argsort(-weights)
    picked: list[str] = []
    for k in order:
        term = str(space.terms[k])
        if any(term in p or p in term for p in picked):
            continue
        picked.append(term)
        if len(picked) == limit:
            break
    return ", ".join(picked)
