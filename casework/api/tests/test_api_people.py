import pytest

from casework.people.models import Customer

pytestmark = pytest.mark.django_db


def test_organisations_create_list_detail(api):
    response = api.post(
        "/api/v1/organisations",
        {"name": "Globex", "tier": "enterprise", "vip": True, "domains": ["Globex.test"]},
    )
    assert response.status_code == 201, response.content
    org = response.json()
    assert org["domains"] == ["globex.test"] and org["tier"] == "enterprise"
    assert api.get("/api/v1/organisations").json()["count"] == 1
    assert api.get(f"/api/v1/organisations/{org['id']}").json()["name"] == "Globex"
    duplicate = api.post("/api/v1/organisations", {"name": "globex"})
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "duplicate_organisation"
    assert api.post("/api/v1/organisations", {"name": "X", "tier": "gold"}).status_code == 422
    assert api.get("/api/v1/organisations/999").json()["error"]["code"] == "organisation_not_found"


def test_customers_create_infers_organisation_and_rejects_duplicates(api, organisation):
    response = api.post("/api/v1/customers", {"email": "Zed@Northwind.test", "name": "Zed"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "zed@northwind.test"
    assert body["organisation"]["name"] == "Northwind"
    assert (body["open_cases"], body["total_cases"]) == (0, 0)
    again = api.post("/api/v1/customers", {"email": "ZED@northwind.test"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate_customer"
    assert api.get(f"/api/v1/customers/{body['id']}").json()["name"] == "Zed"
    assert api.get("/api/v1/customers", {"q": "zed"}).json()["count"] == 1
    assert api.get("/api/v1/customers/424242").status_code == 404
    assert api.post("/api/v1/customers", {"email": "x@y.test", "organisation_id": 999}).status_code == 404
    assert Customer.objects.count() == 1


def test_organisation_created_later_adopts_existing_customers(api):
    api.post("/api/v1/customers", {"email": "early@initech.test"})
    api.post("/api/v1/organisations", {"name": "Initech", "domains": ["initech.test"]})
    assert Customer.objects.get(email="early@initech.test").organisation.name == "Initech"


def test_offsets_past_64_bits_are_refused_not_a_server_error(api, case):
    """Found by make fuzz: ?offset=6702893419809169839346417664 was a 500 on SQLite."""
    huge = "6702893419809169839346417664"
    for path in ("/api/v1/customers", "/api/v1/organisations", "/api/v1/cases"):
        response = api.get(path, {"offset": huge})
        assert response.status_code == 422, (path, response.content)
    events = api.get(f"/api/v1/cases/{case.reference}/events", {"after": huge})
    assert events.status_code == 422
