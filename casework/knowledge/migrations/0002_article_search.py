from django.db import migrations

# Article search: derived by the database from knowledge_article in the statement that writes it.
# English stemming here (porter / 'english'): customers' questions are paraphrases of the articles.
SQLITE_FORWARD = [
    """
    CREATE VIRTUAL TABLE knowledge_article_fts USING fts5(
        title, keywords, plain,
        content='knowledge_article', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER knowledge_article_ai AFTER INSERT ON knowledge_article BEGIN
        INSERT INTO knowledge_article_fts(rowid, title, keywords, plain)
        VALUES (new.id, new.title, new.keywords, new.plain);
    END
    """,
    """
    CREATE TRIGGER knowledge_article_ad AFTER DELETE ON knowledge_article BEGIN
        INSERT INTO knowledge_article_fts(knowledge_article_fts, rowid, title, keywords, plain)
        VALUES ('delete', old.id, old.title, old.keywords, old.plain);
    END
    """,
    """
    CREATE TRIGGER knowledge_article_au AFTER UPDATE OF title, keywords, plain ON knowledge_article BEGIN
        INSERT INTO knowledge_article_fts(knowledge_article_fts, rowid, title, keywords, plain)
        VALUES ('delete', old.id, old.title, old.keywords, old.plain);
        INSERT INTO knowledge_article_fts(rowid, title, keywords, plain)
        VALUES (new.id, new.title, new.keywords, new.plain);
    END
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS knowledge_article_au",
    "DROP TRIGGER IF EXISTS knowledge_article_ad",
    "DROP TRIGGER IF EXISTS knowledge_article_ai",
    "DROP TABLE IF EXISTS knowledge_article_fts",
]


def _vector(column: str, weight: str) -> str:
    return (
        f"setweight(to_tsvector('english'::regconfig, "
        f"regexp_replace(coalesce({column}, ''), '[[:punct:]]+', ' ', 'g')), '{weight}')"
    )


POSTGRES_FORWARD = [
    "ALTER TABLE knowledge_article ADD COLUMN document tsvector GENERATED ALWAYS AS ("
    + " || ".join([_vector("title", "A"), _vector("keywords", "B"), _vector("plain", "D")])
    + ") STORED",
    "CREATE INDEX knowledge_article_document ON knowledge_article USING gin (document)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS knowledge_article_document",
    "ALTER TABLE knowledge_article DROP COLUMN IF EXISTS document",
]


def _run(statements):
    def run(apps, schema_editor):
        for statement in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        )
    ]
