from __future__ import annotations

import pytest

from casework.testing.factories import CustomerFactory, OrganisationFactory, open_case


@pytest.fixture
def other_org(db):
    return OrganisationFactory(name="Contoso", domains=["contoso.test"])


@pytest.fixture
def colleague(db, organisation):
    """Nora's colleague at Northwind (same organisation, not an admin contact)."""
    return CustomerFactory(name="Colin Colleague", email="colin@northwind.test", organisation=organisation)


@pytest.fixture
def org_admin(db, organisation):
    return CustomerFactory(
        name="Ada Admin", email="ada@northwind.test", organisation=organisation, is_admin_contact=True
    )


@pytest.fixture
def stranger(db, other_org):
    return CustomerFactory(name="Sam Stranger", email="sam@contoso.test", organisation=other_org)


@pytest.fixture
def stranger_case(db, stranger):
    return open_case(subject="Contoso invoice", description="Our invoice is wrong.", customer=stranger)


@pytest.fixture
def colleague_case(db, colleague):
    return open_case(subject="Colin's login", description="I cannot log in.", customer=colleague)


def sign_in(client, customer):
    """Sign a test client in as `customer` the way a browser does: by following a sign-in link."""
    from casework.portal import links

    response = client.get(links.magic_url(customer).removeprefix("http://127.0.0.1:8000"))
    assert response.status_code == 302, response.content
    return client
