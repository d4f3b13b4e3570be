"""Case search on the database the suite runs on (SQLite by default; `test_search_postgres.py` runs this
module again on PostgreSQL). What the issue asks: a word only in a note, a reply, a call or a tag finds its
case; a partial reference finds it; the exact reference ranks first; edits, moves and deletes change the
index in the same transaction; filters combine with the query; highlighted excerpts; typo correction."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from casework.cases import selectors, services
from casework.cases.models import Case
from casework.search import index
from casework.search.models import CaseDocument
from casework.search.selectors import correct, hits, matching, ranked
from casework.testing.factories import CustomerFactory, OrganisationFactory, open_case

pytestmark = pytest.mark.django_db


def found(text: str, qs=None) -> list[str]:
    return list(
        ranked(qs if qs is not None else Case.objects.all(), text).values_list("reference", flat=True)
    )


def test_a_new_case_is_indexed_by_its_own_write(case):
    doc = CaseDocument.objects.get(case=case)
    assert doc.subject == "Export crashes"
    assert "nora@northwind.test" in doc.people and "Northwind" in doc.people
    assert found("export") == [case.reference]
    assert found("crash") == [case.reference]  # prefix: 'crash' finds 'crashes'
    assert found("northwind") == [case.reference]
    assert found("nora@northwind.test") == [case.reference]
    assert found("zebra") == []


def test_new_cases_are_indexed_from_the_write_itself_as_a_rebuild_would_index_them(alice):
    customer = CustomerFactory()
    openings = [
        services.Opening(subject=f"Batch {n}", description=f"Body of case {n}", customer=customer)
        for n in range(3)
    ] + [services.Opening(subject="No text", description="", customer=customer)]
    with CaptureQueriesContext(connection) as seen:
        opened = services.case_open_many(openings)
    # The write holds every message of the cases it opened: it does not read them back for the index.
    assert not [q for q in seen.captured_queries if '"cases_message"."body" FROM' in q["sql"]]
    cases = [case for case, _ in opened]
    in_write = {d.case_id: (d.people, d.tags, d.body) for d in CaseDocument.objects.filter(case__in=cases)}
    index.reindex(
        cases=Case.objects.select_related("customer", "organisation").filter(pk__in=[c.pk for c in cases])
    )
    rebuilt = {d.case_id: (d.people, d.tags, d.body) for d in CaseDocument.objects.filter(case__in=cases)}
    assert in_write == rebuilt and "Body of case 2" in rebuilt[cases[2].pk][2]


@pytest.mark.parametrize(
    "kind,word",
    [("note", "flamingo"), ("reply", "kangaroo"), ("customer", "pelican")],
)
def test_a_word_only_in_a_message_finds_its_case(case, alice, kind, word):
    other = open_case(subject="Something else", description="Unrelated")
    assert found(word) == []
    services.case_add_message(case=case, kind=kind, body=f"Checked the {word} logs.", actor=alice)
    assert found(word) == [case.reference]
    assert other.reference not in found(word)


def test_a_word_only_in_a_call_or_a_tag_finds_its_case(case, alice, customer):
    services.case_log_call(
        customer=customer, case=case, summary="Walked through the armadillo settings", direction="inbound",
        duration_seconds=60, actor=alice,
    )  # fmt: skip
    services.case_set_tags(case=case, add=["quokka-migration"], actor=alice)
    assert found("armadillo") == [case.reference]
    assert found("quokka") == [case.reference]
    services.case_set_tags(case=case, remove=["quokka-migration"], actor=alice)
    assert found("quokka") == []


def test_references_full_partial_and_padded_find_the_case_and_the_exact_one_ranks_first():
    cases = [open_case(subject=f"Printer {i}") for i in range(3)]
    target = cases[1]
    # Another case that mentions the target's number in its text must not outrank the target.
    mention = open_case(subject="Printer", description=f"Same as {target.number} and {target.reference}")
    for text in (target.reference, target.reference.lower(), str(target.number), f"{target.number:06d}",
                 target.reference.replace("-", ""), f"CW-{target.number}"):  # fmt: skip
        result = found(text)
        assert result[0] == target.reference, (text, result)
        assert mention.reference in result
    partial = f"{target.number:06d}"[:4]
    assert target.reference in found(partial)


def test_subject_matches_rank_above_text_matches(alice):
    in_body = open_case(subject="Question", description="The walrus report is late")
    in_subject = open_case(subject="Walrus report late", description="See title")
    assert found("walrus") == [in_subject.reference, in_body.reference]
    services.case_add_message(case=in_body, kind="note", body="walrus walrus walrus", actor=alice)
    assert found("walrus")[0] == in_subject.reference


def test_every_word_must_match_and_filters_combine_with_the_query(alice):
    a = open_case(subject="Invoice export broken", description="")
    b = open_case(subject="Invoice missing", description="")
    services.case_set_priority(case=b, priority="critical", actor=alice)
    assert found("invoice export") == [a.reference]
    assert set(found("invoice")) == {a.reference, b.reference}
    qs = selectors.case_list(
        filters=selectors.CaseFilter(view="all", q="invoice", priority=["critical"], ordering="relevance")
    )
    assert [c.reference for c in qs] == [b.reference]
    assert qs.count() == 1


def test_subject_edit_reindexes_and_a_rolled_back_write_leaves_the_index_as_it_was(case, alice):
    services.case_update(case=case, subject="Platypus outage", actor=alice)
    assert found("platypus") == [case.reference]
    assert found("crashes") == []  # only the old subject had it
    with pytest.raises(RuntimeError), transaction.atomic():
        services.case_add_message(case=case, kind="note", body="narwhal", actor=alice)
        assert found("narwhal") == [case.reference]  # visible inside the writing transaction
        raise RuntimeError("roll back")
    assert found("narwhal") == []


def test_delete_removes_the_document_in_the_same_transaction(case):
    with pytest.raises(RuntimeError), transaction.atomic():
        Case.objects.filter(pk=case.pk).delete()
        assert found("export") == []
        assert not CaseDocument.objects.filter(case_id=case.pk).exists()
        raise RuntimeError("roll back")
    assert found("export") == [case.reference]
    Case.objects.filter(pk=case.pk).delete()
    assert found("export") == []
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM search_case_fts WHERE search_case_fts MATCH 'export'")
            assert cursor.fetchone()[0] == 0


def test_merge_and_message_move_carry_the_words_to_the_other_case(alice):
    source = open_case(subject="Duplicate", description="about the gecko")
    target = open_case(subject="Original", description="first")
    services.case_merge(source=source, target=target, actor=alice)
    # The description stays with the duplicate; its messages move.
    assert target.reference in found("gecko") or source.reference in found("gecko")
    a = open_case(subject="A", description="x")
    b = open_case(subject="B", description="y")
    message = services.case_add_message(case=a, kind="customer", body="the ocelot question", actor=alice)
    assert found("ocelot") == [a.reference]
    services.message_move(message=message, target=b, actor=alice)
    assert found("ocelot") == [b.reference]


def test_hits_highlight_the_words_escaped(alice):
    c = open_case(
        subject="Login <b>fails</b>", description="x " * 200 + "the lemur token expired " + "y " * 50
    )
    (hit,) = hits([c], "lemur").values()
    assert "<mark>lemur</mark>" in hit.excerpt and hit.excerpt.startswith("…")
    (hit,) = hits([c], "fail").values()
    assert hit.subject == "Login &lt;b&gt;<mark>fails</mark>&lt;/b&gt;"


def test_typo_correction_for_short_queries():
    c = open_case(subject="Password reset email never arrives")
    assert found("pasword") == []
    assert correct("pasword") == "password"
    assert found(correct("pasword")) == [c.reference]
    assert correct("password") is None
    assert correct("zzzzqqq") is None


def test_punctuation_only_query_finds_nothing_and_empty_query_everything(case):
    assert found("!!!") == []
    assert matching(Case.objects.all(), "").count() == Case.objects.count()


def test_backfill_builds_missing_documents(case):
    other = open_case(subject="Aardvark", description="x")
    CaseDocument.objects.all().delete()
    assert found("aardvark") == []
    assert index.backfill(batch=1, only_missing=True) == 2
    assert found("aardvark") == [other.reference]
    assert index.backfill(only_missing=True) == 0


def test_queue_view_and_api_use_the_search(client, api, alice, case):
    services.case_add_message(case=case, kind="reply", body="Try the hedgehog workaround", actor=alice)
    open_case(subject="Unrelated", customer=CustomerFactory(organisation=OrganisationFactory()))
    client.force_login(alice)
    page = client.get("/", {"q": "hedgehog", "view": "all"}).content.decode()
    assert case.reference in page and "<mark>hedgehog</mark>" in page
    body = api.get("/api/v1/cases", {"q": "hedgehog"}).json()
    assert [item["reference"] for item in body["items"]] == [case.reference]
    body = api.get("/api/v1/search/cases", {"q": "hedgehog"}).json()
    assert body["items"][0]["reference"] == case.reference
    assert "<mark>hedgehog</mark>" in body["items"][0]["excerpt"]
    body = api.get("/api/v1/search/cases", {"q": "hedgehgo"}).json()
    assert body["corrected_query"] == "hedgehog" or body["items"] == []


def test_backfill_command(case):
    from io import StringIO

    from django.core.management import call_command

    CaseDocument.objects.all().delete()
    out = StringIO()
    call_command("search-backfill", "--missing", stdout=out)
    assert out.getvalue().startswith("1 case documents written")
    assert found("export") == [case.reference]


def test_a_broad_search_ranks_only_the_newest_matches_after_the_filters(settings, alice):
    """CASEWORK_SEARCH_RANK_LIMIT: more matches than the limit → the newest `limit` of the filtered
    matches, best first, and the cut is reported; the exact reference always stays in."""
    from casework.search.selectors import ranked_window

    settings.CASEWORK = {**settings.CASEWORK, "SEARCH_RANK_LIMIT": 2}
    old_subject = open_case(subject="Narwhal sync fails", description="x")
    older = open_case(subject="Misc", description="a narwhal note")
    newer = [open_case(subject="Misc", description=f"narwhal again {i}") for i in range(2)]
    qs, cut = ranked_window(Case.objects.all(), "narwhal")
    assert cut is True
    assert set(qs.values_list("reference", flat=True)) == {c.reference for c in newer}
    qs, cut = ranked_window(Case.objects.all(), "narwhal", limit=10)
    assert cut is False and qs.count() == 4
    assert qs.first() == old_subject  # a subject match ranks first when every match is ranked
    # The filters narrow before the cut: the older matches of a filtered search are still found.
    services.case_transition(case=older, to="in_progress", actor=alice)
    qs, cut = ranked_window(Case.objects.filter(status="in_progress"), "narwhal")
    assert cut is False and list(qs) == [older]
    # The queue's path reports the cut, and a reference query keeps its case whatever the limit.
    qs, cut = selectors.case_list_window(
        filters=selectors.CaseFilter(view="all", q="narwhal", ordering="relevance")
    )
    assert cut is True and qs.count() == 2
    ref = old_subject.reference
    qs, _ = ranked_window(Case.objects.all(), f"{ref} narwhal", limit=1)
    assert qs.first() == old_subject


def test_the_queue_and_the_api_say_when_a_search_was_cut(settings, client, api, alice):
    settings.CASEWORK = {**settings.CASEWORK, "SEARCH_RANK_LIMIT": 2}
    for i in range(3):
        open_case(subject=f"Okapi {i}", description="x")
    client.force_login(alice)
    page = client.get("/", {"q": "okapi", "view": "all"}).content.decode()
    assert 'data-testid="search-cut"' in page
    assert api.get("/api/v1/cases", {"q": "okapi"}).json()["search_cut"] is True
    body = api.get("/api/v1/search/cases", {"q": "okapi"}).json()
    assert body["search_cut"] is True and body["count"] == 2
    assert api.get("/api/v1/cases", {"q": "okapi", "ordering": "newest"}).json()["count"] == 3
