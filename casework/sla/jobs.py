"""The SLA sweep runs every CASEWORK_SLA_SWEEP_SECONDS (30 s by default) inside `casework worker`."""

from datetime import timedelta

from django.conf import settings

from casework.core.scheduler import register

from .sweep import sweep_job

register("sla-sweep", timedelta(seconds=settings.CASEWORK["SLA_SWEEP_SECONDS"]), sweep_job)
