"""@mentions: parsed when a note or reply is written (inside the door), stored as Mention rows, the named
agent told in the app and by email per their preferences, and listed under "Mentioning me"."""

import pytest

from casework.cases import services
from casework.cases.mentions import mentioned_handles
from casework.cases.models import Mention
from casework.notify.models import AgentPreference, Notification, Outbox
from casework.testing.factories import make_agent, open_case


def test_handles_are_parsed_without_email_addresses():
    text = "@Alice please ask ops@example.com, then @bob.smith and @alice again (cc: @carol_2)."
    assert mentioned_handles(text) == ["alice", "bob.smith", "carol_2"]
    assert mentioned_handles("no one here; email me at me@x.test") == []
    assert mentioned_handles("") == []


@pytest.mark.django_db
def test_note_mentions_are_stored_and_notify_by_app_and_email(alice, bob, case):
    message = services.case_add_message(
        case=case, kind="note", body="@Bob can you check? Not @alicesmith, not bob@example.com", actor=alice
    )
    mentions = list(Mention.objects.all())
    assert [(m.user, m.author, m.message_id, m.case_id) for m in mentions] == [
        (bob, alice, message.pk, case.pk)
    ]
    event = case.events.get(kind="message_added", message=message)
    assert event.data["mentions"] == ["bob"]
    note = Notification.objects.get(kind="mentioned")
    assert note.user == bob and "an internal note" in note.body
    assert Outbox.objects.filter(kind="mentioned", recipient=bob.email).count() == 1


@pytest.mark.django_db
def test_reply_mentions_by_first_name_and_preferences_are_kept(alice, bob, case):
    AgentPreference.objects.create(user=bob, muted_channels=["email"])
    bob.first_name = "Roberto"
    bob.save()
    services.case_add_message(case=case, kind="reply", body="Thanks! @roberto will follow up.", actor=alice)
    assert Mention.objects.get().user == bob
    assert "a public reply" in Notification.objects.get(kind="mentioned", user=bob).body
    assert not Outbox.objects.filter(kind="mentioned").exists()  # bob turned email off


@pytest.mark.django_db
def test_self_customer_and_unknown_mentions_are_not_stored(alice, bob, case, teams):
    make_agent("dora", teams=[teams[1]])
    services.case_add_message(case=case, kind="note", body="note to self @alice; @nobody", actor=alice)
    services.case_add_message(case=case, kind="customer", body="Hi @alice and @bob")
    assert not Mention.objects.exists()
    assert not Notification.objects.filter(kind="mentioned").exists()


@pytest.mark.django_db
def test_mentioned_me_lists_mention_rows_not_text(client, alice, bob, customer):
    from casework.testing.factories import PASSWORD

    named = open_case(subject="Bob asks Alice", customer=customer)
    services.case_add_message(case=named, kind="note", body="@alice VAT id?", actor=bob)
    lookalike = open_case(subject="Lookalike", customer=customer)
    services.case_add_message(case=lookalike, kind="note", body="ask @alicesmith", actor=bob)
    client.login(username="alice", password=PASSWORD)
    html = client.get("/", {"view": "mentioned"}).content.decode()
    assert "Bob asks Alice" in html and "Lookalike" not in html
