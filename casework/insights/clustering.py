"""The clustering job: recent cases grouped incrementally (similarity.assign_clusters).

Each run takes the cases opened within `CLUSTER_WINDOW_HOURS` that are in no cluster yet (oldest first, at
most `CLUSTER_BATCH`) and compares each with the clustered cases of the same window and the new ones before
it: it joins the cluster of the most similar one when the score reaches `CLUSTER_THRESHOLD`, else founds a
cluster. Existing clusters keep their members and ids. The decisions are written by one door
(`services.clusters_apply`), which also proposes new members to the problem a cluster became and raises
the "possible incident" alert once per cluster.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from casework.cases.models import Case
from casework.core import clock

from .models import ClusterMember
from .similarity import Doc, assign_clusters


def cluster_recent(now=None) -> dict:
    from .services import clusters_apply

    conf = settings.CASEWORK
    now = now or clock.now()
    since = now - timedelta(hours=conf["CLUSTER_WINDOW_HOURS"])
    new = list(
        Case.objects.filter(created_at__gte=since, merged_into__isnull=True, cluster_membership__isnull=True)
        .select_related("team__lead")
        .order_by("created_at", "id")[: conf["CLUSTER_BATCH"]]
    )
    if not new:
        return {"assigned": 0, "clusters": 0, "proposed": 0, "alerts": 0}
    members = list(
        ClusterMember.objects.filter(case_created_at__gte=since)
        .select_related("case")
        .order_by("-case_created_at")[: conf["CLUSTER_POOL"]]
    )
    clustered = [(Doc(m.case_id, m.case.subject, m.case.description[:2000]), m.cluster_id) for m in members]
    docs = [Doc(c.pk, c.subject, c.description[:2000]) for c in new]
    assignments = assign_clusters(clustered, docs, threshold=conf["CLUSTER_THRESHOLD"])
    cases = {c.pk: c for c in new}
    cases.update({m.case_id: m.case for m in members})
    return clusters_apply(assignments=assignments, cases=cases, url=_problems_url())


def _problems_url() -> str:
    from django.urls import reverse

    return settings.BASE_URL + reverse("insights:problems")
