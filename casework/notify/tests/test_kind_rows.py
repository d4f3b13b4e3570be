"""Every registered notification kind has an editable row after migrate, including kinds another app
registers at start-up (insights), which the one-time seed migration never saw."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db.models.signals import post_migrate

from casework.notify.kinds import DEFAULTS
from casework.notify.models import NotificationKind, NotificationTemplate

pytestmark = pytest.mark.django_db


def test_insights_kinds_are_registered_defaults():
    assert "possible_incident" in DEFAULTS


def test_every_registered_kind_has_a_row_and_an_email_template():
    keys = set(NotificationKind.objects.values_list("key", flat=True))
    assert set(DEFAULTS) <= keys
    with_template = set(
        NotificationTemplate.objects.filter(channel="email", language="").values_list("kind__key", flat=True)
    )
    assert set(DEFAULTS) <= with_template


def test_a_missing_row_comes_back_after_migrate_and_an_edited_one_is_kept():
    NotificationKind.objects.filter(key="possible_incident").delete()
    NotificationKind.objects.filter(key="acknowledgement").update(label="Our own wording")
    post_migrate.send(sender=apps.get_app_config("notify"), app_config=apps.get_app_config("notify"))
    assert NotificationKind.objects.get(key="possible_incident").templates.filter(channel="email").exists()
    assert NotificationKind.objects.get(key="acknowledgement").label == "Our own wording"


def test_other_apps_migrate_signal_does_nothing():
    NotificationKind.objects.filter(key="possible_incident").delete()
    post_migrate.send(sender=apps.get_app_config("cases"), app_config=apps.get_app_config("cases"))
    assert not NotificationKind.objects.filter(key="possible_incident").exists()
