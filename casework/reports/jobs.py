"""Scheduled report mails: checked hourly by the scheduler; each report goes out once per period
(outbox keys), after CASEWORK_REPORTS_DAILY_HOUR local time (services.due_periods)."""

from datetime import timedelta

from casework.core.scheduler import register

from .services import send_due_reports

register("reports-mail", timedelta(hours=1), send_due_reports)
