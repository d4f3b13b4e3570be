"""Periodic triage work, run by `casework worker`'s scheduler."""

from datetime import timedelta

from django.conf import settings

from casework.core import scheduler

from . import alerts, services, training

scheduler.register("triage-untriaged-alerts", timedelta(minutes=1), alerts.alert_untriaged)
scheduler.register(
    "triage-scheduled-rules",
    timedelta(seconds=settings.CASEWORK["SCHEDULED_RULES_SECONDS"]),
    services.run_scheduled_rules,
)
# Retraining reads and fits outside any transaction and swaps the model file atomically (training.py).
scheduler.register(
    "triage-retrain",
    timedelta(hours=settings.CASEWORK["TRIAGE_RETRAIN_HOURS"]),
    training.retrain_if_needed,
)
