"""Stored case vectors (`vectors.py`) in the database, and the in-memory index a worker searches.

- **Snapshot** (`VectorSpace`): document frequencies over the `VECTOR_FIT_SAMPLE` most recent cases. The
  first one is fitted when first needed (on at most FIRST_FIT of the newest cases; none → every column
  weighs the same);
  a new one is fitted when the cases have more than doubled since (`refit_due`) — by the job, in steps
  (`fit_step`), while the older one stays current — or at once by `casework insights-vectorise
  --refit`. Vectors of an older snapshot are re-vectorised in batches.
- **Vectors** (`CaseVector`): written by the duplicate task for the cases it looks at (the case that just
  opened) and by the `insights-vectorise` job for every case without a vector of the current snapshot
  (newest first, `VECTOR_BATCH` per transaction, for at most `VECTOR_JOB_BUDGET_SECONDS` per run). They
  are derived data like the search index, not decisions: no timeline event, rewritten at will.
- **Index**: a worker process loads the short vectors of the current snapshot once (~2 s per 100,000
  cases) and then only the rows written since (`id > last`): one query per lookup.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q

from casework.cases.models import Case
from casework.core import clock
from casework.core.budget import StepBudget

from . import vectors
from .models import CaseVector, VectorSpace
from .similarity import Doc


def doc_of(case: Case) -> Doc:
    return Doc(case.pk, case.subject or "", case.description or "")


@dataclass
class Space:
    row: VectorSpace
    snapshot: vectors.Snapshot

    @property
    def pk(self) -> int:
        return self.row.pk


_lock = threading.RLock()
_spaces: dict[int, Space] = {}


# A refit hashes its cases in steps of FIT_STEP (~0.4 ms of n-gram hashing a case on the development VM):
# the whole sample at once took 4.4 s of one run (10,000 cases). The `insights-vectorise` job makes a fit
# in steps within its time budget (`fit_step`) while the previous snapshot stays current.
FIT_STEP = 500
# An install's first snapshot is fitted at once when first needed, on at most FIRST_FIT of the newest
# cases (a new install has a few; one that imported a history would otherwise hash the whole sample in
# whichever request or job asked first); `refit_due` then has the job fit the full sample in steps.
FIRST_FIT = 1000


def current_space() -> Space | None:
    """The newest snapshot (one query; its frequencies are read once per process)."""
    row = VectorSpace.objects.filter(ready=True).order_by("-id").defer("df").first()
    if row is None:
        return None
    with _lock:
        space = _spaces.get(row.token)
        if space is None:
            full = VectorSpace.objects.get(pk=row.pk)
            snapshot = vectors.Snapshot.from_bytes(bytes(full.df), full.n_docs, full.pk)
            space = _spaces[row.token] = Space(full, snapshot)
        return space


def refit(*, sample: int | None = None) -> Space:
    """Fit a new snapshot on the most recent cases at once; every vector of an older one becomes stale.
    (A fit in steps that was under way is dropped: this one is newer.)"""
    sample = sample or settings.CASEWORK["VECTOR_FIT_SAMPLE"]
    VectorSpace.objects.filter(ready=False).delete()
    rows = Case.objects.order_by("-id").values_list("id", "subject", "description")[:sample]
    docs = [Doc(pk, subject or "", description or "") for pk, subject, description in rows]
    snapshot = vectors.Snapshot.fit(docs)
    row = VectorSpace.objects.create(
        token=uuid.uuid4().hex, n_docs=snapshot.n_docs, df=snapshot.to_bytes(), created_at=clock.now()
    )
    snapshot.version = row.pk
    with _lock:
        _spaces.clear()
        _spaces[row.token] = Space(row, snapshot)
        return _spaces[row.token]


def ensure_space() -> Space:
    return current_space() or refit(sample=min(FIRST_FIT, settings.CASEWORK["VECTOR_FIT_SAMPLE"]))


def fitting() -> bool:
    """Is a fit in steps under way?"""
    return VectorSpace.objects.filter(ready=False).exists()


def fit_step(*, budget_s: float, started: float | None = None, sample: int | None = None) -> Space | None:
    """Go on with the fit in steps (or begin one): the newest `sample` cases, FIT_STEP at a time, each
    step saved on the row (df so far, `fit_below`), another step only while one as long as the longest
    so far fits in `budget_s` (at least one a call). Returns the new current snapshot when the fit is
    complete, None while it goes on."""
    sample = sample or settings.CASEWORK["VECTOR_FIT_SAMPLE"]
    row = VectorSpace.objects.filter(ready=False).order_by("-id").first()
    if row is None:
        top = Case.objects.aggregate(m=Max("id"))["m"] or 0
        row = VectorSpace.objects.create(
            token=uuid.uuid4().hex,
            n_docs=0,
            df=vectors.Snapshot.empty().to_bytes(),
            created_at=clock.now(),
            ready=False,
            fit_below=top + 1,
        )
    snapshot = vectors.Snapshot.from_bytes(bytes(row.df), row.n_docs, row.pk)
    steps, done = StepBudget(budget_s, started=started), snapshot.n_docs >= sample
    while not done:
        if not steps.fits():
            return None
        with steps.step():
            want = min(FIT_STEP, sample - snapshot.n_docs)
            rows = list(
                Case.objects.filter(id__lt=row.fit_below)
                .order_by("-id")
                .values_list("id", "subject", "description")[:want]
            )
            snapshot.add([Doc(pk, subject or "", description or "") for pk, subject, description in rows])
            if rows:
                row.fit_below = rows[-1][0]
            done = len(rows) < want or snapshot.n_docs >= sample
            VectorSpace.objects.filter(pk=row.pk).update(
                df=snapshot.to_bytes(), n_docs=snapshot.n_docs, fit_below=row.fit_below, ready=done
            )
    row.n_docs, row.ready = snapshot.n_docs, True
    with _lock:
        _spaces.clear()
        _spaces[row.token] = Space(row, snapshot)
        return _spaces[row.token]


def refit_due(space: Space) -> bool:
    """While fewer cases than the sample were fitted on: when the cases have more than doubled."""
    fitted = space.row.n_docs
    if fitted >= settings.CASEWORK["VECTOR_FIT_SAMPLE"]:
        return False
    return Case.objects.count() > 2 * max(fitted, 50)


def vectorise_cases(cases: Sequence[Case], space: Space) -> tuple:
    """Compute and store the vectors of `cases` (replacing older ones); returns (full, short) matrices."""
    full = vectors.vectorise([doc_of(c) for c in cases], space.snapshot)
    short = vectors.truncate(full)
    now = clock.now()
    rows = [
        CaseVector(
            case_id=c.pk,
            space_id=space.pk,
            full=vectors.encode(full, n),
            short=vectors.encode(short, n),
            created_at=now,
        )
        for n, c in enumerate(cases)
    ]
    with transaction.atomic():
        CaseVector.objects.filter(case_id__in=[c.pk for c in cases]).delete()
        # Two workers vectorising the same case at once (PostgreSQL) write the same vector: the second
        # insert is skipped instead of failing the task.
        CaseVector.objects.bulk_create(rows, ignore_conflicts=True)
    return full, short


def missing_from(index: vectors.Index, case_ids) -> list[int]:
    """Those of `case_ids` the index has no row for (not vectorised in its snapshot yet)."""
    return [pk for pk in case_ids if pk not in index.position]


def stale(space: Space):
    """Cases without a vector of `space` (newest first)."""
    return Case.objects.filter(
        Q(insights_vector__isnull=True) | ~Q(insights_vector__space_id=space.pk)
    ).order_by("-id")


# Ids looked at per query of the job: a bounded walk (at most this many probes of the vector table) even
# where every case already has its vector, as on an install vectorised before the cursors existed.
SCAN_IDS = 20000


def _vectorise_batch(qs, space: Space, batch: int) -> list[int]:
    """Vectorise the first `batch` cases of `qs` (stale ones, newest first); their ids."""
    cases = list(qs.only("id", "subject", "description")[:batch])
    if cases:
        vectorise_cases(cases, space)
    return [c.pk for c in cases]


def vectorise_pending(*, batch: int | None = None, budget_s: float | None = None) -> dict:
    """The `insights-vectorise` job: vectorise cases without a current vector in batches, until none is
    left or the time budget is spent; `"backlog": True` when some are left, so the scheduler runs the
    next batch soon (each run stays short: `VECTOR_JOB_BUDGET_SECONDS`).

    Two cursors on the snapshot's row keep every query bounded (at most `SCAN_IDS` ids) whatever the
    number of cases: the head (cases created since the backfill began, walked upwards) and the backfill
    (downwards from `backfill_below`, newest first). Each batch is one transaction, then its cursor
    moves."""
    conf = settings.CASEWORK
    batch = batch or conf["VECTOR_BATCH"]
    budget_s = conf["VECTOR_JOB_BUDGET_SECONDS"] if budget_s is None else budget_s
    started = time.monotonic()
    space = ensure_space()
    refitted = False
    if fitting() or refit_due(space):
        fitted = fit_step(budget_s=budget_s, started=started)
        if fitted is None:  # the fit goes on in the next run; the current snapshot stays
            return {"vectorised": 0, "space": space.pk, "refitted": False, "fitting": True, "backlog": True}
        space, refitted = fitted, True
    row = VectorSpace.objects.only("id", "head_id", "backfill_below").get(pk=space.pk)
    top = Case.objects.aggregate(m=Max("id"))["m"] or 0
    if row.head_id is None:
        row.head_id, row.backfill_below = top, top + 1
        VectorSpace.objects.filter(pk=row.pk).update(head_id=top, backfill_below=top + 1)
    done = 0
    # Every run vectorises at least one batch, whatever its budget (the fit's steps spent part of it);
    # another one only while a batch as long as the longest so far still fits.
    steps = StepBudget(budget_s, started=started)
    # New cases first (the duplicate task has usually vectorised them already: a short walk).
    while row.head_id < top and steps.fits():
        upto = min(row.head_id + SCAN_IDS, top)
        with steps.step():
            ids = _vectorise_batch(stale(space).filter(id__gt=row.head_id, id__lte=upto), space, batch)
        done += len(ids)
        if len(ids) < batch:
            row.head_id = upto
            VectorSpace.objects.filter(pk=row.pk).update(head_id=upto)
    while row.backfill_below > 1 and steps.fits():
        lo = max(row.backfill_below - SCAN_IDS, 1)
        with steps.step():
            ids = _vectorise_batch(stale(space).filter(id__lt=row.backfill_below, id__gte=lo), space, batch)
        done += len(ids)
        row.backfill_below = min(ids) if len(ids) == batch else lo
        VectorSpace.objects.filter(pk=row.pk).update(backfill_below=row.backfill_below)
    backlog = row.head_id < top or row.backfill_below > 1
    return {"vectorised": done, "space": space.pk, "refitted": refitted, "backlog": backlog}


def vectors_of(case_ids: Sequence[int], space: Space) -> dict[int, tuple]:
    """{case id: (full row, short row)} of the stored current vectors of `case_ids`."""
    rows = CaseVector.objects.filter(case_id__in=list(case_ids)).values_list(
        "case_id", "space_id", "full", "short"
    )
    out = {}
    for case_id, space_id, full, short in rows:
        if space_id != space.pk:
            continue
        f, s = vectors.decode_many([bytes(full), bytes(short)])
        out[case_id] = (f, s)
    return out


def ensure_vectors(cases: Sequence[Case], space: Space) -> dict[int, tuple]:
    """The current vectors of `cases`, computing (and storing) the missing ones."""
    have = vectors_of([c.pk for c in cases], space)
    missing = [c for c in cases if c.pk not in have]
    if missing:
        full, short = vectorise_cases(missing, space)
        for n, c in enumerate(missing):
            have[c.pk] = (full[n], short[n])
    return have


def matrices(
    cases: Sequence[Case], space: Space, cache: dict[int, tuple[bytes, bytes]] | None = None
) -> tuple:
    """(full, short) CSR matrices of the current vectors of `cases`, one row each in their order; the
    missing ones are computed and stored first. `cache` (case id → the two blobs) spares reading the
    same rows again in the next batch of a long run."""
    ids = [c.pk for c in cases]
    blobs: dict[int, tuple[bytes, bytes]] = cache if cache is not None else {}
    wanted = [pk for pk in ids if pk not in blobs]
    for start in range(0, len(wanted), 5000):
        rows = CaseVector.objects.filter(case_id__in=wanted[start : start + 5000]).values_list(
            "case_id", "space_id", "full", "short"
        )
        blobs.update({pk: (bytes(f), bytes(s)) for pk, sp, f, s in rows if sp == space.pk})
    missing = [c for c in cases if c.pk not in blobs]
    if missing:
        full, short = vectorise_cases(missing, space)
        for n, c in enumerate(missing):
            blobs[c.pk] = (vectors.encode(full, n), vectors.encode(short, n))
    return (
        vectors.decode_many([blobs[pk][0] for pk in ids]),
        vectors.decode_many([blobs[pk][1] for pk in ids]),
    )


# --- the in-memory index -------------------------------------------------------------------------


class _Cache:
    space_id: str | None = None  # the snapshot's token
    last_id: int = 0
    index: vectors.Index | None = None


_cache = _Cache()


def _epoch(dt) -> float:
    return dt.timestamp() if dt is not None else 0.0


def _load(space: Space, after: int, chunk: int = 20000):
    """Rows of `space` with id > `after`: (last id, keys, short matrix, meta arrays)."""
    qs = (
        CaseVector.objects.filter(space_id=space.pk, id__gt=after)
        .order_by("id")
        .values_list(
            "id", "case_id", "short", "case__created_at", "case__customer_id", "case__organisation_id"
        )
    )
    last, keys, blobs, created, customer, org = after, [], [], [], [], []
    for pk, case_id, short, created_at, customer_id, org_id in qs.iterator(chunk_size=chunk):
        last = pk
        keys.append(case_id)
        blobs.append(bytes(short))
        created.append(_epoch(created_at))
        customer.append(customer_id or -1)
        org.append(org_id or -1)
    meta = {
        "created": np.asarray(created, dtype=np.float64),
        "customer": np.asarray(customer, dtype=np.int64),
        "organisation": np.asarray(org, dtype=np.int64),
    }
    return last, keys, vectors.decode_many(blobs), meta


def index(space: Space | None = None) -> vectors.Index:
    """The index of the current snapshot's short vectors, brought up to date (one query when nothing
    changed; the rows written since the last call otherwise; everything when the snapshot changed)."""
    space = space or ensure_space()
    with _lock:
        newest = CaseVector.objects.filter(space_id=space.pk).aggregate(m=Max("id"))["m"] or 0
        if _cache.space_id != space.row.token or _cache.index is None or newest < _cache.last_id:
            # A new snapshot, or rows gone (a rolled-back write): start again.
            last, keys, matrix, meta = _load(space, 0)
            _cache.index = vectors.Index(keys, matrix, **meta)
            _cache.space_id, _cache.last_id = space.row.token, last
        else:
            last, keys, matrix, meta = _load(space, _cache.last_id)
            if keys:
                _cache.index.add(keys, matrix, **meta)
                _cache.last_id = last
        return _cache.index


def forget() -> None:
    """Drop the process's index and snapshots (tests, after a refit elsewhere nothing is needed)."""
    with _lock:
        _cache.space_id, _cache.last_id, _cache.index = None, 0, None
        _spaces.clear()
