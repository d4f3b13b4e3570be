"""The database side of threading: what `intake.threading.decide_thread` asks, answered from the tables."""

from __future__ import annotations

import re
from collections.abc import Sequence

from casework.cases.models import Case, Message
from casework.people.models import Customer, OrganisationDomain

from .parsing import ParsedMessage
from .threading import CaseRef


class DbThreadLookup:
    """`intake.threading.ThreadLookup` backed by the database (Message.message_id is unique and indexed).

    What the mails being ingested together can ask is read up front, one query per kind: every id in
    their In-Reply-To/References, and every case reference in their subjects (with the case's customer
    and organisation for the sender check). A batch, or a long References chain, costs one round trip
    instead of one per id; anything not read up front is looked up when asked."""

    def __init__(self, parsed: Sequence[ParsedMessage] = (), reference_pattern: str | None = None) -> None:
        ids = list(dict.fromkeys(i for p in parsed for i in [*p.in_reply_to, *p.references][:200]))
        self._asked = set(ids)
        self._known: dict[str, CaseRef] = {}
        for start in range(0, len(ids), 500):
            rows = Message.objects.filter(message_id__in=ids[start : start + 500]).values_list(
                "message_id", "case_id", "case__reference"
            )
            self._known.update((mid, CaseRef(case_id, ref)) for mid, case_id, ref in rows)
        refs = set()
        if reference_pattern:
            refs = {
                m.group(0).upper()
                for p in parsed
                for m in re.finditer(reference_pattern, p.subject, re.IGNORECASE)
            }
        self._asked_refs = refs
        self._cases: dict[str, dict] = {}
        if refs:
            rows = Case.objects.filter(reference__in=refs).values(
                "id", "reference", "customer__email", "organisation_id"
            )
            self._cases = {row["reference"]: row for row in rows}
        self._by_id = {row["id"]: row for row in self._cases.values()}

    def case_for_message_ids(self, ids) -> CaseRef | None:
        ids = list(ids)
        if set(ids) <= self._asked:
            return next((self._known[i] for i in ids if i in self._known), None)
        row = (
            Message.objects.filter(message_id__in=list(ids))
            .order_by("id")
            .values("case_id", "case__reference")
            .first()
        )
        return CaseRef(row["case_id"], row["case__reference"]) if row else None

    def case_for_reference(self, ref: str) -> CaseRef | None:
        if ref in self._asked_refs:
            row = self._cases.get(ref)
        else:
            row = Case.objects.filter(reference=ref).values("id", "reference").first()
        return CaseRef(row["id"], row["reference"]) if row else None

    def case_exists(self, case_id: int) -> CaseRef | None:
        return self.case_for_id(case_id)

    def case_for_id(self, case_id: int) -> CaseRef | None:
        row = Case.objects.filter(pk=case_id).values("id", "reference").first()
        return CaseRef(row["id"], row["reference"]) if row else None

    def sender_belongs(self, case: CaseRef, address: str) -> bool:
        """The case's customer, or anyone of the same organisation (by customer record or email domain)."""
        row = self._by_id.get(case.id) or (
            Case.objects.filter(pk=case.id).values("customer__email", "organisation_id").first()
        )
        if row is None:
            return False
        address = address.lower()
        if row["customer__email"].lower() == address:
            return True
        org = row["organisation_id"]
        if org is None:
            return False
        domain = address.rpartition("@")[2]
        return (
            OrganisationDomain.objects.filter(organisation_id=org, domain=domain).exists()
            or Customer.objects.filter(email__iexact=address, organisation_id=org).exists()
        )
