from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from casework.intake.parsing import ParsedMessage, parse_message
from casework.intake.signing import find_reply_token, make_message_id, make_reply_token, verify_message_id
from casework.intake.tests.mailbuilder import build_bounce, build_mail
from casework.intake.threading import CaseRef, ThreadDecision, classify, decide_thread

KEY = b"test-secret-key"
CASE_A = CaseRef(1, "CW-000001")
CASE_B = CaseRef(2, "CW-000002")
CASE_C = CaseRef(3, "CW-000003")


class FakeLookup:
    def __init__(self) -> None:
        self.cases = {c.id: c for c in (CASE_A, CASE_B, CASE_C)}
        self.known_ids = {"known-b@mail.test": CASE_B, "known-c@mail.test": CASE_C}
        self.members = {CASE_C.id: {"carol@customer.test"}}

    def case_for_message_ids(self, ids: Sequence[str]) -> CaseRef | None:
        return next((self.known_ids[i] for i in ids if i in self.known_ids), None)

    def case_for_reference(self, ref: str) -> CaseRef | None:
        return next((c for c in self.cases.values() if c.reference == ref), None)

    def sender_belongs(self, case: CaseRef, address: str) -> bool:
        return address in self.members.get(case.id, set())

    def case_exists(self, case_id: int) -> CaseRef | None:
        return self.cases.get(case_id)


def _mail(**changes: object) -> ParsedMessage:
    base = parse_message(build_mail(sender="carol@customer.test", subject="Help", text="Hi\n"))
    return replace(base, **changes)


def _decide(parsed: ParsedMessage) -> ThreadDecision:
    return decide_thread(parsed, key=KEY, lookup=FakeLookup())


def _signed(case_id: int) -> str:
    return make_message_id(case_id=case_id, nonce="n1", key=KEY, domain="casework.test")


def test_signed_message_id_wins_over_everything() -> None:
    parsed = _mail(
        in_reply_to=["known-b@mail.test"],
        references=[_signed(1)],
        text_body=make_reply_token(3, KEY),
        subject="Re: CW-000003",
    )
    decision = _decide(parsed)
    assert decision.case == CASE_A and decision.matched_by == "signed_message_id"
    assert decision.evidence == f"References <{_signed(1)}> is our reply on CW-000001"


def test_known_message_id_in_reply_to_before_references() -> None:
    decision = _decide(_mail(in_reply_to=["known-c@mail.test"], references=["known-b@mail.test"]))
    assert (decision.case, decision.matched_by) == (CASE_C, "references")
    assert decision.evidence == "In-Reply-To <known-c@mail.test> is a known message on CW-000003"


def test_newest_reference_first() -> None:
    decision = _decide(_mail(references=["known-b@mail.test", "unknown@x", "known-c@mail.test"]))
    assert decision.case == CASE_C


def test_body_token_when_headers_were_dropped() -> None:
    text = f"Thanks!\n\n> On Monday support wrote:\n> {make_reply_token(2, KEY)}\n"
    decision = _decide(_mail(text_body=text, subject="Re: CW-000003"))
    assert (decision.case, decision.matched_by) == (CASE_B, "body_token")


def test_subject_reference_from_member_of_customer() -> None:
    decision = _decide(_mail(subject="Re: [CW-000003] printer"))
    assert (decision.case, decision.matched_by) == (CASE_C, "subject_reference")
    assert "carol@customer.test" in decision.evidence


def test_subject_reference_from_foreign_sender_is_rejected_with_reason() -> None:
    decision = _decide(_mail(subject="Re: CW-000003", from_address="mallory@evil.test"))
    assert decision.case is None and decision.matched_by == "new_case"
    assert decision.rejected == [
        "subject reference CW-000003 from a sender outside the customer (mallory@evil.test)"
    ]


def test_forged_signature_is_rejected_and_recorded() -> None:
    forged = _signed(1).replace("cw.1.", "cw.2.")
    decision = _decide(_mail(in_reply_to=[forged]))
    assert decision.matched_by == "new_case"
    assert decision.rejected and "does not verify" in decision.rejected[0]


def test_signature_from_another_key_is_not_ours() -> None:
    other = make_message_id(case_id=1, nonce="n1", key=b"other-key", domain="casework.test")
    assert verify_message_id(other, KEY) is None
    assert find_reply_token(make_reply_token(1, b"other-key"), KEY) is None


def test_signed_id_for_deleted_case_falls_through() -> None:
    decision = _decide(_mail(in_reply_to=[_signed(99)], references=["known-b@mail.test"]))
    assert decision.case == CASE_B and decision.matched_by == "references"
    assert any("no longer exists" in r for r in decision.rejected)


def test_no_signal_means_new_case() -> None:
    decision = _decide(_mail())
    assert decision == ThreadDecision(None, "new_case", "no threading signal matched", [])


def test_message_id_round_trip_and_format() -> None:
    msgid = make_message_id(case_id=123, nonce="abc_9", key=KEY, domain="casework.test")
    assert msgid.startswith("cw.123.abc_9.") and msgid.endswith("@casework.test")
    assert verify_message_id(msgid, KEY) == 123
    assert verify_message_id(f"<{msgid}>", KEY) == 123
    assert make_reply_token(123, KEY).startswith("[cw-ref:123-")
    assert find_reply_token(f"blah {make_reply_token(123, KEY)} blah", KEY) == 123


def test_classify() -> None:
    assert classify(_mail()) == "normal"
    assert classify(parse_message(build_mail(headers={"Auto-Submitted": "auto-replied"}))) == "auto_reply"
    assert classify(parse_message(build_bounce(original_message_id="x@y"))) == "bounce"


@given(
    case_id=st.integers(min_value=0, max_value=10**12),
    position=st.integers(min_value=0, max_value=200),
    char=st.characters(codec="ascii", exclude_categories=("Cc",)),
)
def test_tampered_message_id_never_verifies(case_id: int, position: int, char: str) -> None:
    msgid = make_message_id(case_id=case_id, nonce="n0nce", key=KEY, domain="casework.test")
    local = msgid.split("@", 1)[0]
    index = position % len(local)
    tampered = local[:index] + char + local[index + 1 :] + "@casework.test"
    if tampered == msgid:
        return
    assert verify_message_id(tampered, KEY) is None


@given(
    case_id=st.integers(min_value=0, max_value=10**12),
    forged=st.text("abcdefghijklmnopqrstuvwxyz234567", min_size=16, max_size=16),
)
def test_random_signature_never_verifies(case_id: int, forged: str) -> None:
    real = make_message_id(case_id=case_id, nonce="n", key=KEY, domain="d.test")
    candidate = f"cw.{case_id}.n.{forged}@d.test"
    assert verify_message_id(candidate, KEY) == (case_id if candidate == real else None)
