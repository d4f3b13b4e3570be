"""Stored case vectors: the pure engine (vectors.py, grouping.py) and its adapter (vectorising.py)."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
import time_machine
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from casework.cases.status import Status
from casework.core import clock
from casework.insights import duplicates, grouping, vectorising, vectors
from casework.insights.models import CaseVector, DuplicateSuggestion, VectorSpace
from casework.insights.similarity import Doc
from casework.testing.factories import CustomerFactory, open_case

EXPORT = Doc(1, "CSV export crashes", "Exporting the report to CSV fails with error 500 since this morning.")
EXPORT_AGAIN = Doc(2, "Export to CSV fails", "The CSV export of my report gives error 500.")
PASSWORD = Doc(3, "Password reset mail never arrives", "I asked for a password reset twice, no mail.")
INVOICE = Doc(4, "Invoice address wrong", "Our invoice shows the old company address.")
DOCS = [EXPORT, EXPORT_AGAIN, PASSWORD, INVOICE]


def _space(docs=DOCS):
    snapshot = vectors.Snapshot.fit(docs)
    full = vectors.vectorise(docs, snapshot)
    return snapshot, full


def test_a_stored_dot_product_is_the_weighted_word_and_char_cosine():
    _, full = _space()
    # A vector with itself: 0.45 + 0.35 (both halves are unit vectors scaled by √weight).
    assert math.isclose((full[0] @ full[0].T).toarray()[0, 0], 0.80, abs_tol=1e-5)
    # Against scikit-learn's own TF-IDF with the same IDF (fitted on the same docs): the same cosine,
    # up to hashing collisions (none in four short texts).
    word = TfidfVectorizer(
        ngram_range=(1, 2), sublinear_tf=True, stop_words="english", token_pattern=r"(?u)\b\w\w+\b"
    )
    w = word.fit_transform([vectors.texts(d)[0] for d in DOCS])
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    c = char.fit_transform([vectors.texts(d)[1] for d in DOCS])
    expected = 0.45 * (w[0] @ w[1].T).toarray()[0, 0] + 0.35 * (c[0] @ c[1].T).toarray()[0, 0]
    text, word_part = vectors.row_dots(full[1], full[0])
    assert math.isclose(text[0], expected, abs_tol=1e-4)
    assert math.isclose(word_part[0] / 0.45, (w[0] @ w[1].T).toarray()[0, 0], abs_tol=1e-4)


def test_encoding_round_trips_within_float16():
    _, full = _space()
    back = vectors.decode_many(vectors.encode_all(full))
    assert (back.indices == full.indices).all()
    assert np.allclose(back.data, full.data, atol=1e-3)
    assert vectors.decode_many([b""]).shape == (1, vectors.DIM)


def test_snapshot_round_trips():
    snapshot, _ = _space()
    again = vectors.Snapshot.from_bytes(snapshot.to_bytes(), snapshot.n_docs, 7)
    assert np.array_equal(again.df, snapshot.df) and again.version == 7
    assert np.allclose(again.idf, snapshot.idf)
    empty = vectors.Snapshot.empty()
    assert (empty.idf == 1.0).all()


def test_truncation_keeps_the_heaviest_columns_of_each_half():
    _, full = _space()
    short = vectors.truncate(full, top_word=3, top_char=5)
    for r in range(short.shape[0]):
        cols = short[r].indices
        assert (cols < vectors.HALF).sum() <= 3 and (cols >= vectors.HALF).sum() <= 5
        kept = set(cols)
        row = full[r]
        dropped = [
            v for c, v in zip(row.indices, row.data, strict=True) if c not in kept and c < vectors.HALF
        ]
        heaviest_kept = [
            v for c, v in zip(row.indices, row.data, strict=True) if c in kept and c < vectors.HALF
        ]
        assert not dropped or max(dropped) <= min(heaviest_kept) + 1e-7


def test_rerank_finds_the_same_problem_in_other_words_and_explains_it():
    snapshot, full = _space()
    short = vectors.truncate(full)
    index = vectors.Index([d.key for d in DOCS], short)
    mask = np.array([d.key != 2 for d in DOCS])
    top = index.top(short[1], 10, mask)
    assert top[0][0] == 1 and 2 not in [k for k, _ in top]
    rows = [k - 1 for k, _ in top]
    matches = vectors.rerank(
        full[1], EXPORT_AGAIN.subject, [k for k, _ in top], full[rows], [DOCS[r].subject for r in rows]
    )
    assert matches[0].key == 1 and matches[0].score > matches[-1].score
    assert matches[0].score == pytest.approx(
        0.45 * matches[0].word + 0.35 * matches[0].char + 0.2 * matches[0].subject
    )
    shared = vectors.shared_terms(EXPORT_AGAIN, EXPORT, snapshot)
    assert "csv" in shared and "export" in shared
    assert vectors.rerank(full[1], "x", [], full[:0], []) == []


def test_the_index_grows_replaces_and_folds():
    _, full = _space()
    index = vectors.Index([1, 2], full[:2], created=np.array([1.0, 2.0]))
    index.add([3], full[2:3], created=np.array([3.0]))
    assert len(index) == 3 and list(index.all_keys()) == [1, 2, 3]
    # a re-vectorised case replaces its row: the old one never comes back
    index.add([1], full[3:4], created=np.array([4.0]))
    assert len(index) == 3
    assert next(k for k, _ in index.top(full[3], 10)) == 1
    assert index.scores(full[0])[0][0] == -1.0
    index.fold()
    assert index.tail.shape[0] == 0 and list(index.all_keys()) == [1, 2, 3, 1]
    assert list(index.meta["created"]) == [1.0, 2.0, 3.0, 4.0]
    assert [k for k, _ in index.top(full[2], 1)] == [3]


@hsettings(max_examples=30, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=60), min_size=2, max_size=6))
def test_scores_stay_between_zero_and_the_weights(texts):
    docs = [Doc(i, t[:20], t) for i, t in enumerate(texts)]
    _, full = _space(docs)
    text, word = vectors.row_dots(full, full[0])
    assert (text >= -1e-6).all() and (text <= 0.8 + 1e-4).all()
    assert (word <= 0.45 + 1e-4).all()


def _batch(docs, clusters, times):
    snapshot, full = _space(docs)
    return snapshot, grouping.Batch(
        keys=[d.key for d in docs],
        times=np.asarray(times, dtype=float),
        clusters=clusters,
        subjects=[d.subject for d in docs],
        texts=[f"{d.subject} {d.body}" for d in docs],
        short=vectors.truncate(full),
        full=full,
    )


def test_new_cases_join_existing_clusters_or_found_their_own():
    docs = [EXPORT, EXPORT_AGAIN, PASSWORD, Doc(5, "Password reset mail missing", "no reset mail")]
    snapshot, batch = _batch(docs, [77, None, None, None], [0, 10, 20, 30])
    out = {a.key: a for a in grouping.assign(batch, threshold=0.3, window=3600, snapshot=snapshot)}
    assert out[2].cluster == 77 and out[2].matched == 1 and "csv" in out[2].shared
    assert out[3].cluster == ("new", 3) and out[3].matched is None
    # a new case can join a cluster founded earlier in the same batch
    assert out[5].cluster == ("new", 3) and out[5].matched == 3
    assert grouping.assign(_batch([EXPORT], [77], [0])[1], threshold=0.3, window=60, snapshot=snapshot) == []


def test_a_case_only_joins_cases_within_the_window_before_it():
    snapshot, batch = _batch([EXPORT, EXPORT_AGAIN], [77, None], [0, 7200])
    [a] = grouping.assign(batch, threshold=0.3, window=3600, snapshot=snapshot)
    assert a.cluster == ("new", 2)


def test_label_names_what_a_cluster_is_about():
    snapshot, _ = _space()
    assert "csv" in grouping.label([EXPORT.subject, EXPORT_AGAIN.subject], snapshot)
    assert grouping.label([], snapshot) == ""


# --- the adapter -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_process_cache():
    vectorising.forget()
    yield
    vectorising.forget()


@pytest.mark.django_db
def test_the_job_vectorises_every_case_and_a_refit_makes_them_stale(settings):
    cases = [open_case(subject=d.subject, description=d.body, customer=CustomerFactory()) for d in DOCS]
    result = vectorising.vectorise_pending(budget_s=100)
    assert result["vectorised"] == 4
    space = vectorising.current_space()
    assert CaseVector.objects.filter(space_id=space.pk).count() == 4
    assert vectorising.vectorise_pending()["vectorised"] == 0
    assert len(vectorising.index()) == 4
    # A refit: every vector is stale and done again, newest first, in batches.
    new = vectorising.refit()
    assert new.pk != space.pk and VectorSpace.objects.count() == 2
    assert vectorising.vectorise_pending(batch=3, budget_s=0)["vectorised"] == 3
    assert set(CaseVector.objects.filter(space_id=new.pk).values_list("case_id", flat=True)) == {
        c.pk for c in cases[1:]
    }
    assert vectorising.vectorise_pending(batch=3)["vectorised"] == 1
    assert len(vectorising.index()) == 4


@pytest.mark.django_db
def test_the_snapshot_is_refitted_when_the_cases_have_more_than_doubled(settings):
    settings.CASEWORK = {**settings.CASEWORK, "VECTOR_FIT_SAMPLE": 1000}
    for d in DOCS:
        open_case(subject=d.subject, description=d.body, customer=CustomerFactory())
    space = vectorising.ensure_space()
    assert space.row.n_docs == 4
    assert not vectorising.refit_due(space)  # fewer than 2 × max(fitted, 50) cases
    space.row.n_docs = 1
    assert not vectorising.refit_due(space)


@pytest.mark.django_db
def test_a_refit_is_made_in_steps_and_the_older_snapshot_serves_until_it_is_complete(monkeypatch, settings):
    """A fit of VECTOR_FIT_SAMPLE cases at once took 4.4 s (10,000 cases): the job now hashes FIT_STEP
    cases a step, saves where it is, and answers "backlog" until the fit is done — with the very
    frequencies a fit at once gives."""
    settings.CASEWORK = {**settings.CASEWORK, "VECTOR_FIT_SAMPLE": 1000}
    monkeypatch.setattr(vectorising, "FIRST_FIT", 1)
    monkeypatch.setattr(vectorising, "FIT_STEP", 1)
    cases = [open_case(subject=d.subject, description=d.body, customer=CustomerFactory()) for d in DOCS]
    first = vectorising.ensure_space()
    assert first.row.n_docs == 1  # the first fit at once covers at most FIRST_FIT cases
    monkeypatch.setattr(vectorising, "refit_due", lambda space: space.row.n_docs < len(DOCS))
    # One case a run (a budget of 0 allows one step), then a run that finds no case left below.
    runs = [vectorising.vectorise_pending(budget_s=0) for _ in DOCS]
    assert [r["fitting"] for r in runs] == [True] * len(DOCS) and all(r["backlog"] for r in runs)
    assert vectorising.current_space().pk == first.pk  # still current while the fit goes on
    pending = VectorSpace.objects.get(ready=False)
    assert pending.n_docs == len(DOCS) and pending.fit_below == cases[0].pk
    done = vectorising.vectorise_pending(budget_s=0)
    assert done["refitted"] is True and "fitting" not in done
    space = vectorising.current_space()
    assert space.pk == pending.pk and space.row.n_docs == len(DOCS)
    at_once = vectors.Snapshot.fit([Doc(c.pk, c.subject, c.description) for c in cases])
    assert np.array_equal(space.snapshot.df, at_once.df)
    assert np.array_equal(vectorising.current_space().snapshot.df, at_once.df)  # as stored, too
    assert not vectorising.fitting()


@pytest.mark.django_db
def test_a_refit_at_once_drops_a_fit_in_steps(settings):
    for d in DOCS:
        open_case(subject=d.subject, description=d.body, customer=CustomerFactory())
    old = vectorising.ensure_space()
    VectorSpace.objects.create(
        token="pending", n_docs=0, df=vectors.Snapshot.empty().to_bytes(), created_at=clock.now(), ready=False
    )
    assert vectorising.fitting() and vectorising.current_space().pk == old.pk
    new = vectorising.refit()
    assert not vectorising.fitting() and vectorising.current_space().pk == new.pk


@pytest.mark.django_db
def test_old_closed_cases_of_others_are_not_candidates_but_own_open_ones_are(customer):
    old = clock.now() - timedelta(days=90)
    with time_machine.travel(old, tick=False):
        other_closed = open_case(subject=EXPORT.subject, description=EXPORT.body, customer=CustomerFactory())
        own_open = open_case(subject=EXPORT.subject, description=EXPORT.body, customer=customer)
    from casework.cases.models import Case

    Case.objects.filter(pk=other_closed.pk).update(status=Status.CLOSED)
    repeat = open_case(subject=EXPORT_AGAIN.subject, description=EXPORT_AGAIN.body, customer=customer)
    duplicates.suggest_for(repeat.pk)
    assert list(DuplicateSuggestion.objects.filter(case=repeat).values_list("candidate_id", flat=True)) == [
        own_open.pk
    ]


@pytest.mark.django_db
def test_the_job_walks_from_its_cursor_in_bounded_runs_that_say_when_a_backlog_is_left(
    settings, django_assert_max_num_queries
):
    """The backfill keeps its place on the snapshot's row: a run never walks the cases already done
    (at 1,000,000 cases each query walked every vectorised case first), and it returns `backlog` until
    none is left, so the scheduler runs the next batch within seconds."""
    cases = [open_case(subject=d.subject, description=d.body, customer=CustomerFactory()) for d in DOCS]
    CaseVector.objects.all().delete()
    first = vectorising.vectorise_pending(batch=2, budget_s=0)
    assert first["vectorised"] == 2 and first["backlog"] is True
    row = VectorSpace.objects.get()
    assert row.head_id == cases[-1].pk and row.backfill_below == cases[2].pk
    second = vectorising.vectorise_pending(batch=2, budget_s=0)
    assert second["vectorised"] == 2
    assert vectorising.vectorise_pending(batch=2, budget_s=0) == {
        "vectorised": 0,
        "space": row.pk,
        "refitted": False,
        "backlog": False,
    }
    assert CaseVector.objects.count() == 4
    # A case opened later (its vector lost) is found by the head cursor, by a bounded query count.
    late = open_case(subject="Printer on fire", description="Smoke.", customer=CustomerFactory())
    CaseVector.objects.filter(case=late).delete()
    with django_assert_max_num_queries(12):
        assert vectorising.vectorise_pending(batch=2, budget_s=0)["vectorised"] == 1
