"""The triager on shift, and the alert about cases left New too long (set-based, with a watermark)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from casework.cases import services as case_services
from casework.cases.models import Case, CaseEvent, EventKind
from casework.cases.services.unit_of_work import unit_of_work
from casework.cases.status import Status

from .models import TriageShift

# --------------------------------------------------------------------------------------------------
# triager on shift and untriaged alerts
# --------------------------------------------------------------------------------------------------


def triagers_on_shift(at: datetime | None = None) -> list:
    at = at or timezone.now()
    shifts = TriageShift.objects.select_related("agent").filter(agent__is_active=True)
    seen, result = set(), []
    for shift in shifts:
        if shift.covers(at) and shift.agent_id not in seen:
            seen.add(shift.agent_id)
            result.append(shift.agent)
    return result


def untriaged_alert_minutes() -> int:
    return settings.CASEWORK["UNTRIAGED_ALERT_MINUTES"]


# How far the untriaged alerts have got: the creation time (epoch microseconds) of the newest case
# alerted. Each run reads only the cases created since (an index range of `case_status_created`), so
# cases that stay New after their alert are not looked at again every minute.
ALERT_WATERMARK = "triage-untriaged-alerted-up-to"
ALERT_BATCH = 200


def _alert_watermark() -> datetime | None:
    from casework.core.models import Counter

    value = Counter.objects.filter(name=ALERT_WATERMARK).values_list("value", flat=True).first()
    return None if value is None else datetime.fromtimestamp(value / 1_000_000, tz=UTC)


def _set_alert_watermark(at: datetime) -> None:
    from django.db.models.functions import Greatest

    from casework.core.models import Counter

    micros = int(at.timestamp() * 1_000_000)
    if not Counter.objects.filter(name=ALERT_WATERMARK).update(value=Greatest(F("value"), micros)):
        Counter.objects.create(name=ALERT_WATERMARK, value=micros)


def alert_untriaged(now: datetime | None = None, *, batch: int = ALERT_BATCH) -> int:
    """Tell the triager on shift about cases waiting in New longer than the threshold, once per case.

    Set-based and bounded by what is new: one query for the cases created since the last alert (at or
    after the watermark, so cases created in the same microsecond are not lost; the per-case "already
    alerted" check only runs on those), one for the triagers, one write for all the notes."""
    now = now or timezone.now()
    threshold = now - timedelta(minutes=untriaged_alert_minutes())
    candidates = Case.objects.filter(status=Status.NEW, created_at__lte=threshold)
    since = _alert_watermark()
    if since is not None:
        candidates = candidates.filter(created_at__gte=since)
    already = CaseEvent.objects.filter(case=OuterRef("pk"), kind=EventKind.NOTE, data__alert="untriaged")
    waiting = list(candidates.filter(~Exists(already)).order_by("created_at", "id")[:batch])
    if not waiting:
        return 0
    triagers = triagers_on_shift(now)
    names = ", ".join(t.get_full_name() or t.username for t in triagers) or "nobody (no triager on shift)"
    with unit_of_work("untriaged alerts"):
        case_services.case_record_system_events(
            events=[
                case_services.SystemEvent(
                    case=case,
                    kind=EventKind.NOTE,
                    reason=f"Waiting untriaged for {_minutes(now, case)} min; notified the triager on "
                    f"shift: {names}",
                    data={
                        "alert": "untriaged",
                        "notify": [t.username for t in triagers] or "team_lead",
                        "minutes": _minutes(now, case),
                    },
                )
                for case in waiting
            ],
            actor="triage",
        )
        _set_alert_watermark(waiting[-1].created_at)
    return len(waiting)


def _minutes(now: datetime, case: Case) -> int:
    return int((now - case.created_at).total_seconds() // 60)
