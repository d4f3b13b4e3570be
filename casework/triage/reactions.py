"""The `triage` stage of the reaction pipeline (`cases/pipeline.py`).

    opened          score the first customer message, decide category and priority (policy rules, else the
                    learned model when confident, else the keyword rules: `decision.py`), run the rest of the
                    `case_opened` rules, and move New → Triaged when the case was classified
                    (`CASEWORK_TRIAGE_AUTO_TRIAGED`); when the model was unsure, tag it `needs-triage` with
                    its top two guesses (the triager's queue); when nothing matched, say so
    category/priority changed by a person
                    record "triage corrected" (counted on the lead's page; the case becomes a label)
    message_added   a customer message: score it, run the `message_received` rules
    status_changed  run the `status_changed` rules
    sla             an at-risk or breached clock: run the `sla_at_risk` / `sla_breached` rules

Runs inside the write, on its in-memory cases; the rules' changes are door calls that cost no statements
of their own. The rule set is compiled once and cached (services.active_rules), the tags of a batch's
existing cases are read with one query.
"""

from __future__ import annotations

from django.conf import settings

from casework.cases import services as case_services
from casework.cases.models import CaseEvent, EventKind, MessageKind
from casework.cases.services.unit_of_work import Work
from casework.cases.status import Status

from . import services, verdicts

SLA_TRIGGERS = {"at_risk": "sla_at_risk", "breached": "sla_breached"}


def react(work: Work, events: list[CaseEvent]) -> None:
    work.load_tags({event.case_id for event in events})
    for event in events:
        if event.kind == EventKind.OPENED:
            triage_opened(work, event)
        elif event.kind == EventKind.MESSAGE_ADDED:
            message = event.message
            if message is not None and message.kind == MessageKind.CUSTOMER:
                services.score_customer_message(message=message)
                services.run_rules(case=work.case(event.case_id), trigger="message_received", message=message)
        elif event.kind == EventKind.STATUS_CHANGED:
            services.run_rules(case=work.case(event.case_id), trigger="status_changed")
        elif event.kind in (EventKind.CATEGORY_CHANGED, EventKind.PRIORITY_CHANGED):
            if event.actor_id and not (event.data or {}).get("triage_verdict"):
                verdicts.record_correction(case=work.case(event.case_id), event=event)
        elif event.kind == EventKind.SLA:
            # Contract with the SLA app: its events carry data {"metric", "state", "due_at", "policy"}.
            trigger = SLA_TRIGGERS.get((event.data or {}).get("state"))
            if trigger:
                services.run_rules(case=work.case(event.case_id), trigger=trigger)


def triage_opened(work: Work, event: CaseEvent) -> None:
    case = work.case(event.case_id)
    # The opened event carries the message the case was opened with; only without one (a split opens an
    # empty case and moves a message in) is there a query.
    first = event.message
    if first is None or first.kind != MessageKind.CUSTOMER:
        first = case.messages.filter(kind=MessageKind.CUSTOMER).order_by("id").first()
    if first is not None:
        services.score_customer_message(message=first)
    explicit = frozenset(event.data.get("explicit", []))
    result = services.run_rules(
        case=case, trigger="case_opened", message=first, explicit=explicit, use_model=True
    )
    decision = result.decision
    unsure = [f for f in (decision.unsure if decision else []) if f not in explicit]
    if unsure and case.status == Status.NEW:
        verdicts.mark_needs_human_triage(case=case, decision=decision, fields=unsure)
        return
    if decision is not None and not result.outcomes:
        if (
            "category" in result.changed
            and settings.CASEWORK["TRIAGE_AUTO_TRIAGED"]
            and case.status == Status.NEW
        ):
            case_services.case_transition(
                case=case,
                to=Status.TRIAGED,
                actor="triage",
                reason=f"Classified by the model: {decision.explanations['category']}",
                data={"model": decision.explanations},
            )
        return
    if not result.outcomes:
        case_services.case_record_system_event(
            case=case,
            kind=EventKind.NOTE,
            actor="triage",
            reason="No triage rule matched; the case waits in New for the triager on shift",
            data={"triage": "no_rule_matched"},
        )
        return
    if not settings.CASEWORK["TRIAGE_AUTO_TRIAGED"] or case.status != Status.NEW:
        return
    classified = "category" in result.changed or ("category" in explicit and case.category_id)
    if decision is not None and decision.sources.get("category") in ("rule", "model"):
        classified = classified or decision.values.get("category") == (
            case.category.slug if case.category_id else None
        )
    if classified:
        names = ", ".join(repr(o.rule_name) for o in result.outcomes)
        by = f"rules {names}"
        if decision is not None and decision.sources.get("category") == "model":
            by = f"the model ({decision.explanations['category']}) and rules {names}"
        case_services.case_transition(
            case=case,
            to=Status.TRIAGED,
            actor="triage",
            reason=f"Classified by {by}",
            data={"rules": [o.rule_name for o in result.outcomes]},
        )
