"""The unit of work: what one write changes, held in memory and written once, inside its transaction.

Every door function in `cases.services` runs inside a `Work` (see `door`). The first door called opens it:
a transaction, an empty set of pending changes. Door functions — including the ones the reaction stages
call (a rule that raises priority calls `case_set_priority`) — lock each case once (`Work.lock`), change it
in memory (`Work.set`) and append events (`Work.record`); nothing is written per call. When the outermost
door's body returns, the reaction pipeline (`pipeline.run`) reads the events and decides what they imply,
then `Work.flush` writes everything with a handful of statements — one UPDATE per group of changed cases,
one INSERT of all events, one bulk statement per kind of other row — and the transaction commits. A crash
before the commit leaves nothing; after it, nothing is missing: there is no "after commit" step.

Rows that other rows need the primary key of (a new case, a message) are inserted when the door creates
them; everything else waits for the flush. A door validates before its first write, so a nested door
that refuses (an `ApplicationError`) only has in-memory changes to undo, which `Work.savepoint` does from
an undo log. A reaction stage that fails unexpectedly is rolled back the same way (plus a database
savepoint, taken only if the stage wrote eagerly), recorded on the case, and the write goes on.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import connection, models, transaction

from casework.core import clock
from casework.core.crashpoints import crash_point
from casework.core.errors import NotFound

from ..models import Case, CaseEvent, Message, Tag

F = TypeVar("F", bound=Callable[..., Any])

_state = threading.local()


def current() -> Work | None:
    """The unit of work of the write in progress in this thread, if any."""
    return getattr(_state, "work", None)


def active() -> Work:
    work = current()
    if work is None:
        raise RuntimeError("no write in progress: case changes go through a door function in cases.services")
    return work


@contextlib.contextmanager
def unit_of_work(label: str = "write") -> Iterator[Work]:
    """Join the write in progress, or start one: a transaction that ends with the reaction pipeline and
    one flush. Adapters that make several door calls belong in one (a batch of mail, an SLA sweep) so
    their reactions are decided together."""
    work = current()
    if work is not None:
        with work.savepoint():
            yield work
        return
    work = Work(label)
    _state.work = work
    try:
        with transaction.atomic():
            yield work
            from .. import pipeline

            pipeline.run(work)
            work.flush()
    finally:
        _state.work = None
    work.sync_callers()
    if not connection.in_atomic_block:
        # Committed for real (not a savepoint inside someone else's transaction): the crash tests kill
        # the process here to prove nothing that must happen was left for later.
        crash_point("after_commit", label)


def door(function: F) -> F:
    """Decorator for the door functions: run the body inside the write in progress, or a new one."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current() is None:
            _check_actor(kwargs)
        with unit_of_work(function.__name__):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _check_actor(kwargs: dict[str, Any]) -> None:
    """Roles are enforced at the door, whatever adapter called it (UI, API, command): a person (a User
    actor) must be allowed to work the case. Checked on the outermost door only: what the reactions do
    next in the same write (an escalation handing the case to the next tier's team) is the system's."""
    actor = kwargs.get("actor")
    from casework.people import permissions

    if not permissions.is_user_actor(actor):
        return
    # Every case the write names: `case=`, both sides of a merge or move (`source=`, `target=`), and the
    # case(s) an object names (a message's, a task's, a duplicate suggestion's case and candidate).
    for value in kwargs.values():
        for target in (value, getattr(value, "case", None), getattr(value, "candidate", None)):
            if isinstance(target, Case):
                permissions.require_case_write(actor, target)


@dataclass
class _Mark:
    """A position to roll the in-memory changes back to (see `Work.savepoint`)."""

    undo: int
    events: int
    inserts: dict[type, int]
    callers: int
    # Stage-level marks only: the pending updates as they were, so an undone stage's rows are not written.
    updates: dict | None = None
    db_savepoint: str | None = None
    eager: bool = False


@dataclass
class _Rows:
    inserts: list[models.Model] = field(default_factory=list)
    # id(obj) -> (obj, fields to write); objects are updated by primary key at flush
    updates: dict[int, tuple[models.Model, set[str]]] = field(default_factory=dict)


_UNSET = object()


class Work:
    """Pending changes of one write. Case instances held here are the only current copy of those cases
    until the flush: code running inside the write reads them from here, never from the database."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.cases: dict[int, Case] = {}
        self.events: list[CaseEvent] = []
        self.messages: dict[int, Message] = {}
        self.tags: dict[int, list[Tag]] = {}
        # Cases opened in this write: their clocks, history and tags start empty, no need to read them.
        self.opened: set[int] = set()
        self.scratch: dict[str, dict] = defaultdict(dict)
        self._dirty: dict[int, set[str]] = {}
        self._rows: dict[type, _Rows] = {}
        self._flush_hooks: dict[str, Callable[[list[CaseEvent]], None]] = {}
        self._links: dict[int, dict[str, models.Model]] = {}
        self._originals: dict[tuple[int, str], Any] = {}
        self._callers: list[tuple[Case, Case]] = []
        self._undo: list[Callable[[], None]] = []
        self._flushed_events = 0
        self._marks: list[_Mark] = []

    # ----------------------------------------------------------------------------------------------
    # cases
    # ----------------------------------------------------------------------------------------------

    def lock(self, case: Case) -> Case:
        """The current instance of `case`, locked for the rest of the transaction (one query the first
        time, none after)."""
        if case.pk is None:
            raise NotFound("Case does not exist", code="case_not_found")
        held = self.cases.get(case.pk)
        if held is not None:
            return held
        locked = self.lock_many([case.pk]).get(case.pk)
        if locked is None:
            raise NotFound(f"Case {case.reference} does not exist", code="case_not_found")
        return locked

    def lock_many(
        self, pks: Iterable[int], *, skip_locked: bool = False, related: bool = True
    ) -> dict[int, Case]:
        """Lock several cases with one query, in primary-key order (two writes never deadlock). With
        `skip_locked`, cases another write holds are left out instead of waited for (PostgreSQL; the
        SLA sweep takes them on its next pass). `related=False` reads the case rows alone, without their
        organisation, category, customer, team and assignee (a relation read later costs a query): for
        bulk notes nothing reads them for. Lock order everywhere: cases, then their clocks, then agent
        profiles."""
        wanted = sorted({pk for pk in pks if pk is not None})
        missing = [pk for pk in wanted if pk not in self.cases]
        if missing:
            rows = Case.objects.select_for_update(of=("self",), skip_locked=skip_locked)
            if related:
                rows = rows.select_related("organisation", "category", "customer", "team", "assignee")
            rows = rows.filter(pk__in=missing).order_by("pk")
            for row in rows:
                self.cases[row.pk] = row
        return {pk: self.cases[pk] for pk in wanted if pk in self.cases}

    def adopt(self, cases: Iterable[Case], *, opened: bool = False) -> None:
        """Hold cases this write has just inserted (they are current and, in a transaction, ours)."""
        for case in cases:
            self.cases.setdefault(case.pk, case)
            if opened:
                self.opened.add(case.pk)

    def case(self, pk: int) -> Case:
        return self.cases[pk] if pk in self.cases else self.lock(Case(pk=pk))

    def set(self, obj: models.Model, **values: Any) -> None:
        """Change fields of a case (or any row this write holds) in memory; written at the flush."""
        is_case = isinstance(obj, Case)
        if is_case and obj.pk not in self.cases:
            raise RuntimeError(f"{obj.reference} must be locked before it is changed")
        for name, value in values.items():
            if self._marks:
                self._undo.append(self._undo_set(obj, name))
            if is_case and (obj.pk, name) not in self._originals and obj.pk not in self.opened:
                self._originals[(obj.pk, name)] = _snapshot(obj, name)[0]
            setattr(obj, name, value)
            if is_case:
                self._dirty.setdefault(obj.pk, set()).add(name)
            else:
                self._pending_update(obj, {name})

    def original(self, case: Case, name: str) -> Any:
        """The stored value of a case field as the database has it, before this write changed it (the
        id for a foreign key). A case opened in this write has no stored values: None."""
        if case.pk in self.opened:
            return None
        if (case.pk, name) in self._originals:
            return self._originals[(case.pk, name)]
        return getattr(case, case._meta.get_field(name).attname)

    def touch(self, case: Case) -> None:
        """The case changed without a field of its own changing (its tags): bump `updated_at`."""
        self._dirty.setdefault(case.pk, set()).add("updated_at")

    def changed_cases(self, names: set[str]) -> Iterator[Case]:
        """The cases this write changed any of these fields of (not yet flushed)."""
        for pk, dirty in self._dirty.items():
            if not dirty.isdisjoint(names):
                yield self.cases[pk]

    def tags_of(self, case: Case) -> list[Tag]:
        """The case's tags as this write sees them (read once; a new case has its opening's)."""
        if case.pk not in self.tags:
            self.load_tags([case.pk])
        return self.tags[case.pk]

    def load_tags(self, pks: Iterable[int]) -> None:
        """Read the tags of several cases with one query (a batch's facts for triage and routing)."""
        missing = [pk for pk in pks if pk not in self.tags and pk not in self.opened]
        for pk in pks:
            if pk in self.opened:
                self.tags.setdefault(pk, [])
        if not missing:
            return
        found: dict[int, list[Tag]] = {pk: [] for pk in missing}
        through = Case.tags.through.objects.filter(case_id__in=missing).select_related("tag")
        for link in through.order_by("tag__name"):
            found[link.case_id].append(link.tag)
        self.tags.update(found)

    def set_tags(self, case: Case, tags: list[Tag]) -> None:
        if self._marks:
            old = self.tags.get(case.pk)
            self._undo.append(lambda: self.tags.__setitem__(case.pk, old))
        self.tags[case.pk] = tags

    def sync(self, caller: Case, locked: Case) -> None:
        """Give the caller's instance the current values now and again after the flush, so `case.status`
        is right after a door call that reactions changed further."""
        if caller is locked:
            return
        _copy_fields(locked, caller)
        self._callers.append((caller, locked))

    def sync_callers(self) -> None:
        for caller, locked in self._callers:
            _copy_fields(locked, caller)

    # ----------------------------------------------------------------------------------------------
    # events and other rows
    # ----------------------------------------------------------------------------------------------

    def record(self, event: CaseEvent) -> CaseEvent:
        self.events.append(event)
        return event

    def record_all(self, events: Iterable[CaseEvent]) -> list[CaseEvent]:
        events = list(events)
        self.events.extend(events)
        return events

    def insert(
        self,
        obj: models.Model,
        *,
        links: dict[str, models.Model] | None = None,
        ignore_conflicts: bool = False,
    ) -> models.Model:
        """Insert `obj` at the flush (bulk, per model, in the order models were first given). `links`
        fills id columns that are not foreign keys from rows saved earlier in the flush (a history row
        names the event that opened it); `ignore_conflicts` skips rows a unique constraint already has."""
        key = (type(obj), True) if ignore_conflicts else type(obj)
        self._rows.setdefault(key, _Rows()).inserts.append(obj)
        if links:
            self._links[id(obj)] = links
        return obj

    def save_fields(self, obj: models.Model, *names: str) -> None:
        """Write these fields of an existing row at the flush (after changing them yourself)."""
        self._pending_update(obj, set(names))

    def on_flush(self, key: str, action: Callable[[list[CaseEvent]], None]) -> None:
        """Run `action(events)` at every flush with the events it writes (once per key per write). For
        what is derived from the events that survive — counters — so an undone step is not counted."""
        self._flush_hooks.setdefault(key, action)

    def note_message(self, message: Message) -> None:
        """A message inserted by this write (its instance is current)."""
        self.messages[message.pk] = message

    def eager_write(self) -> None:
        """A door is about to write to the database now (an INSERT that others need the key of). Inside
        a reaction stage that write must be undone with the stage if it fails: take the database
        savepoint the stage's mark asked for, once."""
        for mark in self._marks:
            if mark.eager and mark.db_savepoint is None:
                mark.db_savepoint = transaction.savepoint()

    def _undo_set(self, obj: models.Model, name: str) -> Callable[[], None]:
        """How to put `obj.name` back as it is now, pending-write flag included."""
        snapshot = _snapshot(obj, name)
        was_pending = self._pending_fields(obj, name)

        def undo() -> None:
            _restore(obj, name, snapshot)
            if was_pending:
                return
            if isinstance(obj, Case):
                self._dirty.get(obj.pk, set()).discard(name)
            else:
                rows = self._rows.get(type(obj))
                entry = rows.updates.get(id(obj)) if rows else None
                if entry is not None:
                    entry[1].discard(name)

        return undo

    def _pending_fields(self, obj: models.Model, name: str) -> bool:
        if isinstance(obj, Case):
            return name in self._dirty.get(obj.pk, ())
        rows = self._rows.get(type(obj))
        entry = rows.updates.get(id(obj)) if rows else None
        return entry is not None and name in entry[1]

    def _pending_update(self, obj: models.Model, names: set[str]) -> None:
        if obj.pk is None:
            return  # an insert still pending: it is written with its final values
        rows = self._rows.setdefault(type(obj), _Rows())
        entry = rows.updates.get(id(obj))
        if entry is None:
            rows.updates[id(obj)] = (obj, set(names))
        else:
            entry[1].update(names)

    # ----------------------------------------------------------------------------------------------
    # savepoints (in memory)
    # ----------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def savepoint(self, *, eager: bool = False) -> Iterator[_Mark]:
        """Undo this block's in-memory changes if it raises. With `eager`, database writes made inside
        the block are undone too (a savepoint is taken at the first one; see `eager_write`)."""
        mark = _Mark(
            undo=len(self._undo),
            events=len(self.events),
            inserts={model: len(rows.inserts) for model, rows in self._rows.items()},
            callers=len(self._callers),
            eager=eager,
            updates={
                key: {i: (obj, set(names)) for i, (obj, names) in rows.updates.items()}
                for key, rows in self._rows.items()
            }
            if eager
            else None,
        )
        self._marks.append(mark)
        try:
            yield mark
        except BaseException:
            self._rollback_to(mark)
            if mark.db_savepoint is not None:
                transaction.savepoint_rollback(mark.db_savepoint)
            raise
        else:
            if mark.db_savepoint is not None:
                transaction.savepoint_commit(mark.db_savepoint)
        finally:
            self._marks.remove(mark)
            if not self._marks:
                self._undo.clear()

    def _rollback_to(self, mark: _Mark) -> None:
        while len(self._undo) > mark.undo:
            self._undo.pop()()
        del self.events[mark.events :]
        for model, rows in self._rows.items():
            del rows.inserts[mark.inserts.get(model, 0) :]
            if mark.updates is not None:
                rows.updates = dict(mark.updates.get(model, {}))
        del self._callers[mark.callers :]

    # ----------------------------------------------------------------------------------------------
    # flush
    # ----------------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write every pending change: cases, then events, then the other rows model by model (updates
        before inserts, so a history stretch is closed before the next one opens). The `on_flush`
        actions run with the events written. Safe to call more than once."""
        now = clock.now()
        groups: dict[frozenset[str], list[Case]] = defaultdict(list)
        for pk, names in self._dirty.items():
            if names:
                case = self.cases[pk]
                case.updated_at = now
                groups[frozenset(names | {"updated_at"})].append(case)
        self._dirty = {}
        self._originals = {}
        for names, cases in groups.items():
            _update_rows(Case, cases, sorted(names))
        pending = self.events[self._flushed_events :]
        if pending:
            CaseEvent.objects.bulk_create(pending)
            self._flushed_events = len(self.events)
            for action in self._flush_hooks.values():
                action(pending)
        rows, self._rows = self._rows, {}
        for key, entries in rows.items():
            model, ignore = (key[0], True) if isinstance(key, tuple) else (key, False)
            updates = list(entries.updates.values())
            by_fields: dict[frozenset[str], list[models.Model]] = defaultdict(list)
            for obj, names in updates:
                if names:
                    by_fields[frozenset(names)].append(obj)
            for names, objs in by_fields.items():
                _update_rows(model, objs, sorted(names))
            if entries.inserts:
                for obj in entries.inserts:
                    for attname, source in self._links.pop(id(obj), {}).items():
                        setattr(obj, attname, source.pk)
                model.objects.bulk_create(entries.inserts, ignore_conflicts=ignore)


def _snapshot(obj: models.Model, name: str) -> tuple[Any, Any]:
    """The field's stored value and, for a foreign key, the related instance cached on `obj` (reading the
    attribute itself could cost a query)."""
    f = obj._meta.get_field(name)
    if f.many_to_one:
        return getattr(obj, f.attname), f.get_cached_value(obj) if f.is_cached(obj) else _UNSET
    return getattr(obj, f.attname), _UNSET


def _restore(obj: models.Model, name: str, snapshot: tuple[Any, Any]) -> None:
    f = obj._meta.get_field(name)
    value, related = snapshot
    setattr(obj, f.attname, value)
    if f.many_to_one:
        if related is _UNSET:
            if f.is_cached(obj):
                f.delete_cached_value(obj)
        else:
            f.set_cached_value(obj, related)


def _update_rows(model: type[models.Model], objs: list[models.Model], names: list[str]) -> None:
    """UPDATE these fields of these rows by primary key: one prepared statement run for every row
    (`executemany`). Django's `bulk_update` builds a CASE WHEN per field and row, and building it took
    half of a batch's flush (bench: 100 new cases of a mail batch)."""
    fields = [model._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    sql = f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {quote(model._meta.pk.column)} = %s"
    rows = [
        [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields] + [obj.pk] for obj in objs
    ]
    with connection.cursor() as cursor:
        if len(rows) == 1:
            cursor.execute(sql, rows[0])
        else:
            cursor.executemany(sql, rows)


def _copy_fields(source: Case, target: Case) -> None:
    for f in Case._meta.concrete_fields:
        # Generated columns (open_flag, priority_rank) are the database's; a fresh instance may not hold
        # them, and reading one would cost a query.
        if f.generated:
            continue
        setattr(target, f.attname, getattr(source, f.attname))
    # Related instances cached on the target would now disagree with the ids just copied.
    for name in ("organisation", "category", "customer", "team", "assignee", "merged_into"):
        if Case._meta.get_field(name).is_cached(target):
            value = getattr(source, name) if Case._meta.get_field(name).is_cached(source) else _UNSET
            if value is _UNSET:
                Case._meta.get_field(name).delete_cached_value(target)
            else:
                Case._meta.get_field(name).set_cached_value(target, value)
