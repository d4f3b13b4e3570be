"""The pure engines: similarity ranking, incremental clustering, the robust z-score."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from casework.insights.similarity import Doc, assign_clusters, label, rank
from casework.insights.spikes import is_spike, robust_z

EXPORT = Doc(1, "CSV export crashes", "Exporting the report to CSV fails with error 500 since this morning.")
EXPORT_AGAIN = Doc(2, "Export to CSV fails", "The CSV export of my report gives error 500.")
PASSWORD = Doc(3, "Password reset mail never arrives", "I asked for a password reset twice, no mail.")
INVOICE = Doc(4, "Invoice address wrong", "Our invoice shows the old company address.")


def test_the_same_problem_in_other_words_ranks_first_and_explains_itself():
    matches = rank(EXPORT_AGAIN, [PASSWORD, EXPORT, INVOICE])
    assert matches[0].key == 1
    assert matches[0].score > matches[1].score
    assert "csv" in matches[0].shared and "export" in matches[0].shared
    assert "shared words" in matches[0].why() and "subject" in matches[0].why()


def test_rank_skips_the_query_itself_limits_and_thresholds():
    assert rank(EXPORT, [EXPORT]) == []
    assert rank(EXPORT, []) == []
    assert len(rank(EXPORT, [EXPORT_AGAIN, PASSWORD, INVOICE], limit=2)) == 2
    only = rank(EXPORT, [EXPORT_AGAIN, PASSWORD, INVOICE], min_score=0.3)
    assert [m.key for m in only] == [2]


def test_typos_still_match_through_character_ngrams():
    typo = Doc(9, "Exprot to CVS crashes", "exporting reprot fails eror 500")
    assert rank(typo, [PASSWORD, EXPORT, INVOICE])[0].key == 1


def test_only_stop_words_does_not_crash():
    assert rank(Doc(1, "the", "and or"), [Doc(2, "it is", "")])[0].word == 0.0


def test_new_cases_join_existing_clusters_or_found_their_own():
    clustered = [(EXPORT, 77)]
    out = assign_clusters(
        clustered,
        [EXPORT_AGAIN, PASSWORD, Doc(5, "Password reset mail missing", "no reset mail")],
        threshold=0.3,
    )
    by_key = {a.key: a for a in out}
    assert by_key[2].cluster == 77 and by_key[2].matched == 1
    assert by_key[3].cluster == ("new", 3) and by_key[3].matched is None
    # a new case can join a cluster founded earlier in the same run
    assert by_key[5].cluster == ("new", 3) and by_key[5].matched == 3
    assert assign_clusters(clustered, [], threshold=0.3) == []


def test_label_names_what_a_group_is_about():
    assert "csv" in label([EXPORT, EXPORT_AGAIN]) or "export" in label([EXPORT, EXPORT_AGAIN])
    assert label([]) == ""


words = st.text(alphabet="abcdefgh ", min_size=0, max_size=40)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(words, words), min_size=1, max_size=6), words)
def test_scores_are_bounded_and_sorted(docs, query):
    candidates = [Doc(i + 10, s, b) for i, (s, b) in enumerate(docs)]
    matches = rank(Doc(0, query, query), candidates)
    assert all(-1e-9 <= m.score <= 1 + 1e-9 for m in matches)
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)


def test_identical_text_scores_one():
    m = rank(EXPORT, [Doc(2, EXPORT.subject, EXPORT.body)])[0]
    assert abs(m.score - 1.0) < 1e-6


def test_robust_z_flat_series_is_zero_and_a_jump_is_a_spike():
    flat = robust_z(4, [4] * 28)
    assert flat.z == 0 and not is_spike(flat, min_z=3.5, min_count=5)
    jump = robust_z(20, [3, 4, 5, 4, 3, 5, 4] * 4)
    assert jump.median == 4 and jump.z > 10 and is_spike(jump, min_z=3.5, min_count=5)
    # quiet category: few cases above a zero baseline are not enough
    assert not is_spike(robust_z(3, [0] * 28), min_z=3.5, min_count=5)
    assert robust_z(5, []).z == 0


@given(st.lists(st.integers(0, 50), min_size=1, max_size=40), st.integers(0, 50))
def test_robust_z_is_monotonic_in_the_count(history, count):
    assert robust_z(count + 1, history).z > robust_z(count, history).z
