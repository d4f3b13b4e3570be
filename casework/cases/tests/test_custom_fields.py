"""Custom field definitions: the pure checks, the door refusing bad values, the case page editing them."""

import datetime as dt

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from casework.cases import services
from casework.cases.custom_fields import FieldSpec, InvalidValue, clean_custom_fields, clean_value
from casework.cases.models import CaseEvent, CustomFieldDefinition
from casework.core.errors import ValidationFailed
from casework.testing.factories import PASSWORD

PRODUCT = FieldSpec("product", "Product", "choice", ("Web app", "Mobile app"))
SEATS = FieldSpec("seats", "Seats", "number")
TRIAL = FieldSpec("trial", "On trial", "boolean")
RENEWAL = FieldSpec("renewal", "Renewal", "date")
NOTE = FieldSpec("note", "Note", "text")
SPECS = {s.key: s for s in (PRODUCT, SEATS, TRIAL, RENEWAL, NOTE)}


@pytest.mark.parametrize(
    ("spec", "raw", "stored"),
    [
        (PRODUCT, "web APP", "Web app"),
        (SEATS, "12", 12),
        (SEATS, "2,5", 2.5),
        (SEATS, 7, 7),
        (TRIAL, "yes", True),
        (TRIAL, "off", False),
        (TRIAL, True, True),
        (RENEWAL, "2027-01-31", "2027-01-31"),
        (RENEWAL, dt.date(2027, 1, 31), "2027-01-31"),
        (NOTE, "  two   words ", "two words"),
    ],
)
def test_values_are_coerced_to_their_kind(spec, raw, stored):
    assert clean_value(spec, raw) == stored


@pytest.mark.parametrize(
    ("spec", "raw", "message"),
    [
        (PRODUCT, "Desktop", "Product must be one of Web app, Mobile app"),
        (SEATS, "many", "Seats must be a number"),
        (SEATS, True, "Seats must be a number"),
        (SEATS, "nan", "Seats must be a finite number"),
        (TRIAL, "maybe", "On trial must be yes or no"),
        (RENEWAL, "31/01/2027", "Renewal must be a date"),
        (NOTE, "x" * 501, "Note is at most 500 characters"),
        (NOTE, ["a"], "Note must be text"),
    ],
)
def test_bad_values_say_what_is_wrong(spec, raw, message):
    with pytest.raises(InvalidValue, match=message):
        clean_value(spec, raw)


def test_empty_values_remove_the_key_and_undefined_keys_are_kept():
    cleaned, errors = clean_custom_fields(
        {"product": "", "seats": None, "legacy": {"x": 1}, "trial": "no", "renewal": "bad"}, SPECS
    )
    assert cleaned == {"legacy": {"x": 1}, "trial": False}
    assert errors == {"renewal": "Renewal must be a date (YYYY-MM-DD)"}


@given(st.dictionaries(st.sampled_from(sorted(SPECS)), st.text(max_size=20) | st.integers() | st.booleans()))
def test_cleaning_is_idempotent(values):
    cleaned, _ = clean_custom_fields(values, SPECS)
    again, errors = clean_custom_fields(cleaned, SPECS)
    assert (again, errors) == (cleaned, {})


@pytest.mark.django_db
def test_the_door_refuses_bad_values_and_changes_nothing(case, alice):
    CustomFieldDefinition.objects.create(key="seats", label="Seats", kind="number")
    with pytest.raises(ValidationFailed) as refused:
        services.case_update(case=case, actor=alice, priority="low", custom_fields={"seats": "lots"})
    assert refused.value.details == {"fields": {"seats": "Seats must be a number, not 'lots'"}}
    case.refresh_from_db()
    assert case.custom_fields == {} and case.priority != "low"
    services.case_update(case=case, actor=alice, custom_fields={"seats": "40"})
    case.refresh_from_db()
    assert case.custom_fields == {"seats": 40}
    event = CaseEvent.objects.filter(case=case, kind="field_changed").latest("id")
    assert event.new == {"custom_fields": {"seats": 40}}


@pytest.mark.django_db
def test_case_page_shows_and_edits_defined_fields(client, case, alice):
    CustomFieldDefinition.objects.create(
        key="product", label="Product", kind="choice", choices=["Web app", "Mobile app"]
    )
    CustomFieldDefinition.objects.create(key="trial", label="On trial", kind="boolean")
    services.case_update(case=case, actor=alice, custom_fields={"crm_ref": "A-17"})
    client.login(username="alice", password=PASSWORD)
    url = reverse("web:case", args=[case.reference])
    html = client.get(url).content.decode()
    assert 'name="cf_product"' in html and "<dt>crm_ref</dt><dd>A-17</dd>" in html
    client.post(
        reverse("web:case_custom_fields", args=[case.reference]),
        {"cf_product": "Mobile app", "cf_trial": "yes"},
    )
    case.refresh_from_db()
    assert case.custom_fields == {"crm_ref": "A-17", "product": "Mobile app", "trial": True}
    html = client.get(url).content.decode()
    assert '<option value="Mobile app" selected>' in html
    assert "set Product to Mobile app; set On trial to yes" in html
    response = client.post(
        reverse("web:case_custom_fields", args=[case.reference]), {"cf_product": "Desktop"}, follow=True
    )
    assert "Product must be one of Web app, Mobile app" in response.content.decode()
    case.refresh_from_db()
    assert case.custom_fields["product"] == "Mobile app"
