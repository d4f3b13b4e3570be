"""Retention policies edited on the privacy page (admins): the dry run before saving, validation with clear
errors, the audit of every change (policies and holds), and the roles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from casework.cases.models import Case, Category
from casework.core import clock
from casework.core.errors import PermissionDenied, ValidationFailed
from casework.people.models import Organisation
from casework.privacy import policy_changes, services
from casework.privacy.models import PrivacyChange, RetentionAction, RetentionPolicy
from casework.testing.factories import make_agent, open_case

from .test_retention import close

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(db):
    return make_agent("ada", role="admin")


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


def closed_days_ago(days: int, **kwargs) -> Case:
    case = close(open_case(**kwargs))
    Case.objects.filter(pk=case.pk).update(closed_at=clock.now() - timedelta(days=days))
    return case


def form(**overrides) -> dict:
    data = {
        "name": "Default",
        "category": "",
        "organisation": "",
        "action": "anonymise",
        "after_days": "365",
        "purge_attachments_after_days": "",
        "active": "on",
        "reason": "DPA review 2026",
        "step": "preview",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_create_shows_the_dry_run_then_saves_with_who_why_and_the_counts(admin_client, admin):
    closed_days_ago(400)
    closed_days_ago(400)
    closed_days_ago(100)  # not yet due
    open_case()  # open: never counted
    url = reverse("privacy:policy_new")
    assert admin_client.get(url).status_code == 200
    preview = admin_client.post(url, form())
    body = preview.content.decode()
    assert preview.status_code == 200 and 'data-testid="policy-preview"' in body
    assert preview.context["preview"]["total"]["anonymise"] == 2
    assert preview.context["preview"]["total_before"]["anonymise"] == 0
    assert not RetentionPolicy.objects.exists()  # the preview wrote nothing
    saved = admin_client.post(url, form(step="save", previewed=preview.context["previewed"]))
    assert saved.status_code == 302
    policy = RetentionPolicy.objects.get()
    assert (policy.name, policy.action, policy.after_days, policy.active) == (
        "Default",
        "anonymise",
        365,
        True,
    )
    change = PrivacyChange.objects.get()
    assert change.kind == "policy_created" and change.actor == admin and change.reason == "DPA review 2026"
    assert change.before is None and change.after["after_days"] == 365
    assert change.dry_run["total"]["anonymise"] == 2
    assert Case.objects.filter(subject="[anonymised]").count() == 0  # counting is not purging
    page = admin_client.get(reverse("privacy:page")).content.decode()
    assert "Default" in page and "policy created" in page and "DPA review 2026" in page


def test_saving_other_fields_than_the_ones_counted_counts_again_first(admin_client):
    url = reverse("privacy:policy_new")
    preview = admin_client.post(url, form())
    response = admin_client.post(
        url, form(step="save", previewed=preview.context["previewed"], after_days="30")
    )
    assert response.status_code == 200 and response.context["stale"]
    assert "You changed the policy after the last count" in response.content.decode()
    assert not RetentionPolicy.objects.exists()
    assert admin_client.post(url, form(step="save")).status_code == 200  # no preview at all: counts first
    assert not RetentionPolicy.objects.exists()


def test_edit_and_disable_are_audited_before_to_after(admin_client, admin):
    default = RetentionPolicy.objects.create(name="Default", action="delete", after_days=365)
    org = Organisation.objects.create(name="Initech")
    keep = RetentionPolicy.objects.create(name="Initech keeps", organisation=org, action="keep")
    closed_days_ago(400, customer=None)
    held_back = closed_days_ago(400)
    Case.objects.filter(pk=held_back.pk).update(organisation=org)
    url = reverse("privacy:policy_edit", args=[keep.pk])
    fields = form(name="Initech keeps", organisation=str(org.pk), action="keep", after_days="", active=None)
    # Disabling the organisation's "keep" hands its case to the default policy: the dry run says so.
    preview = admin_client.post(url, fields)
    assert preview.context["preview"]["total"]["delete"] == 2
    assert preview.context["preview"]["total_before"]["delete"] == 1
    admin_client.post(url, {**fields, "step": "save", "previewed": preview.context["previewed"]})
    keep.refresh_from_db()
    assert not keep.active
    change = PrivacyChange.objects.get(policy=keep)
    assert change.kind == "policy_disabled"
    assert change.before["active"] is True and change.after["active"] is False
    assert [d[0] for d in change.diff()] == ["active"]
    # An edit of the default policy: before → after of what changed.
    url = reverse("privacy:policy_edit", args=[default.pk])
    edit = form(action="delete", after_days="730", reason="Longer")
    preview = admin_client.post(url, edit)
    admin_client.post(url, {**edit, "step": "save", "previewed": preview.context["previewed"]})
    change = PrivacyChange.objects.get(policy=default)
    assert change.kind == "policy_updated" and change.diff() == [("after days", 365, 730)]
    history = admin_client.get(url).content.decode()
    assert "after days: 365 → 730" in history and "Longer" in history


@pytest.mark.parametrize(
    "overrides, field, words",
    [
        ({"after_days": "-5"}, "after_days", "cannot be negative"),
        ({"after_days": "ten"}, "after_days", "whole number of days"),
        ({"after_days": ""}, "after_days", "after how many days"),
        ({"action": "keep", "after_days": "30"}, "after_days", "never removes a case"),
        ({"after_days": "3"}, "after_days", "can reopen a closed case"),
        ({"purge_attachments_after_days": "2"}, "purge", "can reopen a closed case"),
        ({"purge_attachments_after_days": "400"}, "purge", "would never run"),
        ({"name": ""}, "name", "Give the policy a name"),
        ({"action": "shred"}, "action", "Choose keep, anonymise or delete"),
        ({"organisation": "999999"}, "organisation", "from the list"),
        ({"after_days": "99999999"}, "after_days", "at most"),
    ],
)
def test_invalid_policies_are_refused_with_a_clear_error(admin_client, overrides, field, words):
    response = admin_client.post(reverse("privacy:policy_new"), form(**overrides))
    assert response.status_code == 400
    assert words in response.context["errors"][field]
    assert words in response.content.decode()
    assert not RetentionPolicy.objects.exists() and not PrivacyChange.objects.exists()


def test_one_policy_per_scope_and_unique_names(admin_client):
    category = Category.objects.order_by("pk").first()
    RetentionPolicy.objects.create(name="Bugs", category=category, action="keep", active=False)
    response = admin_client.post(reverse("privacy:policy_new"), form(name="Other", category=str(category.pk)))
    assert "“Bugs” already covers this scope" in response.context["errors"]["scope"]
    assert "disabled" in response.context["errors"]["scope"]
    response = admin_client.post(reverse("privacy:policy_new"), form(name="bugs"))
    assert "Another policy is called" in response.context["errors"]["name"]


def test_a_reason_is_needed_to_save(admin_client):
    url = reverse("privacy:policy_new")
    preview = admin_client.post(url, form(reason=""))
    response = admin_client.post(url, form(reason="", step="save", previewed=preview.context["previewed"]))
    assert response.status_code == 400 and "Say why" in response.context["errors"]["reason"]
    assert not RetentionPolicy.objects.exists()


def test_only_admins_edit_policies_managers_read_them(client):
    RetentionPolicy.objects.create(name="Default", action="anonymise", after_days=365)
    manager = make_agent("max", role="manager")
    client.force_login(manager)
    page = client.get(reverse("privacy:page")).content.decode()
    assert "Default" in page and "New policy" not in page and "Admins change them" in page
    assert client.get(reverse("privacy:policy_new")).status_code == 403
    assert client.post(reverse("privacy:policy_new"), form(step="save")).status_code == 403
    fields, _ = policy_changes.parse(form(name="By manager"))
    with pytest.raises(PermissionDenied):
        policy_changes.policy_save(policy=None, fields=fields, actor=manager, reason="r")
    with pytest.raises(ValidationFailed) as exc:
        policy_changes.policy_save(policy=None, fields=fields, actor="system", reason="")
    assert exc.value.details["errors"]["reason"]
    assert RetentionPolicy.objects.count() == 1


def test_legal_holds_are_in_the_history(admin):
    case = open_case()
    org = Organisation.objects.create(name="Initech")
    services.case_set_legal_hold(case=case, actor=admin, reason="Litigation 17")
    services.case_release_legal_hold(case=case, actor=admin, reason="Settled")
    services.organisation_set_legal_hold(organisation=org, actor=admin, reason="Audit")
    rows = list(
        PrivacyChange.objects.order_by("id").values_list("kind", "label", "reason", "before", "after")
    )
    assert rows == [
        ("hold_set", f"case {case.reference}", "Litigation 17", {"held": False}, {"held": True}),
        ("hold_released", f"case {case.reference}", "Settled", {"held": True}, {"held": False}),
        ("hold_set", "organisation Initech", "Audit", {"held": False}, {"held": True}),
    ]
    assert set(PrivacyChange.objects.values_list("actor", flat=True)) == {admin.pk}


def test_the_django_admin_shows_policies_read_only(client):
    ada = make_agent("root", role="admin", staff=True)
    client.force_login(ada)
    assert client.get("/admin/privacy/retentionpolicy/add/").status_code == 403
    assert RetentionAction.KEEP == "keep"
