"""The rule editor for team leads: rows as forms, dry run before saving, who and why recorded."""

import pytest
from django.urls import reverse

from casework.cases import pipeline
from casework.testing.factories import PASSWORD, open_case
from casework.triage.models import Rule, RuleChange
from casework.triage.rule_changes import rule_move, rule_save

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead_client(client, carol):
    client.login(username="carol", password=PASSWORD)
    return client


def _post(**extra):
    data = {
        "name": "Refunds to billing",
        "trigger": "case_opened",
        "order": "50",
        "match": "all",
        "condition_count": "2",
        "c0-field": "text",
        "c0-op": "contains_any",
        "c0-value": "refund, money back",
        "c1-field": "",
        "action_count": "1",
        "a0-type": "set_category",
        "a0-value": "billing",
    }
    data.update(extra)
    return data


def test_only_team_leads_reach_the_editor(client, alice, bob, teams, mallory):
    client.login(username="alice", password=PASSWORD)
    assert client.get(reverse("triage:rules")).status_code == 403
    assert client.post(reverse("triage:rule_new"), _post(op="save")).status_code == 403
    alice.agent.role = "lead"
    alice.agent.save(update_fields=["role"])
    assert client.get(reverse("triage:rules")).status_code == 200  # the lead role
    client.login(username="mallory", password=PASSWORD)
    assert client.get(reverse("triage:rules")).status_code == 403
    client.logout()
    assert client.get(reverse("triage:rules")).status_code == 302


def test_dry_run_first_then_save_with_reason_recorded(lead_client, carol, customer):
    with pipeline.only():
        hit = open_case(subject="Refund please", description="I want my money back", customer=customer)
        open_case(subject="Other", description="hello", customer=customer)
    url = reverse("triage:rule_new")
    page = lead_client.get(url)
    assert page.status_code == 200 and b'data-testid="condition-rows"' in page.content
    assert b"save-rule" not in page.content  # no save before a dry run

    preview = lead_client.post(url, _post(op="preview"))
    assert preview.status_code == 200
    assert b"1 of 2 recent cases would match" in preview.content
    assert hit.reference.encode() in preview.content
    digest = preview.context["digest"]

    no_reason = lead_client.post(url, _post(op="save", previewed=digest, reason=" "))
    assert b"Say why you are changing this rule" in no_reason.content
    assert not Rule.objects.filter(name="Refunds to billing").exists()

    changed = lead_client.post(url, _post(op="save", previewed=digest, reason="x", **{"a0-value": "bug"}))
    assert b"The rule changed since the dry run" in changed.content
    assert not Rule.objects.filter(name="Refunds to billing").exists()

    saved = lead_client.post(url, _post(op="save", previewed=digest, reason="Refund mails sat in 'other'"))
    assert saved.status_code == 302
    rule = Rule.objects.get(name="Refunds to billing")
    assert rule.enabled is False and rule.order == 50
    assert rule.conditions == {
        "all": [{"field": "text", "op": "contains_any", "value": ["refund", "money back"]}]
    }
    change = RuleChange.objects.get(rule=rule)
    assert change.action == "created" and change.actor == carol
    assert change.reason == "Refund mails sat in 'other'"
    assert change.dry_run["matched"] == 1 and change.after["actions"] == rule.actions

    edit = lead_client.get(reverse("triage:rule_edit", args=[rule.pk]))
    assert b"Refund mails sat in" in edit.content and b'value="money back' not in edit.content
    assert b'value="refund, money back"' in edit.content


def test_errors_name_the_row_and_keep_what_was_typed(lead_client):
    response = lead_client.post(
        reverse("triage:rule_new"),
        _post(op="preview", **{"c0-op": "gt", "c0-value": "refundz", "a0-value": "nonsense"}),
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Nothing was saved" in body
    assert "Condition 1: operator &#x27;gt&#x27; does not apply to field &#x27;text&#x27;" in body
    assert "Action 1:" in body and "nonsense" in body
    assert 'value="refundz"' in body
    assert not Rule.objects.exclude(key__isnull=False).exists()


def test_edit_enable_disable_and_reorder_are_recorded(lead_client, carol):
    first = rule_save(
        rule=None,
        fields={
            "name": "First",
            "trigger": "scheduled",
            "conditions": {},
            "actions": [{"type": "add_tag", "value": "a"}],
        },
        actor=carol,
        reason="test",
    )
    second = rule_save(
        rule=None,
        fields={
            "name": "Second",
            "trigger": "scheduled",
            "conditions": {},
            "actions": [{"type": "add_tag", "value": "b"}],
        },
        actor=carol,
        reason="test",
    )
    refused = lead_client.post(reverse("triage:rule_toggle", args=[first.pk]), {"enabled": "1", "reason": ""})
    assert refused.status_code == 302 and not Rule.objects.get(pk=first.pk).enabled
    lead_client.post(reverse("triage:rule_toggle", args=[first.pk]), {"enabled": "1", "reason": "Ready"})
    assert Rule.objects.get(pk=first.pk).enabled
    lead_client.post(reverse("triage:rule_move", args=[second.pk]), {"direction": "up"})
    ordered = list(
        Rule.objects.filter(trigger="scheduled").order_by("order", "id").values_list("name", flat=True)
    )
    assert ordered == ["Second", "First"]
    kinds = list(RuleChange.objects.order_by("id").values_list("rule_name", "action", "reason"))
    assert ("First", "enabled", "Ready") in kinds
    assert ("Second", "moved", "Moved up (before 'First')") in kinds
    listing = lead_client.get(reverse("triage:rules")).content.decode()
    assert "Moved up (before" in listing and listing.index("Second") < listing.index("First</a>")
    # Moving the first rule up changes nothing.
    assert (
        rule_move(rule=Rule.objects.get(pk=second.pk), direction="up", actor=carol).order < first.order + 100
    )


def test_shipped_rules_open_in_the_editor(lead_client):
    outage = Rule.objects.get(key="outage")
    page = lead_client.get(reverse("triage:rule_edit", args=[outage.pk]))
    assert page.status_code == 200 and "too_deep" not in page.context
    assert any(row.group == "A" for row in page.context["condition_rows"])


def test_api_changes_go_through_the_same_door(api, alice):
    created = api.post(
        "/api/v1/rules",
        {
            "name": "API rule",
            "actions": [{"type": "add_tag", "value": "api"}],
            "reason": "Tagging API-made cases",
        },
    ).json()
    api.patch(f"/api/v1/rules/{created['id']}", {"order": 7})
    changes = list(RuleChange.objects.filter(rule_id=created["id"]).order_by("id"))
    assert [(c.action, c.actor, c.reason) for c in changes] == [
        ("created", alice, "Tagging API-made cases"),
        ("updated", alice, "Changed through the API"),
    ]
    assert changes[1].before["order"] == 100 and changes[1].after["order"] == 7
