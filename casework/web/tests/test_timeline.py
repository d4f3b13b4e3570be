"""The timeline renderer (pure): names not usernames or slugs, human labels, one sentence per decision,
nothing for events that changed nothing."""

from types import SimpleNamespace

import pytest

from casework.web.timeline import Names, describe, render

NAMES = Names(
    users={"dev": "Dev Sharma", "chloe": "Chloé Martin", "ana": "Ana Lopez"},
    categories={"data": "Data", "bug": "Bug"},
    fields={"product": "Product"},
)
EXPLAIN = "rule 'Outage' matched: text contains 'nobody can' → priority critical, tag 'outage'"


def ev(kind, old=None, new=None, reason="", data=None, actor=None, label="", pk=1, message_id=None):
    return SimpleNamespace(
        pk=pk,
        kind=kind,
        old=old,
        new=new,
        reason=reason,
        data=data or {},
        actor=actor,
        actor_id=actor.pk if actor else None,
        actor_label=label,
        message_id=message_id,
    )


def person(username, first, last, pk=7):
    return SimpleNamespace(pk=pk, username=username, get_full_name=lambda: f"{first} {last}".strip())


CHLOE = person("chloe", "Chloé", "Martin")


def text(event):
    line = describe(event, NAMES)
    return None if line is None else f"{line.who} {line.text}"


def test_assignment_names_people_not_usernames():
    assert text(ev("assigned", None, "dev", label="routing")) == "Routing assigned the case to Dev Sharma"
    assert (
        text(ev("assigned", "dev", "chloe", actor=CHLOE)) == "Chloé Martin took the case over from Dev Sharma"
    )
    assert text(ev("assigned", None, "chloe", actor=CHLOE)) == "Chloé Martin took the case"
    assert text(ev("assigned", "dev", "ana", actor=CHLOE)) == (
        "Chloé Martin reassigned the case from Dev Sharma to Ana Lopez"
    )
    assert (
        text(ev("assigned", "dev", None, actor=CHLOE)) == "Chloé Martin unassigned the case (was Dev Sharma)"
    )
    # Someone unknown to the lookup (deleted) keeps their username rather than disappearing.
    assert text(ev("assigned", None, "gone", label="routing")) == "Routing assigned the case to gone"


def test_status_priority_and_category_use_labels():
    assert text(ev("status_changed", "triaged", "in_progress", actor=CHLOE)) == (
        "Chloé Martin changed the status from Triaged to In progress"
    )
    assert text(ev("status_changed", "in_progress", "awaiting_client", actor=CHLOE)).endswith(
        "from In progress to Awaiting client"
    )
    assert text(ev("priority_changed", "high", "critical", actor=CHLOE)) == (
        "Chloé Martin raised the priority from High to Critical"
    )
    assert text(ev("priority_changed", "high", "low", actor=CHLOE)).endswith(
        "lowered the priority from High to Low"
    )
    assert text(ev("category_changed", None, "data", label="rule:Data missing")) == (
        "Rule ‘Data missing’ set the category to Data"
    )
    assert text(ev("category_changed", "bug", "data", actor=CHLOE)).endswith("from Bug to Data")
    # An unknown slug reads as words, never as a slug.
    assert text(ev("category_changed", None, "feature_request", actor=CHLOE)).endswith("to Feature request")


def test_frustrated_flag_speaks_human_and_no_op_scores_say_nothing():
    turned = ev(
        "sentiment_changed",
        {"frustrated": False, "sentiment": None},
        {"frustrated": True, "sentiment": -0.7003},
        reason="latest customer message scored -0.70 (frustrated below -0.50)",
        label="sentiment",
    )
    assert text(turned) == "Mood check flagged the customer as frustrated (message scored -0.70)"
    assert "False" not in text(turned) and "→" not in text(turned)
    cleared = ev(
        "sentiment_changed", {"frustrated": True}, {"frustrated": False}, reason="Corrected", actor=CHLOE
    )
    line = describe(cleared, NAMES)
    assert (line.text, line.detail) == ("cleared the frustrated flag", "Corrected")
    same = ev(
        "sentiment_changed", {"frustrated": False, "sentiment": 0.1}, {"frustrated": False, "sentiment": 0.4}
    )
    assert describe(same, NAMES) is None


def test_sla_alerts_name_who_was_told():
    breach = ev(
        "sla",
        reason="Resolution breached: was due 12:06 (policy 'Standard', critical: 4 h) — notified chloe, dev",
        data={"state": "breached", "notified": ["chloe", "dev"]},
        label="SLA",
    )
    assert text(breach) == (
        "SLA Resolution breached: was due 12:06 (policy 'Standard', critical: 4 h)"
        " — told Chloé Martin, Dev Sharma"
    )


def test_a_rule_is_explained_once_and_its_changes_only_say_what_changed():
    data = {"rule": "Outage", "explanation": EXPLAIN}
    events = [
        ev("rule_applied", None, {"rule": "Outage"}, data=data, label="rule:Outage", pk=1),
        ev("priority_changed", "medium", "critical", reason=EXPLAIN, data=data, label="rule:Outage", pk=2),
        ev("tags_changed", [], ["outage"], reason=EXPLAIN, data=data, label="rule:Outage", pk=3),
    ]
    lines = render(events, NAMES)
    assert lines[1].who == "Rule ‘Outage’" and lines[1].text.startswith("matched: text contains 'nobody can'")
    assert lines[2].text == "raised the priority from Medium to Critical"
    assert lines[3].text == "added tag #outage"
    rendered = [f"{line.text} {line.why} {line.detail}" for line in lines.values()]
    assert sum("text contains 'nobody can'" in r for r in rendered) == 1


def test_a_change_by_a_rule_without_its_rule_line_keeps_the_explanation_once():
    data = {"rule": "Frustrated", "explanation": "rule 'Frustrated' matched: frustrated is true"}
    events = [
        ev(
            "team_changed",
            "L1 Support",
            "L2 Support",
            reason=data["explanation"],
            data=data,
            label="rule:Frustrated",
            pk=1,
        ),
        ev(
            "tags_changed",
            [],
            ["frustrated"],
            reason=data["explanation"],
            data=data,
            label="rule:Frustrated",
            pk=2,
        ),
    ]
    lines = render(events, NAMES)
    assert lines[1].why == data["explanation"] and lines[1].detail == ""
    assert lines[2].why == "" and lines[2].detail == ""


def test_escalation_names_the_tier_team_and_previous_owner():
    escalated = ev(
        "escalated",
        {"tier": 1, "team": "L1 Support", "assignee": "chloe"},
        {"tier": 2, "team": "L2 Support", "assignee": None},
        data={"handoff_note": "Logs attached"},
        actor=CHLOE,
        message_id=9,
    )
    assert text(escalated) == "Chloé Martin escalated the case to L2 (L2 Support); Chloé Martin had it at L1"
    # The hand-off note is its own internal note card (message_id): not repeated on the event line.
    assert describe(escalated, NAMES).detail == ""
    back = ev(
        "de_escalated", {"tier": 2, "team": "L2 Support"}, {"tier": 1, "team": "L1 Support"}, actor=CHLOE
    )
    assert text(back) == "Chloé Martin sent the case back to L1 (L1 Support)"


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            ev("opened", None, {"channel": "email"}, label="Bruno Novak (customer)"),
            "Bruno Novak (customer) opened the case by email",
        ),
        (ev("first_response", actor=CHLOE), "Chloé Martin sent the first response"),
        (
            ev("task_added", None, {"title": "Check logs", "owner": "dev"}, actor=CHLOE),
            "Chloé Martin added the task “Check logs” for Dev Sharma",
        ),
        (
            ev("task_completed", None, {"title": "Check logs", "done": True}, actor=CHLOE),
            "Chloé Martin completed the task “Check logs”",
        ),
        (ev("attachment_added", None, {"filename": "log.txt"}, actor=CHLOE), "Chloé Martin attached log.txt"),
        (
            ev("call_logged", None, {"direction": "inbound", "duration_seconds": 300}, actor=CHLOE),
            "Chloé Martin logged an incoming phone call (5 min)",
        ),
        (
            ev("tags_changed", ["a", "b"], ["b", "c"], actor=CHLOE),
            "Chloé Martin added tag #c and removed tag #a",
        ),
        (
            ev("field_changed", {"custom_fields": {}}, {"custom_fields": {"product": "Sync"}}, actor=CHLOE),
            "Chloé Martin set Product to Sync",
        ),
        (
            ev("field_changed", {"subject": "a"}, {"subject": "b"}, actor=CHLOE),
            "Chloé Martin renamed the case from “a” to “b”",
        ),
        (
            ev("note", reason="Possible outage", data={"notify": "team_lead"}, label="rule:Outage"),
            "Rule ‘Outage’ asked to notify the team lead: Possible outage",
        ),
        (
            ev("team_changed", None, "L1 Support", reason="L1 cases go to L1 Support", label="routing"),
            "Routing moved the case to L1 Support",
        ),
        (ev("reopened", actor=CHLOE), "Chloé Martin reopened the case"),
    ],
)
def test_every_kind_reads_as_a_sentence(event, expected):
    assert text(event) == expected


def test_field_change_that_changes_nothing_says_nothing():
    assert (
        describe(ev("field_changed", {"custom_fields": {"a": 1}}, {"custom_fields": {"a": 1}}), NAMES) is None
    )


def test_system_actors_have_names():
    for label, name in [("system", "casework"), ("triage", "Triage"), ("SLA", "SLA"), ("", "casework")]:
        assert describe(ev("reopened", label=label), NAMES).who == name
