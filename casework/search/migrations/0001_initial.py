import django.db.models.deletion
from django.db import migrations, models

# The index is derived by the database from search_casedocument inside the statement that writes a
# document, so it can never lag behind the transaction that changed the case.
SQLITE_FORWARD = [
    """
    CREATE VIRTUAL TABLE search_case_fts USING fts5(
        reference, subject, people, tags, body,
        content='search_casedocument', content_rowid='case_id',
        tokenize='unicode61 remove_diacritics 2', prefix='2 3'
    )
    """,
    """
    CREATE TRIGGER search_casedocument_ai AFTER INSERT ON search_casedocument BEGIN
        INSERT INTO search_case_fts(rowid, reference, subject, people, tags, body)
        VALUES (new.case_id, new.reference, new.subject, new.people, new.tags, new.body);
    END
    """,
    """
    CREATE TRIGGER search_casedocument_ad AFTER DELETE ON search_casedocument BEGIN
        INSERT INTO search_case_fts(search_case_fts, rowid, reference, subject, people, tags, body)
        VALUES ('delete', old.case_id, old.reference, old.subject, old.people, old.tags, old.body);
    END
    """,
    """
    CREATE TRIGGER search_casedocument_au AFTER UPDATE ON search_casedocument BEGIN
        INSERT INTO search_case_fts(search_case_fts, rowid, reference, subject, people, tags, body)
        VALUES ('delete', old.case_id, old.reference, old.subject, old.people, old.tags, old.body);
        INSERT INTO search_case_fts(rowid, reference, subject, people, tags, body)
        VALUES (new.case_id, new.reference, new.subject, new.people, new.tags, new.body);
    END
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS search_casedocument_au",
    "DROP TRIGGER IF EXISTS search_casedocument_ad",
    "DROP TRIGGER IF EXISTS search_casedocument_ai",
    "DROP TABLE IF EXISTS search_case_fts",
]


def _vector(column: str, weight: str) -> str:
    # Punctuation becomes spaces first, so PostgreSQL's parser sees the words the query parser sees
    # (otherwise 'nora@example.com' or '2.5' would be single tokens no typed word matches).
    return (
        f"setweight(to_tsvector('simple'::regconfig, "
        f"regexp_replace(coalesce({column}, ''), '[[:punct:]]+', ' ', 'g')), '{weight}')"
    )


POSTGRES_FORWARD = [
    "ALTER TABLE search_casedocument ADD COLUMN document tsvector GENERATED ALWAYS AS ("
    + " || ".join(
        [
            _vector("reference", "A"),
            _vector("subject", "A"),
            _vector("tags", "B"),
            _vector("people", "C"),
            _vector("body", "D"),
        ]
    )
    + ") STORED",
    "CREATE INDEX search_casedocument_document ON search_casedocument USING gin (document)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS search_casedocument_document",
    "ALTER TABLE search_casedocument DROP COLUMN IF EXISTS document",
]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        for statement in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    initial = True

    dependencies = [("cases", "0004_config_version")]

    operations = [
        migrations.CreateModel(
            name="CaseDocument",
            fields=[
                (
                    "case",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="search_document",
                        serialize=False,
                        to="cases.case",
                    ),
                ),
                ("reference", models.TextField()),
                ("subject", models.TextField()),
                ("people", models.TextField(blank=True)),
                ("tags", models.TextField(blank=True)),
                ("body", models.TextField(blank=True)),
                ("indexed_at", models.DateTimeField()),
            ],
        ),
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        ),
    ]
