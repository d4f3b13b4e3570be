import pytest

from casework.cases import pipeline
from casework.testing.factories import open_case
from casework.triage.models import Rule

pytestmark = pytest.mark.django_db

DRAFT = {
    "name": "Refunds to billing",
    "trigger": "case_opened",
    "conditions": {"field": "text", "op": "contains_any", "value": ["refund"]},
    "actions": [{"type": "set_category", "value": "billing"}],
}


def test_rules_crud_and_validation(api):
    listed = api.get("/api/v1/rules").json()
    assert any(r["key"] == "outage" for r in listed)
    response = api.post("/api/v1/rules", DRAFT)
    assert response.status_code == 201, response.content
    rule = response.json()
    assert rule["enabled"] is False  # new rules start disabled until dry-run
    bad = api.post(
        "/api/v1/rules", {**DRAFT, "conditions": {"field": "text", "op": "containz", "value": ["x"]}}
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_rule" and "containz" in bad.json()["error"]["message"]
    patched = api.patch(f"/api/v1/rules/{rule['id']}", {"enabled": True, "order": 5}).json()
    assert patched["enabled"] and patched["order"] == 5
    bad_patch = api.patch(f"/api/v1/rules/{rule['id']}", {"actions": [{"type": "launch"}]})
    assert bad_patch.status_code == 422
    assert Rule.objects.get(pk=rule["id"]).actions == DRAFT["actions"]
    assert api.get("/api/v1/rules/99999").status_code == 404


def test_dry_run_draft_and_saved_rule(api, customer):
    with pipeline.only():  # cases as an import left them, before any rule ran
        open_case(subject="Refund please", description="I want a refund", customer=customer)
        open_case(subject="Other", description="hello", customer=customer)
    result = api.post(
        "/api/v1/rules/dry-run", {**{k: DRAFT[k] for k in ("trigger", "conditions", "actions")}}
    )
    body = result.json()
    assert (body["checked"], body["matched"]) == (2, 1)
    assert body["cases"][0]["changes"]["category"] == {"from": None, "to": "billing"}
    outage = Rule.objects.get(key="outage")
    assert api.post("/api/v1/rules/dry-run", {"rule_id": outage.pk}).json()["matched"] == 0


def test_case_detail_exposes_applied_rules_sentiment_tags(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/cases",
            {
                "subject": "Outage",
                "description": "System down for everyone",
                "customer_email": "x@example.test",
            },
        )
    detail = api.get(f"/api/v1/cases/{response.json()['reference']}").json()
    assert detail["priority"] == "critical"
    assert detail["applied_rules"] and "matched" in detail["applied_rules"][0]["explanation"]
    assert "sentiment" in detail and "tags" in detail


def test_dry_run_page(client, alice):
    from casework.testing.factories import PASSWORD

    assert client.get("/triage/rules/dry-run/").status_code == 302  # sign in first
    client.login(username="alice", password=PASSWORD)
    assert client.get("/triage/rules/dry-run/").status_code == 403  # rules are a lead's tool
    alice.agent.role = "lead"
    alice.agent.save(update_fields=["role"])

    client.login(username="alice", password=PASSWORD)
    outage = Rule.objects.get(key="outage")
    assert client.get("/triage/rules/dry-run/", {"rule": outage.pk}).status_code == 200
    response = client.post(
        "/triage/rules/dry-run/",
        {"name": "x", "trigger": "case_opened", "conditions": "{not json", "actions": "[]", "last": "10"},
    )
    assert "Not valid JSON" in response.content.decode()
