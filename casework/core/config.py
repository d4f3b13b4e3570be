"""Caches of configuration (rules, SLA policies, categories, teams, skills) that are never stale.

Every write reads the same few configuration tables, and reading them cost more statements than the
write itself. They change rarely, but when an admin edits one, every process must see it at once — also
after a queryset `.update()`, an edit from another machine or a rolled-back transaction. So the database
keeps one number, `casework_config_version.version`, that triggers on every watched table set to a fresh
random value on any insert, update or delete (random, not a counter: a rolled-back edit restores the old
value, and the next edit must not land on a number some process already cached different rows under).
One read of that number per write tells whether a cached value still holds.

    rules = config.cached("triage-rules", load_rules)   # load_rules() runs once per version

Add a table with `watch_tables(...)` in a migration (see cases/migrations/0004_config_version.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.db import connection, migrations

T = TypeVar("T")

TABLE = "casework_config_version"

_lock = threading.Lock()
_cache: dict[tuple[str, str], tuple[int, Any]] = {}
_pinned: ContextVar[int | None] = ContextVar("casework_config_pinned", default=None)


def version() -> int:
    """The configuration's version: one query, or none when this write already read it or a read-only
    block pinned it (`pinned()`). 0 means the row is missing (a test database just flushed): nothing is
    cached then."""
    from casework.cases.services.unit_of_work import current

    work = current()
    if work is not None and "version" in work.scratch["config"]:
        return work.scratch["config"]["version"]
    if work is None and (held := _pinned.get()) is not None:
        return held
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT version FROM {TABLE} WHERE id = 1")
        row = cursor.fetchone()
    value = row[0] if row else 0
    if work is not None:
        work.scratch["config"]["version"] = value
    return value


@contextmanager
def pinned() -> Iterator[None]:
    """Read the version once for a read-only block (a page render whose panels each read cached
    configuration): one query instead of one per cached read. A write started inside keeps its own
    reading (the unit of work's), so it still sees a change it makes."""
    if _pinned.get() is not None:
        yield
        return
    token = _pinned.set(version())
    try:
        yield
    finally:
        _pinned.reset(token)


def cached(key: str, load: Callable[[], T]) -> T:
    """`load()`'s value, reused while the configuration version is unchanged (per database alias)."""
    current_version = version()
    slot = (connection.alias, key)
    if current_version:
        with _lock:
            hit = _cache.get(slot)
        if hit is not None and hit[0] == current_version:
            return hit[1]
    value = load()
    if current_version:
        with _lock:
            _cache[slot] = (current_version, value)
    return value


def changed() -> None:
    """The write in progress changed configuration itself (triage disabling a broken rule): read the
    version again — the trigger has moved it — so the rest of the write sees the change."""
    from casework.cases.services.unit_of_work import current

    work = current()
    if work is not None:
        work.scratch["config"].pop("version", None)


def clear() -> None:
    with _lock:
        _cache.clear()


# --------------------------------------------------------------------------------------------------
# migrations
# --------------------------------------------------------------------------------------------------


def _trigger_sql(vendor: str, table: str, columns: tuple[str, ...]) -> tuple[list[str], list[str]]:
    name = f"cw_config_{table}"
    update = f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"
    if vendor == "postgresql":
        create = [
            f'CREATE TRIGGER {name} AFTER INSERT OR {update} OR DELETE OR TRUNCATE ON "{table}" '
            "FOR EACH STATEMENT EXECUTE FUNCTION cw_config_bump()"
        ]
        return create, [f'DROP TRIGGER IF EXISTS {name} ON "{table}"']
    bump = (
        f"INSERT INTO {TABLE} (id, version) VALUES (1, random()) "
        "ON CONFLICT(id) DO UPDATE SET version = excluded.version;"
    )
    create = [
        f'CREATE TRIGGER {name}_{op.split()[0].lower()} AFTER {op} ON "{table}" BEGIN {bump} END'
        for op in ("INSERT", update, "DELETE")
    ]
    return create, [f"DROP TRIGGER IF EXISTS {name}_{op}" for op in ("insert", "update", "delete")]


_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION cw_config_bump() RETURNS trigger AS $$
BEGIN
    INSERT INTO {TABLE} (id, version) VALUES (1, floor(random() * 9e18)::bigint + 1)
    ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version;
    RETURN NULL;
END
$$ LANGUAGE plpgsql
"""


def watch_tables(*tables: str | tuple[str, tuple[str, ...]]) -> migrations.RunPython:
    """A migration operation that makes changes to `tables` bump the configuration version. A table
    given as (name, columns) bumps it only when an UPDATE sets one of those columns (a rule's match
    counters are statistics, not configuration)."""
    specs = [(t, ()) if isinstance(t, str) else (t[0], tuple(t[1])) for t in tables]

    def forward(apps, schema_editor) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(_PG_FUNCTION)
        for table, columns in specs:
            for sql in _trigger_sql(vendor, table, columns)[0]:
                schema_editor.execute(sql)
        _bump(schema_editor)

    def backward(apps, schema_editor) -> None:
        for table, columns in specs:
            for sql in _trigger_sql(schema_editor.connection.vendor, table, columns)[1]:
                schema_editor.execute(sql)

    return migrations.RunPython(forward, backward)


def _bump(schema_editor) -> None:
    postgres = schema_editor.connection.vendor == "postgresql"
    value = "floor(random() * 9e18)::bigint + 1" if postgres else "random()"
    schema_editor.execute(
        f"INSERT INTO {TABLE} (id, version) VALUES (1, {value}) "
        "ON CONFLICT (id) DO UPDATE SET version = excluded.version"
    )
