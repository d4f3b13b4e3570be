"""Agent workspace views with the Django test client: access, queue filters, case actions, query counts."""

import pytest
from django.urls import reverse

from casework.cases import pipeline, services
from casework.cases.models import CaseEvent, Message
from casework.testing.factories import PASSWORD, make_agent, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(client, alice):
    # The triaged test case lands in L2, not alice's team: these behaviour tests act as a manager (who
    # works every team's cases); casework/web/tests/test_access.py covers what each role may do.
    alice.agent.role = "manager"
    alice.agent.save(update_fields=["role"])
    client.login(username="alice", password=PASSWORD)
    return client


def test_login_required_and_non_agents_refused(client, mallory, case):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    client.login(username="mallory", password=PASSWORD)
    assert client.get("/").status_code == 403
    assert client.get(reverse("web:case", args=[case.reference])).status_code == 403


def test_login_page_and_sign_in(client, alice):
    assert client.get("/login/").status_code == 200
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_queue_views_and_filters(agent_client, alice, customer):
    # The queue's own filters, on cases as they were written (routing would assign the billing one).
    with pipeline.only():
        mine = open_case(subject="Mine to fix", customer=customer, priority="critical")
        services.case_assign(case=mine, assignee=alice, actor=alice)
        open_case(subject="Billing question", customer=customer, category="billing", priority="low")
        done = open_case(subject="Old resolved thing", customer=customer)
        for step in ("in_progress", "resolved"):
            services.case_transition(case=done, to=step, actor=alice)

    def refs(**params):
        content = agent_client.get("/", params).content.decode()
        return {s for s in ("Mine to fix", "Billing question", "Old resolved thing") if s in content}

    assert refs() == {"Mine to fix", "Billing question"}
    assert refs(view="mine") == {"Mine to fix"}
    assert refs(view="unassigned") == {"Billing question"}
    assert refs(view="closed") == {"Old resolved thing"}
    assert refs(priority="critical") == {"Mine to fix"}
    assert refs(category="billing") == {"Billing question"}
    assert refs(q="billing") == {"Billing question"}
    assert refs(view="all", q="resolved") == {"Old resolved thing"}
    assert "No cases match" in agent_client.get("/", {"q": "zzzz-nothing"}).content.decode()


def test_a_bare_queue_view_takes_its_size_from_the_sidebar_counters(agent_client, customer, settings):
    """`/?view=breached` with no other filter shows the sidebar's (shared) count instead of counting its
    cases again; any filter added and the page counts for itself."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from casework.cases.selectors import CaseFilter, counted_total

    settings.CASEWORK = {**settings.CASEWORK, "QUEUE_COUNTS_SECONDS": 10}
    cache.clear()
    for i in range(3):
        open_case(subject=f"case {i}", customer=customer, priority="high" if i else "low")
    agent_client.get("/?view=unassigned")  # fills the shared counters
    with CaptureQueriesContext(connection) as bare:
        page = agent_client.get("/?view=unassigned").content.decode()
    assert 'class="muted">3 cases' in page
    with CaptureQueriesContext(connection) as filtered:
        page = agent_client.get("/?view=unassigned&priority=high").content.decode()
    from casework.cases.models import Case

    high = Case.objects.filter(priority="high", assignee__isnull=True).count()
    assert f'class="muted">{high} case' in page
    assert len(filtered.captured_queries) == len(bare.captured_queries) + 1  # its own COUNT(*)
    counts = {"sla_breached": 7, "open": 9}
    assert counted_total(CaseFilter(view="breached"), counts) == 7
    assert counted_total(CaseFilter(view="breached", ordering="priority"), counts) == 7
    assert counted_total(CaseFilter(view="breached", tag="vip"), counts) is None
    assert counted_total(CaseFilter(view="mine"), counts) is None
    cache.clear()


def test_search_for_a_reference_jumps_to_the_case(agent_client, case):
    response = agent_client.get("/", {"q": case.reference})
    assert response.status_code == 302 and response["Location"] == reverse("web:case", args=[case.reference])


def test_queue_htmx_partial(agent_client, case):
    response = agent_client.get(
        "/", {"priority": "high"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="queue-table"
    )
    html = response.content.decode()
    assert case.reference in html and "<html" not in html


def test_queue_page_runs_constant_queries(agent_client, customer, alice, django_assert_max_num_queries):
    for i in range(3):
        c = open_case(subject=f"case {i}", customer=customer)
        # Every related table in both pages: PostgreSQL reads each small one by id, once per page.
        services.case_assign(case=c, assignee=alice, actor=alice)
    agent_client.get("/")  # first-render caches (config, permissions) out of the way
    # 13 on 2026-12-05: session, user, profile, sidebar counts, config version, saved views, cases, …
    with django_assert_max_num_queries(15) as small:
        agent_client.get("/")
    for i in range(40):
        c = open_case(subject=f"more {i}", customer=customer, tags=["x"])
        services.case_assign(case=c, assignee=alice, actor=alice)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = agent_client.get("/")
    assert response.content.decode().count('class="ref"') == 43


def test_case_page_shows_header_timeline_and_legal_buttons_only(agent_client, case):
    html = agent_client.get(reverse("web:case", args=[case.reference])).content.decode()
    assert case.reference in html and "Nora North" in html and "VIP" in html and "Enterprise" in html
    assert "The CSV export fails" in html
    # Triage classified it as a bug on opening: from Triaged the legal moves are work or close (with a
    # reason, behind a popover).
    assert 'data-testid="to-in_progress"' in html and "spam, duplicate, withdrawn" in html
    assert 'data-testid="to-triaged"' not in html and 'data-testid="to-resolved"' not in html
    assert "Classified by rules" in html  # the timeline says why
    assert "System down, data loss" in html  # priority criteria are shown


def test_unknown_case_is_404(agent_client):
    assert agent_client.get("/cases/CW-424242/").status_code == 404


def test_reply_note_and_status_from_the_composer(agent_client, case, alice):
    url = reverse("web:case_reply", args=[case.reference])
    seen = Message.objects.filter(case=case).latest("id").id
    agent_client.post(url, {"body": "Internal: check logs", "internal": "on", "seen_message_id": seen})
    agent_client.post(
        url, {"body": "We're on it", "internal": "", "set_status": "in_progress", "seen_message_id": seen}
    )
    case.refresh_from_db()
    assert case.status == "in_progress" and case.first_response_at is not None
    assert list(case.messages.values_list("kind", flat=True)) == ["customer", "note", "reply"]


def test_collision_warning_when_someone_else_replied(agent_client, case):
    seen = Message.objects.filter(case=case).latest("id").id
    teammate = make_agent("bobby", tier=1, teams=[case.team] if case.team_id else [])
    services.case_add_message(case=case, kind="reply", body="Bob already answered", actor=teammate)
    url = reverse("web:case_reply", args=[case.reference])
    response = agent_client.post(
        url, {"body": "My answer", "seen_message_id": seen, "set_status": "in_progress"}
    )
    # POST/redirect/GET: the warning lives on the case page, so a reload never posts the reply again.
    case_url = reverse("web:case", args=[case.reference])
    assert response.status_code == 302 and response["Location"] == case_url
    html = agent_client.get(case_url).content.decode()
    assert "Bob already answered" in html and "My answer" in html and 'data-testid="collision"' in html
    assert 'name="confirm_collision"' in html and '<option value="in_progress" selected>' in html
    assert case.messages.filter(body="My answer").count() == 0
    # Shown once: the next visit is a clean page.
    assert "Bob already answered</li>" not in agent_client.get(case_url).content.decode()
    agent_client.post(url, {"body": "My answer", "seen_message_id": seen, "confirm_collision": "on"})
    assert case.messages.filter(body="My answer").count() == 1


def test_illegal_transition_shows_a_message_and_changes_nothing(agent_client, case):
    response = agent_client.post(
        reverse("web:case_transition", args=[case.reference]), {"to": "resolved"}, follow=True
    )
    assert "cannot move from Triaged to Resolved" in response.content.decode()
    case.refresh_from_db()
    assert case.status == "triaged"


def test_fields_take_escalate_tags_task_upload(agent_client, case, alice, bob, teams):
    agent_client.post(reverse("web:case_take", args=[case.reference]))
    case.refresh_from_db()
    assert case.assignee == alice and case.status == "in_progress"
    agent_client.post(
        reverse("web:case_fields", args=[case.reference]),
        {
            "priority": "high",
            "category": "bug",
            "team": str(teams[1].pk),
            "assignee": "alice",
            "reason": "triage",
        },
    )
    case.refresh_from_db()
    assert (case.priority, case.category.slug, case.team) == ("high", "bug", teams[1])
    agent_client.post(reverse("web:case_tags", args=[case.reference]), {"add": "export, csv"})
    # A calm "fails with error 500" is not frustration (issue 19), so no "frustrated" tag from the rules.
    assert sorted(case.tags.values_list("name", flat=True)) == ["csv", "export"]
    agent_client.post(
        reverse("web:case_add_task", args=[case.reference]), {"title": "Check logs", "owner": "bob"}
    )
    task = case.tasks.get()
    assert task.owner == bob
    agent_client.post(reverse("web:task_toggle", args=[case.reference, task.pk]))
    task.refresh_from_db()
    assert task.done
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("trace.log", b"Traceback...", content_type="text/plain")
    agent_client.post(reverse("web:case_upload", args=[case.reference]), {"file": upload})
    attachment = case.attachments.get()
    download = agent_client.get(reverse("web:attachment_download", args=[case.reference, attachment.pk]))
    assert b"".join(download.streaming_content) == b"Traceback..."
    assert download["Content-Disposition"].startswith("attachment")
    # A calm "fails with error 500" is not frustration (issue 19): no rule escalated it on arrival.
    assert case.tier == 1
    agent_client.post(
        reverse("web:case_escalate", args=[case.reference]), {"to_tier": "2", "handoff_note": "Over to L2"}
    )
    case.refresh_from_db()
    assert case.tier == 2
    response = agent_client.post(
        reverse("web:case_escalate", args=[case.reference]), {"to_tier": "3", "handoff_note": ""}, follow=True
    )
    assert "handoff note" in response.content.decode()
    agent_client.post(
        reverse("web:case_escalate", args=[case.reference]), {"to_tier": "3", "handoff_note": "Over to L3"}
    )
    case.refresh_from_db()
    assert case.tier == 3 and case.team == teams[3]


def test_log_a_phone_call_opens_a_phone_case(agent_client, alice):
    response = agent_client.post(
        reverse("web:call_new"),
        {
            "customer_email": "caller@example.test",
            "customer_name": "Cal Ler",
            "direction": "inbound",
            "duration_minutes": "7",
            "summary": "Cannot print invoices\nWalked through settings",
            "priority": "medium",
        },
    )
    message = Message.objects.get(kind="call")
    assert response.status_code == 302 and message.case.channel == "phone"
    assert message.meta["call"]["duration_seconds"] == 420
    assert CaseEvent.objects.filter(case=message.case, kind="call_logged").exists()


def test_log_a_call_from_a_caller_without_email(agent_client, alice):
    call = {
        "customer_name": "Pat Caller",
        "customer_phone": "+44 20 7946 0000",
        "direction": "inbound",
        "duration_minutes": "3",
        "summary": "Cannot sign in",
        "priority": "medium",
    }
    response = agent_client.post(reverse("web:call_new"), call)
    assert response.status_code == 302
    message = Message.objects.get(kind="call")
    customer = message.case.customer
    assert (customer.email, customer.name, customer.display_name) == (None, "Pat Caller", "Pat Caller")
    # The same number, written differently, is the same caller.
    agent_client.post(
        reverse("web:call_new"), {**call, "customer_phone": "+442079460000", "customer_name": ""}
    )
    assert Message.objects.filter(kind="call", case__customer=customer).count() == 2
    page = agent_client.get(reverse("web:case", args=[message.case.reference])).content.decode()
    assert "no email: replies are not mailed" in page
    assert agent_client.get(reverse("web:customer", args=[customer.pk])).status_code == 200
    # Neither email nor phone nor case: a clear error, nothing written.
    response = agent_client.post(reverse("web:call_new"), {**call, "customer_phone": ""})
    assert response.status_code == 200 and "email address or phone number" in response.content.decode()
    assert Message.objects.filter(kind="call").count() == 2


def test_new_case_form_and_validation(agent_client):
    response = agent_client.post(reverse("web:case_new"), {"customer_email": "bad", "subject": ""})
    assert response.status_code == 200 and "Enter a valid email address" in response.content.decode()
    response = agent_client.post(
        reverse("web:case_new"),
        {
            "customer_email": "walkin@example.test",
            "subject": "Walk-in",
            "description": "Asked at the desk",
            "channel": "web",
            "priority": "low",
        },
    )
    assert response.status_code == 302


def test_customer_page_lists_history(agent_client, case, customer):
    html = agent_client.get(reverse("web:customer", args=[customer.pk])).content.decode()
    assert case.reference in html and "Northwind" in html


def test_merge_from_the_case_page(agent_client, customer):
    keep, dup = open_case(customer=customer), open_case(customer=customer)
    agent_client.post(
        reverse("web:case_merge", args=[dup.reference]), {"target": keep.reference, "reason": "dup"}
    )
    dup.refresh_from_db()
    assert dup.merged_into == keep


def test_healthz(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_queue_title_and_one_active_sidebar_entry(agent_client, teams, case):
    def page(**params):
        return agent_client.get("/", params).content.decode()

    team = page(view="open", team="L2 Support")
    assert "<title>L2 Support · casework</title>" in team
    assert team.count('aria-current="page"') == 1 and 'aria-current="page">L2 Support' in team
    critical = page(view="open", priority="critical")
    assert "<title>Critical · casework</title>" in critical
    assert critical.count('aria-current="page"') == 1
    assert 'class="active" aria-current="page">Critical' in critical
    assert "<title>All open · casework</title>" in page()


def test_favicon_and_friendly_error_pages(agent_client, client, settings):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("favicon.svg")
    assert 'rel="icon"' in agent_client.get("/").content.decode()
    missing = agent_client.get("/cases/CW-999999/")
    html = missing.content.decode()
    assert missing.status_code == 404 and 'data-testid="error-404"' in html
    assert "No case with reference" in html and "Back to the queue" in html
    from django.template.loader import render_to_string

    assert "nothing was half-saved" in render_to_string("500.html")


def test_api_tokens_made_listed_and_revoked_by_their_owner_only(agent_client, alice, bob, client):
    from casework.api.models import ApiToken

    url = reverse("web:api_tokens")
    response = agent_client.post(url, {"name": "Nightly export"})
    assert response.status_code == 302 and response["Location"] == url
    token = ApiToken.objects.get(user=alice)
    html = agent_client.get(url).content.decode()
    secret = html.split('data-testid="token-secret">')[1].split("<")[0]
    assert secret.startswith(token.prefix) and "Nightly export" in html
    # Shown once: a reload shows the list, not the secret (and makes no second token).
    assert secret not in agent_client.get(url).content.decode()
    assert ApiToken.objects.filter(user=alice).count() == 1
    api = client.get("/api/v1/cases", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.status_code == 200
    # Another agent neither sees nor revokes it.
    bobs = type(client)()
    bobs.login(username="bob", password=PASSWORD)
    assert "Nightly export" not in bobs.get(url).content.decode()
    assert bobs.post(reverse("web:api_token_revoke", args=[token.pk])).status_code == 404
    agent_client.post(reverse("web:api_token_revoke", args=[token.pk]))
    token.refresh_from_db()
    assert token.revoked and token.revoked_at is not None
    assert client.get("/api/v1/cases", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


def test_admin_makes_a_token_and_shows_it_once(client, db):
    from django.contrib.auth import get_user_model

    from casework.api.models import ApiToken

    admin = get_user_model().objects.create_superuser("root", "root@example.test", PASSWORD)
    client.login(username="root", password=PASSWORD)
    response = client.post("/admin/api/apitoken/add/", {"user": admin.pk, "name": "ops script"}, follow=True)
    assert response.status_code == 200
    token = ApiToken.objects.get(user=admin, name="ops script")
    assert "copy it now" in response.content.decode() and token.prefix in response.content.decode()
    client.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True)
    token.refresh_from_db()
    assert token.revoked


def test_l3_handoff_defaults_to_the_l3_team(agent_client, teams, alice):
    with pipeline.only():
        case = open_case(subject="Deep bug")
        services.case_escalate(case=case, to_tier=2, actor=alice, handoff_note="to L2")
    html = agent_client.get(reverse("web:case", args=[case.reference])).content.decode()
    form = html.split('data-testid="escalate-form"')[1].split("</form>")[0]
    assert '<option value="3" selected>' in form
    assert f'<option value="{teams[3].pk}" data-tier="3" selected>' in form
    assert f'<option value="{teams[1].pk}" data-tier="1" >' in form
    agent_client.post(
        reverse("web:case_escalate", args=[case.reference]),
        {"to_tier": "3", "team": str(teams[3].pk), "handoff_note": "Needs a code fix"},
    )
    case.refresh_from_db()
    assert (case.tier, case.team) == (3, teams[3])


def test_bulk_bar_changes_the_selected_cases_and_returns_to_the_queue(agent_client, alice, bob, customer):
    with pipeline.only():
        one = open_case(subject="Printer one", customer=customer)
        two = open_case(subject="Printer two", customer=customer)
        other = open_case(subject="Not selected", customer=customer)
    html = agent_client.get("/").content.decode()
    assert 'data-testid="bulk-form"' in html and f'name="refs" value="{one.reference}"' in html
    response = agent_client.post(
        reverse("web:cases_bulk"),
        {
            "refs": [one.reference, two.reference],
            "assignee": "bob",
            "priority": "low",
            "tags": "printers",
            "next": "/?view=open&sort=due",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/?view=open&sort=due"
    for case in (one, two):
        case.refresh_from_db()
        assert (case.assignee, case.priority) == (bob, "low")
    other.refresh_from_db()
    assert other.assignee is None
    page = agent_client.get("/?view=open&sort=due").content.decode()
    assert "Updated 2 cases." in page
    # Nothing chosen to change: a clear message, nothing written.
    agent_client.post(reverse("web:cases_bulk"), {"refs": [other.reference]})
    assert "Choose something to change" in agent_client.get("/").content.decode()
    # An outside "next" is not followed.
    response = agent_client.post(
        reverse("web:cases_bulk"),
        {"refs": [other.reference], "priority": "low", "next": "https://evil.example/"},
    )
    assert response["Location"] == "/"


def test_my_work_waiting_mentions_and_tasks(agent_client, alice, bob, customer):
    from datetime import timedelta

    from django.utils import timezone

    with pipeline.only():
        waiting = open_case(subject="Waiting for the customer", customer=customer)
        services.case_assign(case=waiting, assignee=alice, actor=alice)
        services.case_transition(case=waiting, to="in_progress", actor=alice)
        services.case_transition(case=waiting, to="awaiting_client", actor=alice)
        mentioned = open_case(subject="Bob asks Alice", customer=customer)
        services.case_add_message(
            case=mentioned, kind="note", body="@alice can you check the VAT id?", actor=bob
        )
        services.case_add_task(
            case=mentioned,
            title="Call the accountant",
            owner=alice,
            due_at=timezone.now() - timedelta(hours=1),
            actor=bob,
        )
        services.case_add_task(case=waiting, title="Send the form", owner=alice, actor=alice)
        services.case_add_task(case=waiting, title="Bob's own", owner=bob, actor=bob)

    def subjects(view):
        content = agent_client.get("/", {"view": view}).content.decode()
        return {s for s in ("Waiting for the customer", "Bob asks Alice") if s in content}

    assert subjects("waiting") == {"Waiting for the customer"}
    assert subjects("mentioned") == {"Bob asks Alice"}
    html = agent_client.get(reverse("web:my_tasks")).content.decode()
    assert html.index("Call the accountant") < html.index("Send the form")  # overdue first, undated last
    assert "overdue" in html and "Bob's own" not in html
    assert 'My tasks <span class="count">2</span>' in agent_client.get("/").content.decode()


def test_organisation_page_shows_contacts_cases_and_sla_outcome(agent_client, alice, customer):
    case = open_case(subject="VAT id wrong on invoices", customer=customer)
    org = customer.organisation
    html = agent_client.get(reverse("web:organisation", args=[org.pk])).content.decode()
    assert org.name in html and "VAT id wrong on invoices" in html and customer.display_name in html
    assert "1</strong> open" in html
    assert "SLA:" in html and "no target finished yet" in html
    services.case_add_message(case=case, kind="reply", body="On it", actor=alice)
    html = agent_client.get(reverse("web:organisation", args=[org.pk])).content.decode()
    assert "100 %</strong> of finished targets met" in html
    case_page = agent_client.get(reverse("web:case", args=[case.reference])).content.decode()
    assert reverse("web:organisation", args=[org.pk]) in case_page


def test_customer_details_and_organisation_edited_with_history(agent_client, alice, customer):
    from casework.people.models import CustomerChange, Organisation

    other_org = Organisation.objects.create(name="Initech")
    url = reverse("web:customer_edit", args=[customer.pk])
    agent_client.post(
        url,
        {
            "name": "Nora North-West",
            "email": customer.email,
            "phone": "+44 1",
            "organisation": other_org.pk,
            "external_id": "",
            "notes": "",
            "reason": "Moved company",
        },
    )
    customer.refresh_from_db()
    assert (customer.name, customer.organisation) == ("Nora North-West", other_org)
    change = CustomerChange.objects.get(customer=customer)
    assert change.actor == alice and change.reason == "Moved company"
    assert change.changes["name"][1] == "Nora North-West" and change.changes["organisation"][1] == "Initech"
    html = agent_client.get(reverse("web:customer", args=[customer.pk])).content.decode()
    assert (
        "changed name from Nora North to Nora North-West" in html.replace("  ", " ")
        or "Nora North-West" in html
    )
    assert "organisation from" in html and "Moved company" in html
    # Saving the same again records nothing; a duplicate email is refused with a message.
    agent_client.post(
        url,
        {"name": "Nora North-West", "email": customer.email, "phone": "+44 1", "organisation": other_org.pk},
    )
    assert CustomerChange.objects.filter(customer=customer).count() == 1
    from casework.testing.factories import CustomerFactory

    taken = CustomerFactory(email="taken@example.test")
    response = agent_client.post(url, {"name": "x", "email": taken.email, "phone": ""}, follow=True)
    assert "Another customer has the email" in response.content.decode()
    customer.refresh_from_db()
    assert customer.name == "Nora North-West"


def test_saved_views_personal_and_shared_with_counts(agent_client, alice, bob, customer, client):
    from casework.web.models import SavedView

    with pipeline.only():
        open_case(subject="Critical thing", customer=customer, priority="critical")
        open_case(subject="Low thing", customer=customer, priority="low")
    response = agent_client.post(
        reverse("web:saved_view_create"), {"name": "Fires", "query": "view=open&priority=critical&page=3"}
    )
    assert response.status_code == 302 and response["Location"] == "/?view=open&priority=critical"
    saved = SavedView.objects.get(owner=alice)
    assert (saved.query, saved.shared) == ("view=open&priority=critical", False)
    html = agent_client.get("/?view=open&priority=critical").content.decode()
    sidebar = html.split('data-testid="saved-views"')[1].split("</nav>")[0]
    assert 'class="active"' in sidebar and "Fires" in sidebar and '<span class="count">1</span>' in sidebar
    # Personal: bob does not see it until it is shared.
    bobs = type(client)()
    bobs.login(username="bob", password=PASSWORD)
    assert "Fires" not in bobs.get("/").content.decode()
    agent_client.post(
        reverse("web:saved_view_create"), {"name": "Low", "query": "priority=low", "shared": "on"}
    )
    assert "Low" in bobs.get("/").content.decode().split('data-testid="saved-views"')[1].split("</nav>")[0]
    # Only its owner removes a view.
    low = SavedView.objects.get(name="Low")
    assert bobs.post(reverse("web:saved_view_delete", args=[low.pk])).status_code == 404
    agent_client.post(reverse("web:saved_view_delete", args=[low.pk]))
    assert not SavedView.objects.filter(pk=low.pk).exists()


def test_case_page_runs_constant_queries(agent_client, customer, alice, django_assert_max_num_queries):
    """Issue 20: the case page's query count depends neither on how many cases there are nor on how
    long this case's history is (no query per message, event or other case)."""
    case = open_case(subject="The one we open", customer=customer)
    services.case_assign(case=case, assignee=alice, actor=alice)
    url = reverse("web:case", args=[case.reference])
    agent_client.get(url)  # first-render caches (config, permissions) out of the way
    # 20 on 2026-12-05: session, user, profile, case, config version, messages, events, files, …
    with django_assert_max_num_queries(22) as small:
        assert agent_client.get(url).status_code == 200
    for i in range(30):
        other = open_case(subject=f"other {i}", customer=customer, tags=["x"])
        services.case_assign(case=other, assignee=alice, actor=alice)
    for i in range(10):
        reply = services.case_add_message(case=case, kind="reply", body=f"Reply {i}", actor=alice)
        services.case_add_attachment(case=case, message=reply, filename=f"reply-{i}.txt", content=b"x")
        services.case_add_message(case=case, kind="note", body=f"Note {i} for @alice", actor=alice)
        services.case_add_message(case=case, kind="customer", body=f"Customer {i}", customer=customer)
    services.case_add_attachment(case=case, filename="case-level.txt", content=b"y", actor=alice)
    with django_assert_max_num_queries(len(small.captured_queries)):
        html = agent_client.get(url).content.decode()
    assert "Reply 9" in html and "Note 9" in html
    # Each message card lists its own files; the case's file list has every file, message or not.
    assert html.count('">reply-9.txt</a>') == 2 and html.count('">case-level.txt</a>') == 1
