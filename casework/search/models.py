"""The search document of a case: the text that finds it, one row per case, written in the case's own write.

The row is the single thing casework writes; the database derives its index from it inside the same
statement: on SQLite an FTS5 table kept by triggers on this table (external content), on PostgreSQL a
generated `tsvector` column with a GIN index (migration 0001). So an insert, update or delete of a
document — and the delete Django cascades from a deleted case — changes the index in that transaction.
"""

from __future__ import annotations

from django.db import models


class CaseDocument(models.Model):
    case = models.OneToOneField(
        "cases.Case", on_delete=models.CASCADE, primary_key=True, related_name="search_document"
    )
    # "CW-000123 000123 123": every form of the reference an agent may type, as separate words.
    reference = models.TextField()
    subject = models.TextField()
    # Customer name and email (whole and split into its parts) and organisation.
    people = models.TextField(blank=True)
    tags = models.TextField(blank=True)
    # The description and every message (customer, reply, note, call), capped (see documents.py).
    body = models.TextField(blank=True)
    indexed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"search document of case {self.case_id}"
