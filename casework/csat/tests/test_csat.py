"""CSAT: the survey on resolution (once, in the write), signed one-click ratings, one answer per case
with a 7-day change window, low scores opening a review for the lead, closing a review."""

from __future__ import annotations

import re

import pytest
import time_machine
from django.urls import reverse

from casework.cases import services as case_services
from casework.cases.models import CaseEvent, EventKind
from casework.cases.status import Status
from casework.core.errors import Conflict, ValidationFailed
from casework.csat import links, services
from casework.csat.models import CsatAnswer, CsatReview, ReviewStatus
from casework.notify.models import Outbox
from casework.testing.factories import PASSWORD

pytestmark = pytest.mark.django_db


def resolve(case, agent):
    case_services.case_transition(case=case, to=Status.IN_PROGRESS, actor=agent)
    case_services.case_transition(case=case, to=Status.RESOLVED, actor=agent, reason="Fixed the export")
    case.refresh_from_db()
    return case


def survey_mails(case):
    return Outbox.objects.filter(case=case, dedup_key__startswith=f"csat:{case.pk}:")


def rating_links(mail) -> dict[int, str]:
    found = re.findall(r"(\d) – [^:]+: (http://\S+/rate/(\d)/)", mail.body_text)
    return {int(score): url for _, url, score in found}


@pytest.fixture
def lead(teams, case, alice, bob):
    team = teams[1]
    team.lead = bob
    team.save()
    bob.agent.role = "lead"  # leading a team and holding the lead role go together
    bob.agent.save(update_fields=["role"])
    case_services.case_set_team(case=case, team=team, actor=alice) if case.team_id != team.pk else None
    return bob


def test_resolution_queues_one_survey_with_five_signed_links(case, alice):
    resolve(case, alice)
    mail = survey_mails(case).get()
    assert mail.to == [case.customer.email]
    assert mail.headers["Auto-Submitted"] == "auto-generated"
    assert mail.dedup_key.startswith(f"csat:{case.pk}:1")
    assert sorted(rating_links(mail)) == [1, 2, 3, 4, 5]
    assert "/csat/survey/" in mail.body_text  # the comment page


def test_survey_not_sent_again_when_answered_or_resolved_by_the_customer(case, alice, customer):
    resolve(case, alice)
    services.csat_record(case=case, score=4)
    case_services.case_reopen(case=case, actor=alice, reason="Customer wrote back")
    case_services.case_transition(case=case, to=Status.RESOLVED, actor=alice)
    assert survey_mails(case).count() == 1  # one answer per case: no second survey


def test_reopened_unanswered_case_gets_a_survey_per_resolution(case, alice):
    resolve(case, alice)
    case_services.case_reopen(case=case, actor=alice, reason="again")
    case_services.case_transition(case=case, to=Status.RESOLVED, actor=alice)
    assert sorted(m.dedup_key.split(":")[2] for m in survey_mails(case)) == ["1", "2"]


def test_customer_resolving_in_the_portal_is_not_surveyed(case, alice, customer):
    from casework.portal.services import portal_close

    case_services.case_transition(case=case, to=Status.IN_PROGRESS, actor=alice)
    portal_close(customer=customer, case=case)
    case.refresh_from_db()
    assert case.status == Status.RESOLVED and not survey_mails(case).exists()


def test_survey_rolls_back_with_its_write(case, alice):
    from casework.cases.services.unit_of_work import unit_of_work

    case_services.case_transition(case=case, to=Status.IN_PROGRESS, actor=alice)
    with pytest.raises(RuntimeError), unit_of_work("boom"):
        case_services.case_transition(case=case, to=Status.RESOLVED, actor=alice)
        raise RuntimeError("crash before commit")
    assert not survey_mails(case).exists()


def test_one_click_records_the_score_with_an_event(client, case, alice):
    resolve(case, alice)
    url = rating_links(survey_mails(case).get())[4].removeprefix("http://127.0.0.1:8000")
    response = client.get(url)
    assert response.status_code == 200 and b"4/5" in response.content
    answer = CsatAnswer.objects.get(case=case)
    assert (answer.score, answer.resolution, answer.changes) == (4, 1, 0)
    event = CaseEvent.objects.filter(case=case, kind=EventKind.NOTE, data__csat__score=4).get()
    assert "rated the help 4/5" in event.reason and "(customer, survey)" in event.actor_label
    assert not CsatReview.objects.exists()


def test_a_later_click_within_7_days_changes_the_answer_then_it_is_locked(client, case, alice):
    resolve(case, alice)
    token = links.make_token(case.pk, 1)
    with time_machine.travel("2026-05-01 10:00Z", tick=False):
        client.get(reverse("csat:rate", args=[token, 5]))
    with time_machine.travel("2026-05-07 10:00Z", tick=False):
        assert client.get(reverse("csat:rate", args=[token, 3])).status_code == 200
    answer = CsatAnswer.objects.get(case=case)
    assert (answer.score, answer.changes) == (3, 1)
    assert CaseEvent.objects.filter(case=case, data__csat__previous=5, data__csat__score=3).exists()
    with time_machine.travel("2026-05-08 10:01Z", tick=False):
        response = client.get(reverse("csat:rate", args=[token, 1]))
    assert response.status_code == 409 and b"already rated" in response.content
    assert CsatAnswer.objects.get(case=case).score == 3
    assert CsatAnswer.objects.count() == 1


def test_same_click_twice_changes_nothing(client, case, alice):
    resolve(case, alice)
    token = links.make_token(case.pk, 1)
    client.get(reverse("csat:rate", args=[token, 4]))
    client.get(reverse("csat:rate", args=[token, 4]))
    assert CaseEvent.objects.filter(case=case, data__csat__isnull=False).count() == 1


def test_forged_and_expired_survey_links_are_refused(client, case, alice, settings):
    resolve(case, alice)
    token = links.make_token(case.pk, 1)
    assert client.get(reverse("csat:rate", args=[token + "x", 5])).status_code == 400
    other_salt = __import__("django.core.signing").core.signing.dumps({"k": case.pk, "n": 1}, salt="x")
    assert client.get(reverse("csat:rate", args=[other_salt, 5])).status_code == 400
    assert client.get(reverse("csat:rate", args=[token, 9])).status_code == 400
    assert client.get(reverse("csat:comment", args=["garbage"])).status_code == 400
    with time_machine.travel("2026-01-01 10:00Z", tick=False):
        old = links.make_token(case.pk, 1)
    with time_machine.travel("2026-03-01 10:00Z", tick=False):
        response = client.get(reverse("csat:rate", args=[old, 5]))
    assert response.status_code == 410 and b"survey has closed" in response.content
    assert not CsatAnswer.objects.exists()


def test_comment_page_saves_score_and_comment(client, case, alice):
    resolve(case, alice)
    token = links.make_token(case.pk, 1)
    assert client.get(reverse("csat:comment", args=[token])).status_code == 200
    response = client.post(reverse("csat:comment", args=[token]), {"score": "3", "comment": "Slow but OK"})
    assert response.status_code == 200 and b"Thank you" in response.content
    answer = CsatAnswer.objects.get(case=case)
    assert (answer.score, answer.comment) == (3, "Slow but OK")
    bad = client.post(reverse("csat:comment", args=[token]), {"score": "7"})
    assert bad.status_code == 422


def test_low_score_opens_a_review_and_notifies_the_lead(case, alice, lead):
    resolve(case, alice)
    services.csat_record(case=case, score=2, comment="Took a week")
    review = CsatReview.objects.get()
    assert (review.lead, review.opening_score, review.status) == (lead, 2, ReviewStatus.OPEN)
    from casework.notify.models import Notification

    assert Notification.objects.filter(user=lead, kind="low_csat", case=case).exists()
    event = CaseEvent.objects.get(case=case, data__csat__score=2)
    assert event.data["csat"]["review"] == review.pk and event.data["csat"]["threshold"] == 2
    # Changing the low score keeps the one review (the queue shows both scores).
    services.csat_record(case=case, score=1)
    assert CsatReview.objects.count() == 1


def test_threshold_is_a_setting(case, alice, settings):
    settings.CASEWORK = {**settings.CASEWORK, "CSAT_REVIEW_THRESHOLD": 3}
    resolve(case, alice)
    services.csat_record(case=case, score=3)
    assert CsatReview.objects.count() == 1


def test_invalid_scores_are_refused(case):
    for bad in (0, 6, "x", None):
        with pytest.raises(ValidationFailed):
            services.csat_record(case=case, score=bad)


def test_review_queue_for_leads_and_closing_a_review(client, case, alice, lead, mallory):
    resolve(case, alice)
    services.csat_record(case=case, score=1, comment="Nobody answered")
    review = CsatReview.objects.get()
    # Not a lead: refused. Not an agent: refused.
    client.login(username="alice", password=PASSWORD)
    assert client.get(reverse("csat:reviews")).status_code == 403
    assert (
        client.post(
            reverse("csat:review_close", args=[review.pk]), {"outcome": "coaching", "note": "x"}
        ).status_code
        == 403
    )
    client.login(username="mallory", password=PASSWORD)
    assert client.get(reverse("csat:reviews")).status_code == 403
    client.login(username="bob", password=PASSWORD)
    page = client.get(reverse("csat:reviews")).content.decode()
    assert case.reference in page and "Nobody answered" in page and "Reopened" in page
    assert "First response" in page or "no SLA clock" in page
    assert "Alice" in page  # agents involved
    refused = client.post(
        reverse("csat:review_close", args=[review.pk]), {"outcome": "coaching", "note": ""}, follow=True
    )
    assert b"write a note" in refused.content
    client.post(
        reverse("csat:review_close", args=[review.pk]),
        {"outcome": "coaching", "note": "Talk about first replies"},
    )
    review.refresh_from_db()
    assert (review.status, review.outcome, review.closed_by) == ("closed", "coaching", lead)
    assert CaseEvent.objects.filter(case=case, data__csat_review__outcome="coaching").exists()
    with pytest.raises(Conflict):
        services.csat_review_close(review=review, outcome="no_action", note="again", actor=lead)
    closed = client.get(reverse("csat:reviews") + "?status=closed").content.decode()
    assert "Talk about first replies" in closed


def test_review_queue_runs_a_fixed_number_of_queries(
    client, alice, lead, customer, django_assert_max_num_queries
):
    from casework.testing.factories import open_case

    for n in range(5):
        c = open_case(subject=f"Case {n}", customer=customer, team=lead.led_teams.first())
        resolve(c, alice)
        services.csat_record(case=c, score=1)
    client.login(username="bob", password=PASSWORD)
    with django_assert_max_num_queries(12):
        page = client.get(reverse("csat:reviews"))
    assert page.content.decode().count('class="panel csat-review"') == 5


def test_a_lead_of_another_team_sees_no_review_of_this_team(client, case, alice, lead, teams, carol):
    from casework.testing.factories import make_agent

    resolve(case, alice)
    services.csat_record(case=case, score=1)
    review = CsatReview.objects.get()
    other_lead = make_agent("olga", teams=[teams[3]], role="lead")
    teams[3].lead = other_lead
    teams[3].save()
    client.login(username="olga", password=PASSWORD)
    assert case.reference not in client.get(reverse("csat:reviews")).content.decode()
    closing = client.post(
        reverse("csat:review_close", args=[review.pk]), {"outcome": "no_action", "note": "x"}
    )
    assert closing.status_code == 404
    # Staff see every review.
    client.login(username="carol", password=PASSWORD)
    assert case.reference in client.get(reverse("csat:reviews")).content.decode()


def test_the_survey_is_queued_once_however_often_the_stage_reacts(case, alice):
    from casework.cases.services.unit_of_work import unit_of_work
    from casework.csat import reactions

    resolve(case, alice)
    resolved = CaseEvent.objects.filter(case=case, kind=EventKind.STATUS_CHANGED, new=Status.RESOLVED).get()
    for _ in range(2):  # a repeated reaction (doctor retry, a replayed write) finds the row's key
        with unit_of_work("replay") as work:
            work.lock(case)
            reactions.react(work, [resolved])
    assert survey_mails(case).count() == 1
