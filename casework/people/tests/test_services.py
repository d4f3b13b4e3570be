"""Finding or creating customers, one at a time and for a batch of mail."""

import pytest
from django.db import connection

from casework.core.errors import ValidationFailed
from casework.people.models import Customer
from casework.people.services import Contact, customer_get_or_create, customers_get_or_create
from casework.testing.factories import CustomerFactory, OrganisationFactory

pytestmark = pytest.mark.django_db


def test_one_customer_is_found_case_insensitively_or_created_with_the_domains_organisation():
    org = OrganisationFactory(domains=["acme.test"])
    created, was_new = customer_get_or_create(email=" Ann@ACME.test ", name="  Ann   Smith ")
    assert was_new and created.email == "ann@acme.test" and created.name == "Ann Smith"
    assert created.organisation == org
    found, was_new = customer_get_or_create(email="ANN@acme.test", name="Someone Else")
    assert not was_new and found.pk == created.pk and found.name == "Ann Smith"


def test_a_batch_reads_once_merges_repeats_and_fills_blanks(django_assert_num_queries):
    org = OrganisationFactory(domains=["acme.test"])
    known = CustomerFactory(email="known@acme.test", name="", organisation=None)
    contacts = [
        Contact("new@acme.test", ""),
        Contact("NEW@acme.test", "New Person", "+44 1"),
        Contact("known@acme.test", "Known Person"),
        Contact("solo@elsewhere.test", "Solo"),
    ]
    # customers, the configuration version, organisation domains (cached per version: the factory just
    # moved it), one update for the blank name/organisation, one insert (inside a transaction: no
    # savepoint of its own; PostgreSQL keeps one around the insert for races)
    with django_assert_num_queries(5 if connection.vendor == "sqlite" else 7):
        result = customers_get_or_create(contacts)
    # The domains are not read again while the configuration stays as it is: customers, version, insert
    # (and on PostgreSQL the insert's savepoint and its release).
    with django_assert_num_queries(3 if connection.vendor == "sqlite" else 5):
        customers_get_or_create([Contact("new@acme.test"), Contact("other@acme.test")])
    Customer.objects.filter(email="other@acme.test").delete()
    assert set(result) == {"new@acme.test", "known@acme.test", "solo@elsewhere.test"}
    new, created = result["new@acme.test"]
    assert created and new.name == "New Person" and new.phone == "+44 1" and new.organisation == org
    known.refresh_from_db()
    assert result["known@acme.test"] == (known, False)
    assert known.name == "Known Person" and known.organisation == org
    assert result["solo@elsewhere.test"][0].organisation is None
    assert Customer.objects.count() == 3


def test_an_invalid_address_refuses_the_whole_batch():
    with pytest.raises(ValidationFailed) as exc:
        customers_get_or_create([Contact("fine@example.test"), Contact("not an address")])
    assert exc.value.code == "invalid_email" and Customer.objects.count() == 0


def test_a_teams_lead_works_its_cases_without_being_a_member(db):
    from casework.cases.models import Case
    from casework.people import permissions
    from casework.testing.factories import TeamFactory, make_agent, open_case

    alpha, beta = TeamFactory(name="Alpha"), TeamFactory(name="Beta")
    lead = make_agent("lena", teams=[beta], role="lead")
    case = open_case(subject="Widget", team=alpha)
    case.refresh_from_db()
    assert case.team_id == alpha.pk
    assert not permissions.can_work_case(lead, case)
    alpha.lead = lead
    alpha.save()
    lead = type(lead).objects.get(pk=lead.pk)  # the team sets are read once per user instance
    assert permissions.can_work_case(lead, case)
    assert Case.objects.filter(permissions.workable_q(lead), pk=case.pk).exists()
