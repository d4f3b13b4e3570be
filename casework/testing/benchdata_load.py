"""The bulk generator's load tricks (`benchdata.generate` calls them), each measured in docs/scaling.md:
secondary indexes dropped for the load and rebuilt (their definitions saved first, so a killed run gets
them back), foreign-key checks off, SQLite without fsync per batch, fresh statistics at the end."""

from __future__ import annotations

from django.db import connection, models

SAVED_TABLE = "casework_benchdata_indexes"


def drop_indexes(bulk: list[type[models.Model]]) -> list[tuple[str, str]]:
    """Drop the non-unique secondary indexes of the bulk tables; their definitions are kept in a small
    table first, so a run killed halfway gets them back from the next run (`restore_saved_indexes`)."""
    tables = [m._meta.db_table for m in bulk]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
                "WHERE t.relname = ANY(%s) AND NOT i.indisunique AND NOT i.indisprimary "
                "AND t.relnamespace = to_regnamespace(current_schema())::oid ORDER BY 1",
                [tables],
            )
        else:
            marks = ", ".join(["%s"] * len(tables))
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                f"AND tbl_name IN ({marks}) AND sql NOT LIKE 'CREATE UNIQUE%%' ORDER BY 1",
                tables,
            )
        found = [(name, sql) for name, sql in cursor.fetchall()]
        if not found:
            return []
        quote = connection.ops.quote_name
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {SAVED_TABLE} (name varchar(200) PRIMARY KEY, sql text)")
        cursor.executemany(f"INSERT INTO {SAVED_TABLE} (name, sql) VALUES (%s, %s)", found)
        for name, _ in found:
            cursor.execute(f"DROP INDEX {quote(name)}")
    return found


def create_indexes(dropped: list[tuple[str, str]]) -> None:
    with connection.cursor() as cursor:
        for name, sql in dropped:
            cursor.execute(sql)
            cursor.execute(f"DELETE FROM {SAVED_TABLE} WHERE name = %s", [name])
        cursor.execute(f"DROP TABLE {SAVED_TABLE}")


def restore_saved_indexes() -> None:
    """Indexes a killed run dropped (their definitions wait in the saved table): build them again."""
    tables = connection.introspection.table_names()
    if SAVED_TABLE not in tables:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT name, sql FROM {SAVED_TABLE}")
        saved = cursor.fetchall()
    create_indexes(saved)


def fk_triggers_off() -> bool:
    """Foreign-key checks off for the load: the generator writes keys it made itself.

    PostgreSQL checks every foreign key of every copied row at commit (one trigger call per row and
    key); as a superuser the load skips them (`session_replication_role = replica`: no FK or user
    triggers, and the bulk tables have no others); anyone else keeps the checks. SQLite
    (`PRAGMA foreign_keys = OFF`, outside any transaction) would otherwise look for the children of
    every case it inserts after its messages (deferred checks), which without the child's index on
    case_id is a scan of the child table per case."""
    if connection.in_atomic_block:
        return False
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA foreign_keys = OFF")
            return True
        if connection.vendor != "postgresql":
            return False
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
        if not row or not row[0]:
            return False
        cursor.execute("SET session_replication_role = replica")
    return True


def fk_triggers_on() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA foreign_keys = ON")
        else:
            cursor.execute("SET session_replication_role = DEFAULT")


def fast_load_begin() -> dict:
    """SQLite: no fsync per batch during the load (the file is synced at the end); the WAL stays."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return {}
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        before = cursor.fetchone()[0]
        cursor.execute("PRAGMA synchronous = OFF")
        cursor.execute("PRAGMA cache_size = -262144")  # 256 MB page cache for the index builds
    return {"synchronous": before}


def fast_load_end(state: dict) -> None:
    if connection.vendor != "sqlite" or not state:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA synchronous = {int(state['synchronous'])}")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def analyze() -> None:
    """Fresh planner statistics: both databases choose indexes by them once they exist. On PostgreSQL
    also VACUUM, as autovacuum does to a settled table: without the visibility map an index-only scan
    visits the heap for every row (the API list's capped count read 10,001 heap pages, 20 ms at 1M)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and connection.get_autocommit():
            cursor.execute("VACUUM (ANALYZE)")
        else:
            cursor.execute("ANALYZE")
