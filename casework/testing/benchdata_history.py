"""The built-in generators of `casework bench-data` (casework/testing/benchdata.py): each batch of cases
gets its messages, timeline events, SLA clocks and escalations, in that order."""

from __future__ import annotations

from datetime import datetime, timedelta

from .benchdata import SLA_TARGETS, WORDS, Batch, register


@register("messages", order=10)
def _messages(batch: Batch) -> None:
    """The customer's opening message, the agent's reply, sometimes a follow-up and an internal note."""
    from casework.cases.models import Message

    fmt, rng = batch.fmt, batch.rng
    plan = []
    for c in batch.cases:
        plan.append((c, "customer", c.created_at, c.description))
        if c.first_response_at:
            plan.append(
                (c, "reply", c.first_response_at, "Thanks for reporting this; we are looking into it.")
            )
            if rng.random() < 0.5:
                follow = c.first_response_at + timedelta(hours=rng.uniform(0.5, 30))
                if follow < batch.now:
                    plan.append((c, "customer", follow, "Any news on this? " + rng.choice(WORDS)))
                    # Half the follow-ups get a second public reply (first-contact resolution < 100 %).
                    again = follow + timedelta(minutes=rng.uniform(10, 240))
                    if rng.random() < 0.5 and again < (c.resolved_at or batch.now):
                        plan.append((c, "reply", again, "Here is an update: " + rng.choice(WORDS)))
            if rng.random() < 0.25:
                plan.append((c, "note", c.first_response_at + timedelta(minutes=5), "Checked the logs."))
    ids = batch.ids(Message, len(plan))
    rows = []
    message_ids: dict[int, list[tuple[int, str, datetime]]] = {}
    for pk, (c, kind, at, body) in zip(ids, plan, strict=True):
        agent = kind in ("reply", "note")
        if agent:
            c.last_agent_message_at = max(c.last_agent_message_at or at, at)
        else:
            c.last_customer_message_at = max(c.last_customer_message_at or at, at)
        rows.append(
            (
                pk, c.id, kind, c.channel if not agent else "email", "outbound" if agent else "inbound",
                c.assignee_id if agent else None, None if agent else c.customer_id,
                c.subject, body, fmt.dt(at),
            )
        )  # fmt: skip
        message_ids.setdefault(c.id, []).append((pk, kind, at))
    batch.write(
        Message,
        rows,
        ["id", "case_id", "kind", "channel", "direction", "author_user_id", "author_customer_id", "subject",
         "body", "created_at"],
    )  # fmt: skip
    batch.scratch["messages"] = message_ids


@register("events", order=20)
def _events(batch: Batch) -> None:
    """The timeline: opened, a message_added per message, triage, assignment, status changes."""
    from casework.cases.models import CaseEvent

    fmt = batch.fmt
    js = fmt.js
    messages = batch.scratch.get("messages", {})
    plan = []
    # What the reactions write in the same transaction as the opening: a case left in New has triage's
    # "no rule matched" note, a triaged case nobody took has routing's "left in the queue" note. Without
    # them the doctor would take a million-case history for cases the reactions never saw.
    notes = []
    for c in batch.cases:
        plan.append((c.id, "opened", None, "customer", None, None, "", c.created_at, None))
        for pk, kind, at in messages.get(c.id, []):
            plan.append((c.id, "message_added", None, "", None, js(kind), "", at, pk))
        if c.status == "new":
            notes.append((c.id, "triage", NO_RULE, js({"triage": "no_rule_matched"}), c.created_at))
            continue
        if not c.assignee_id:
            data = {"routing": "no_candidate", "explanation": LEFT_IN_QUEUE}
            notes.append((c.id, "routing", LEFT_IN_QUEUE, js(data), c.created_at + timedelta(seconds=1)))
        triaged = c.created_at + timedelta(seconds=1)
        plan.append(
            (
                c.id,
                "status_changed",
                None,
                "triage",
                js("new"),
                js("triaged"),
                "Triage rules classified it",
                triaged,
                None,
            )
        )
        if c.assignee_id:
            plan.append(
                (
                    c.id,
                    "assigned",
                    None,
                    "routing",
                    None,
                    js(c.assignee_id),
                    "Least loaded agent with the skill",
                    triaged,
                    None,
                )
            )
        if c.first_response_at and c.status != "triaged":
            plan.append(
                (
                    c.id,
                    "status_changed",
                    c.assignee_id,
                    "",
                    js("triaged"),
                    js("in_progress"),
                    "",
                    c.first_response_at,
                    None,
                )
            )
        if c.resolved_at and c.reopen_count:
            # Resolved once half-way, reopened by the customer a third of the way after, resolved again.
            first_done = c.created_at + (c.resolved_at - c.created_at) / 2
            back = first_done + (c.resolved_at - first_done) / 3
            plan.append(
                (
                    c.id,
                    "status_changed",
                    c.assignee_id,
                    "",
                    js("in_progress"),
                    js("resolved"),
                    "",
                    first_done,
                    None,
                )
            )
            reason = "Customer replied"
            plan.append(
                (
                    c.id,
                    "status_changed",
                    None,
                    "customer",
                    js("resolved"),
                    js("in_progress"),
                    reason,
                    back,
                    None,
                )
            )
        if c.resolved_at:
            plan.append(
                (
                    c.id,
                    "status_changed",
                    c.assignee_id,
                    "",
                    js("in_progress"),
                    js("resolved"),
                    "",
                    c.resolved_at,
                    None,
                )
            )
        if c.closed_at:
            plan.append(
                (
                    c.id,
                    "status_changed",
                    None,
                    "system",
                    js("resolved"),
                    js("closed"),
                    "Closed after resolution",
                    c.closed_at,
                    None,
                )
            )
        if c.tier > 1:
            at = c.created_at + timedelta(hours=2)
            # The shape the door writes (cases.services.ownership.case_escalate): the timeline reads it.
            before = {"tier": 1, "team": None, "assignee": None}
            after = {"tier": c.tier, "team": None, "assignee": None}
            plan.append(
                (
                    c.id,
                    "escalated",
                    None,
                    "rule:Escalate",
                    js(before),
                    js(after),
                    "Escalated by rule",
                    at,
                    None,
                )
            )
    rows = [
        (case_id, kind, actor, label, old, new, reason, fmt.dt(at), msg)
        for case_id, kind, actor, label, old, new, reason, at, msg in plan
    ]
    batch.write(
        CaseEvent,
        rows,
        ["case_id", "kind", "actor_id", "actor_label", "old", "new", "reason", "created_at", "message_id"],
    )
    batch.write(
        CaseEvent,
        [(case_id, "note", label, reason, data, fmt.dt(at)) for case_id, label, reason, data, at in notes],
        ["case_id", "kind", "actor_label", "reason", "data", "created_at"],
    )


NO_RULE = "No triage rule matched; the case waits in New for the triager on shift"
LEFT_IN_QUEUE = "Left in the team queue: every agent with the skill is at capacity"


@register("sla", order=30)
def _sla(batch: Batch) -> None:
    """Two clocks per case (first response, resolution): met, breached, stopped, running or paused, with
    a ledger start each and a Breach row for every missed target."""
    from casework.sla.models import Breach, CaseClock, ClockLedgerEntry

    fmt, now, world = batch.fmt, batch.now, batch.world
    if world.policy is None:
        return
    policy_id, policy_name, calendar_id = world.policy
    clocks, breaches = [], []
    for c in batch.cases:
        tier_name = world.customer_tier.get(c.organisation_id, "") if c.organisation_id else ""
        for metric, target, done_at in (
            ("first_response", SLA_TARGETS[c.priority][0], c.first_response_at),
            ("resolution", SLA_TARGETS[c.priority][1], c.resolved_at),
        ):
            due = c.created_at + target
            lead = min(timedelta(minutes=30), target / 4)
            running_since = paused_since = stopped = breached_at = None
            if done_at is not None:
                state = "met" if done_at <= due else "breached"
                stopped = done_at
                if state == "breached":
                    breached_at = due
            elif c.status in ("resolved", "closed"):
                state, stopped = "stopped", c.closed_at or c.resolved_at
            elif c.status == "awaiting_client" and metric == "resolution":
                state, paused_since = "paused", c.last_agent_message_at or c.created_at
            elif due < now - timedelta(minutes=5):
                state, breached_at, running_since = "breached", due, c.created_at
            else:
                state, running_since = "running", c.created_at
            consumed = (stopped or paused_since or c.created_at) - c.created_at
            clocks.append(
                [c, metric, state, target, lead, consumed, running_since, paused_since, due, due - lead,
                 state != "running" or due - lead <= now, breached_at, stopped, tier_name]
            )  # fmt: skip
    ids = batch.ids(CaseClock, len(clocks))
    rows, ledger = [], []
    for pk, (
        c,
        metric,
        state,
        target,
        lead,
        consumed,
        running,
        paused,
        due,
        at_risk,
        notified,
        breached_at,
        stopped,
        tier_name,
    ) in zip(ids, clocks, strict=True):
        rows.append(
            (
                pk, c.id, metric, state, policy_id, policy_name, calendar_id, c.priority, tier_name,
                fmt.dur(target), fmt.dur(lead), fmt.dur(consumed), fmt.dt(c.created_at), fmt.dt(running),
                fmt.dt(paused), fmt.dt(due), fmt.dt(at_risk),
                fmt.b(notified), fmt.dt(breached_at), fmt.dt(stopped), fmt.dt(stopped or c.created_at),
            )
        )  # fmt: skip
        ledger.append(
            (pk, "start", fmt.dt(c.created_at), fmt.dt(due), fmt.dur(timedelta(0)), f"Policy {policy_name}")
        )
        if breached_at is not None:
            over = (stopped - due) if stopped else None
            breaches.append(
                (pk, c.id, metric, policy_name, c.priority, tier_name, fmt.dur(target), fmt.dt(due),
                 fmt.dt(breached_at), fmt.dt(breached_at + timedelta(minutes=1)), fmt.dt(stopped),
                 fmt.dur(over))
            )  # fmt: skip
    batch.write(
        CaseClock,
        rows,
        ["id", "case_id", "metric", "state", "policy_id", "policy_name", "calendar_id", "priority",
         "customer_tier", "target", "at_risk_lead", "consumed", "started_at", "running_since", "paused_since",
         "due_at", "at_risk_at", "at_risk_notified", "breached_at", "stopped_at", "updated_at"],
    )  # fmt: skip
    batch.write(ClockLedgerEntry, ledger, ["clock_id", "kind", "at", "due_after", "consumed", "reason"])
    batch.write(
        ClockLedgerEntry,
        [
            (b[0], "breached", b[8], b[7], b[6], "Target ran out", "sla")
            for b in breaches  # clock, …, target, due_at, breached_at: the ledger line of each breach
        ],
        ["clock_id", "kind", "at", "due_before", "consumed", "reason", "actor_label"],
    )
    batch.write(
        Breach,
        breaches,
        ["clock_id", "case_id", "metric", "policy_name", "priority", "customer_tier", "target", "due_at",
         "breached_at", "detected_at", "stopped_at", "duration"],
    )  # fmt: skip


@register("escalations", order=40)
def _escalations(batch: Batch) -> None:
    """Tier history: every triaged case enters tier 1; escalated ones move up."""
    from casework.routing.models import TierHistory

    fmt, world = batch.fmt, batch.world
    rows = []
    for c in batch.cases:
        if c.status == "new":
            continue
        start = c.created_at + timedelta(seconds=1)
        end = c.closed_at or c.resolved_at
        if c.tier == 1:
            rows.append(
                (
                    c.id,
                    1,
                    world.teams_by_tier[1],
                    c.assignee_id,
                    fmt.dt(start),
                    fmt.dt(end),
                    "triage",
                    "Routed",
                )
            )
            continue
        moved = c.created_at + timedelta(hours=2)
        rows.append((c.id, 1, world.teams_by_tier[1], None, fmt.dt(start), fmt.dt(moved), "triage", "Routed"))
        rows.append(
            (
                c.id,
                c.tier,
                world.teams_by_tier[c.tier],
                c.assignee_id,
                fmt.dt(moved),
                fmt.dt(end),
                "rule",
                "Escalated by rule",
            )
        )
    batch.write(
        TierHistory,
        rows,
        ["case_id", "tier", "team_id", "owner_id", "entered_at", "left_at", "entered_by", "reason"],
    )
