"""Periodic insights work, run by `casework worker`'s scheduler."""

from datetime import timedelta

from django.conf import settings

from casework.core import scheduler

from . import clustering, findings, issues, spikes, vectorising

conf = settings.CASEWORK
scheduler.register("insights-cluster", timedelta(seconds=conf["CLUSTER_JOB_SECONDS"]), clustering.cluster_job)
scheduler.register(
    "insights-vectorise", timedelta(seconds=conf["VECTOR_JOB_SECONDS"]), vectorising.vectorise_pending
)
scheduler.register("insights-spikes", timedelta(seconds=conf["SPIKE_JOB_SECONDS"]), spikes.detect_today)
scheduler.register(
    "insights-issue-outbox", timedelta(seconds=conf["ISSUE_OUTBOX_SECONDS"]), issues.deliver_due
)
scheduler.register("insights-findings", timedelta(seconds=conf["FINDINGS_JOB_SECONDS"]), findings.run_daily)
