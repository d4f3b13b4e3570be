"""The clustering job: recent cases grouped incrementally over their stored vectors (`grouping.assign`).

Each run takes the cases opened since `now − CLUSTER_WINDOW_HOURS` (or `since`, for a catch-up over an
existing install: `casework insights-cluster --days N`) that are in no cluster yet, oldest first,
`CLUSTER_BATCH` at a time, and compares each with the cases created within `CLUSTER_WINDOW_HOURS` before
it (the clustered ones, at most `CLUSTER_POOL`, and the new ones before it): it joins the cluster of the
most similar one when the score reaches `CLUSTER_THRESHOLD`, else founds a cluster. Existing clusters
keep their members and ids. Each batch is one write by one door (`services.clusters_apply`), which also
proposes new members to the problem a cluster became and raises the "possible incident" alert once per
cluster. Batches go on until none is left or `budget_s` is spent (the next run carries on: the job,
`cluster_job`, says `"backlog"` and runs again within seconds).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from django.conf import settings

from casework.cases.models import Case
from casework.core import clock
from casework.core.budget import StepBudget

from . import grouping, vectorising
from .models import ClusterMember

EXPLAIN_CHARS = 300


def cluster_recent(now=None, *, since=None, budget_s: float | None = None, batch: int | None = None) -> dict:
    from .services import clusters_apply

    conf = settings.CASEWORK
    now = now or clock.now()
    window = timedelta(hours=conf["CLUSTER_WINDOW_HOURS"])
    since = since or now - window
    batch = batch or conf["CLUSTER_BATCH"]
    steps = StepBudget(budget_s)  # the run's budget counts from here (the space, then the batches)
    space = vectorising.ensure_space()
    totals = {"assigned": 0, "clusters": 0, "proposed": 0, "alerts": 0}
    backlog = False
    url = _problems_url()
    # Across the batches of a long run: the window's cases and their vectors, read once.
    known: dict[int, Case] = {}
    blobs: dict[int, tuple[bytes, bytes]] = {}
    fields = ("id", "reference", "subject", "description", "created_at")
    new: list[Case] = []
    while True:
        # Another batch only if one as long as the longest so far still fits in the budget.
        if not steps.fits():
            # The last batch was full: there may be more; the scheduler runs the job again within seconds.
            backlog = len(new) == batch
            break
        with steps.step():
            new = list(
                Case.objects.filter(
                    created_at__gte=since, merged_into__isnull=True, cluster_membership__isnull=True
                )
                .only(*fields)
                .order_by("created_at", "id")[:batch]
            )
            if not new:
                break
            lo = new[0].created_at - window
            members = list(
                ClusterMember.objects.filter(case_created_at__gte=lo, case_created_at__lte=new[-1].created_at)
                .order_by("-case_created_at")
                .values_list("case_id", "cluster_id")[: conf["CLUSTER_POOL"]]
            )
            members.reverse()
            unknown = [pk for pk, _ in members if pk not in known]
            for start in range(0, len(unknown), 5000):
                known.update(Case.objects.only(*fields).in_bulk(unknown[start : start + 5000]))
            rows = [(known[pk], cl) for pk, cl in members if pk in known] + [(c, None) for c in new]
            full, short = vectorising.matrices([c for c, _ in rows], space, cache=blobs)
            assignments = grouping.assign(
                grouping.Batch(
                    keys=[c.pk for c, _ in rows],
                    times=np.asarray([c.created_at.timestamp() for c, _ in rows]),
                    clusters=[cl for _, cl in rows],
                    subjects=[c.subject or "" for c, _ in rows],
                    texts=[f"{c.subject} {(c.description or '')[:EXPLAIN_CHARS]}" for c, _ in rows],
                    short=short,
                    full=full,
                ),
                threshold=conf["CLUSTER_THRESHOLD"],
                window=window.total_seconds(),
                snapshot=space.snapshot,
            )
            cases = {c.pk: c for c, _ in rows}
            result = clusters_apply(
                assignments=assignments,
                cases=cases,
                url=url,
                snapshot=space.snapshot,
                now=now,
                window_clusters=dict(members),
            )
            # Keep what the next batch's window still needs.
            horizon = new[-1].created_at - window
            known = {pk: c for pk, c in cases.items() if c.created_at >= horizon}
            blobs = {pk: b for pk, b in blobs.items() if pk in known}
            for key in totals:
                totals[key] += result[key]
    return {**totals, "backlog": backlog}


def cluster_job() -> dict:
    """The `insights-cluster` job: at most `CLUSTER_JOB_BUDGET_SECONDS` of batches per run (a catch-up,
    e.g. the first run on an install with days of unclustered cases, drains over runs a few seconds
    apart; `casework insights-cluster` runs without a budget)."""
    return cluster_recent(budget_s=settings.CASEWORK["CLUSTER_JOB_BUDGET_SECONDS"])


def _problems_url() -> str:
    from django.urls import reverse

    return settings.BASE_URL + reverse("insights:problems")
