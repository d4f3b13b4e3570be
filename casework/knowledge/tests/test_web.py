"""Agent pages of the knowledge base and the case page's composer helpers."""

from __future__ import annotations

import pytest

from casework.cases import services as case_services
from casework.cases.models import Attachment, Message
from casework.knowledge import services
from casework.knowledge.models import Article, Macro
from casework.notify.models import Outbox

pytestmark = pytest.mark.django_db


def test_write_search_and_read_an_article(client, alice):
    client.force_login(alice)
    response = client.post(
        "/kb/new/",
        {
            "title": "Clear the export cache",
            "body": "Run **cleanup**.",
            "category": "",
            "tags": "export, cache",
            "visibility": "public",
            "status": "published",
            "review_at": "2027-06-01",
        },
    )
    article = Article.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/kb/{article.pk}/"
    assert article.owner == alice and article.body_html == "<p>Run <strong>cleanup</strong>.</p>\n"
    page = client.get("/kb/", {"q": "expo"}).content.decode()
    assert "Clear the export cache" in page
    assert "<strong>cleanup</strong>" in client.get(f"/kb/{article.pk}/").content.decode()
    assert client.get("/kb/", {"status": "review"}).status_code == 200


def test_case_page_shows_suggestions_and_macros_and_composer_sends_a_macro_with_cc_and_file(
    client, alice, case
):
    services.article_create(
        title="Export crashes: clear the cache", body="Clear the export cache.", status="published"
    )
    macro = Macro.objects.create(
        name="Ask for logs", body="Hi {customer_name}, logs please.", add_tags=["needs-logs"]
    )
    client.force_login(alice)
    page = client.get(f"/cases/{case.reference}/").content.decode()
    # The panel is deferred: the page holds a placeholder that fetches it once the page has loaded.
    assert 'data-testid="deferred-knowledge"' in page and 'data-testid="kb-panel"' not in page
    assert f"/cases/{case.reference}/?part=panel&amp;name=knowledge" in page
    panel = client.get(f"/cases/{case.reference}/?part=panel&name=knowledge").content.decode()
    assert 'data-testid="kb-panel"' in panel and "Export crashes: clear the cache" in panel
    assert "Ask for logs" in panel
    assert client.get(f"/cases/{case.reference}/?part=panel&name=nope").status_code == 404
    preview = client.get(f"/kb/cases/{case.reference}/macros/{macro.pk}/").json()
    assert preview["text"] == "Hi Nora, logs please." and preview["changes"] == ["tags + needs-logs"]
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        f"/cases/{case.reference}/reply",
        {"body": "Hi Nora, logs please!", "internal": "", "macro": macro.pk, "cc": "lead@northwind.test",
         "attachments": SimpleUploadedFile("how-to.txt", b"steps", content_type="text/plain")},
    )  # fmt: skip
    assert response.status_code == 302
    message = Message.objects.filter(case=case, kind="reply").get()
    assert message.body == "Hi Nora, logs please!" and message.meta["macro"]["name"] == "Ask for logs"
    assert Attachment.objects.get(message=message).filename == "how-to.txt"
    assert Outbox.objects.get(message=message).cc == ["lead@northwind.test"]
    assert "needs-logs" in [t.name for t in case.tags.all()]


def test_write_an_article_from_a_resolved_case_button(client, alice, case):
    for to in ("in_progress", "resolved"):
        case_services.case_transition(case=case, to=to, actor=alice)
    client.force_login(alice)
    panel = client.get(f"/cases/{case.reference}/?part=panel&name=knowledge").content.decode()
    assert 'data-testid="article-from-case"' in panel
    response = client.post(f"/kb/from-case/{case.reference}/")
    article = Article.objects.get()
    assert response["Location"] == f"/kb/{article.pk}/edit/" and article.source_case == case


def test_pages_need_an_agent(client, mallory):
    assert client.get("/kb/").status_code == 302
    client.force_login(mallory)
    assert client.get("/kb/").status_code == 403


def test_draft_a_reply_from_the_case_page_then_send_it_edited_or_discard_it(client, manager_alice, bob, case):
    from casework.knowledge.models import DraftOutcome, ReplyDraft

    alice = manager_alice  # triage sends the test case to L2; a manager works every team's cases

    services.article_create(
        title="Export crashes: clear the cache", body="Clear the export cache.", status="published",
        visibility="public",
    )  # fmt: skip
    client.force_login(alice)
    page = client.get(f"/cases/{case.reference}/").content.decode()
    panel = client.get(f"/cases/{case.reference}/?part=panel&name=knowledge").content.decode()
    assert 'data-testid="draft-reply"' in panel and 'name="draft"' in page
    assert client.get(f"/kb/cases/{case.reference}/draft/").status_code == 405  # POST only
    proposed = client.post(f"/kb/cases/{case.reference}/draft/").json()
    assert proposed["ready"] is True and proposed["provider"] == "offline"
    assert proposed["sources"][0]["title"] == "Export crashes: clear the cache"
    assert not Message.objects.filter(case=case, kind="reply").exists()  # proposed, never sent
    assert client.get(f"/kb/drafts/{proposed['id']}/").json()["text"] == proposed["text"]

    sent = proposed["text"] + "\n\nPS: restart the app first."
    response = client.post(
        f"/cases/{case.reference}/reply", {"body": sent, "internal": "", "draft": proposed["id"]}
    )
    assert response.status_code == 302
    assert Message.objects.filter(case=case, kind="reply").get().body == sent
    assert ReplyDraft.objects.get(pk=proposed["id"]).outcome == DraftOutcome.EDITED

    other = client.post(f"/kb/cases/{case.reference}/draft/").json()
    assert client.post(f"/kb/drafts/{other['id']}/discard/").json()["outcome"] == DraftOutcome.DISCARDED
    bob.agent.teams.add(case.team)  # a teammate (another team's agent may only read the case)
    client.force_login(bob)
    third = client.post(f"/kb/cases/{case.reference}/draft/").json()
    client.post(
        f"/cases/{case.reference}/reply", {"body": third["text"], "internal": "", "draft": third["id"]}
    )
    assert ReplyDraft.objects.get(pk=third["id"]).outcome == DraftOutcome.SENT


def test_a_refused_reply_leaves_its_draft_proposed(client, alice, case):
    from casework.knowledge.models import DraftOutcome, ReplyDraft

    client.force_login(alice)
    proposed = client.post(f"/kb/cases/{case.reference}/draft/").json()
    client.post(
        f"/cases/{case.reference}/reply",
        {"body": "x", "internal": "", "draft": proposed["id"], "cc": "not an address"},
    )
    assert not Message.objects.filter(case=case, kind="reply").exists()
    assert ReplyDraft.objects.get(pk=proposed["id"]).outcome == DraftOutcome.PROPOSED
