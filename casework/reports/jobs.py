"""Periodic report work in `casework worker`:

- `reports-mail` (hourly): the scheduled report mails; each goes out once per period (outbox keys), after
  CASEWORK_REPORTS_DAILY_HOUR local time (services.due_periods).
- `reports-warm` (every 15 minutes): the dashboard's weekly charts read the weeks that ended from the
  shared reports cache; this job puts them there before the first manager of the day opens the board, so
  nobody waits for twelve weeks of clocks to be read (~2 s at a million cases on SQLite). At rest every
  week is already kept and a run reads nothing from the case tables."""

from datetime import timedelta

from casework.core.scheduler import register

from .dashboard import warm
from .services import send_due_reports

register("reports-mail", timedelta(hours=1), send_due_reports)
register("reports-warm", timedelta(minutes=15), warm)
