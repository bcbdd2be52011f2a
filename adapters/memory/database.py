"""The committed state of the in-memory store, and the transactions that change it.

The store mirrors the rules of the SQL schema so that code tested against it behaves the
same on PostgreSQL: unique constraints, foreign keys with their ON DELETE action, and the
outbox written in the same transaction as the changes. A :class:`Transaction` keeps its
writes to itself until it commits (read committed, like PostgreSQL's default), and its
commit fails with ConcurrencyError if a row it wrote was committed by someone else since
it first touched it (first committer wins). A transaction may also lock a row, as
``SELECT ... FOR UPDATE`` does: another transaction that locks it waits until the first
ends, and two that wait on each other fail with ConcurrencyError (a deadlock). Commits are
atomic under asyncio (no await inside); the store is not meant to be shared between
threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import enum
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import attrs

from adapters.memory.audit import AuditLog, Change
from adapters.memory.tenancy import GLOBAL_TABLES, organization_of, owner_of
from domain.events import DomainEvent
from domain.ids import OrganizationId
from ports.errors import (
    ConcurrencyError,
    DuplicateError,
    NotFoundError,
    PersistenceError,
    TransactionAbortedError,
    ValidationError,
)

__all__ = [
    "SCHEMA",
    "MemoryDatabase",
    "OnDelete",
    "OutboxRecord",
    "PartialUnique",
    "TableSpec",
    "Transaction",
]


class OnDelete(enum.Enum):
    CASCADE = "cascade"
    RESTRICT = "restrict"
    SET_NULL = "set null"


@attrs.frozen
class ForeignKey:
    column: str
    parent: str
    on_delete: OnDelete = OnDelete.CASCADE


@attrs.frozen
class PartialUnique:
    """A unique index over the rows ``where`` holds for (a partial unique index)."""

    columns: tuple[str, ...]
    where: Callable[[Any], bool]


@attrs.frozen
class TableSpec:
    entity: str
    uniques: tuple[tuple[str, ...] | PartialUnique, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()

    def unique_keys(self) -> Iterator[tuple[tuple[str, ...], Callable[[Any], bool]]]:
        for unique in self.uniques:
            if isinstance(unique, PartialUnique):
                yield unique.columns, unique.where
            else:
                yield unique, _every_row


def _every_row(row: Any) -> bool:
    return True


def _not_deleted(row: Any) -> bool:
    return str(row.analysis_status) != "deleted"


SCHEMA: dict[str, TableSpec] = {
    "organizations": TableSpec("organization", uniques=(("slug",),)),
    "users": TableSpec("user", uniques=(("email",), ("username",))),
    "organization_members": TableSpec(
        "organization member",
        uniques=(("organization_id", "user_id"),),
        foreign_keys=(
            ForeignKey("organization_id", "organizations"),
            ForeignKey("user_id", "users"),
            ForeignKey("invited_by", "users", OnDelete.RESTRICT),
        ),
    ),
    "projects": TableSpec(
        "project",
        uniques=(("organization_id", "slug"),),
        foreign_keys=(ForeignKey("organization_id", "organizations"),),
    ),
    "repositories": TableSpec("repository", foreign_keys=(ForeignKey("project_id", "projects"),)),
    "repository_branches": TableSpec(
        "repository branch",
        uniques=(("repository_id", "name"),),
        foreign_keys=(ForeignKey("repository_id", "repositories"),),
    ),
    "file_index": TableSpec(
        "file",
        uniques=(PartialUnique(("repository_id", "relative_path"), _not_deleted),),
        foreign_keys=(ForeignKey("repository_id", "repositories"),),
    ),
    "file_history": TableSpec(
        "file history entry",
        uniques=(("job_id", "file_id"),),
        foreign_keys=(ForeignKey("file_id", "file_index"), ForeignKey("job_id", "analysis_jobs")),
    ),
    "analysis_jobs": TableSpec(
        "analysis job", foreign_keys=(ForeignKey("project_id", "projects"),)
    ),
    "analysis_results": TableSpec(
        "analysis result",
        foreign_keys=(
            ForeignKey("job_id", "analysis_jobs"),
            ForeignKey("file_id", "file_index"),
            ForeignKey("issue_id", "issues", OnDelete.SET_NULL),
        ),
    ),
    "code_metrics": TableSpec(
        "code metric",
        uniques=(("file_id", "job_id", "metric_type", "metric_name"),),
        foreign_keys=(ForeignKey("file_id", "file_index"), ForeignKey("job_id", "analysis_jobs")),
    ),
    "rules": TableSpec("rule"),
    "issues": TableSpec(
        "issue",
        foreign_keys=(
            ForeignKey("project_id", "projects"),
            ForeignKey("file_id", "file_index", OnDelete.SET_NULL),
            ForeignKey("first_seen_job_id", "analysis_jobs", OnDelete.SET_NULL),
            ForeignKey("last_seen_job_id", "analysis_jobs", OnDelete.SET_NULL),
        ),
    ),
    "issue_changes": TableSpec(
        "issue change",
        foreign_keys=(
            ForeignKey("issue_id", "issues"),
            ForeignKey("job_id", "analysis_jobs", OnDelete.SET_NULL),
        ),
    ),
    # keyed by (project, branch): one period per project (branch None) and per branch
    "new_code_periods": TableSpec(
        "new code period", foreign_keys=(ForeignKey("project_id", "projects"),)
    ),
    "quality_gates": TableSpec(
        "quality gate",
        uniques=(
            ("organization_id", "name"),
            PartialUnique(("organization_id",), lambda row: bool(row.is_default)),
        ),
        foreign_keys=(ForeignKey("organization_id", "organizations"),),
    ),
    # keyed by project
    "project_quality_gates": TableSpec(
        "project quality gate",
        foreign_keys=(
            ForeignKey("project_id", "projects"),
            ForeignKey("gate_id", "quality_gates"),
        ),
    ),
    # keyed by job
    "analysis_measures": TableSpec(
        "analysis measures", foreign_keys=(ForeignKey("job_id", "analysis_jobs"),)
    ),
    # keyed by (project, branch)
    "live_measures": TableSpec(
        "live measures", foreign_keys=(ForeignKey("project_id", "projects"),)
    ),
    # keyed by job
    "analysis_gates": TableSpec(
        "analysis gate", foreign_keys=(ForeignKey("job_id", "analysis_jobs"),)
    ),
    "project_rule_configs": TableSpec(
        "project rule config",
        uniques=(("project_id", "rule_id"),),
        foreign_keys=(ForeignKey("project_id", "projects"), ForeignKey("rule_id", "rules")),
    ),
}

# parent table -> [(child table, foreign key)]
_CHILDREN: dict[str, list[tuple[str, ForeignKey]]] = {}
for _child, _spec in SCHEMA.items():
    for _fk in _spec.foreign_keys:
        _CHILDREN.setdefault(_fk.parent, []).append((_child, _fk))


@attrs.define
class OutboxRecord:
    id: uuid.UUID
    event: DomainEvent
    created_at: dt.datetime
    sequence: int
    attempts: int = 0
    last_error: str | None = None
    available_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None


_DELETED = object()
R = TypeVar("R")
_Slot = tuple[str, Any]  # (table, primary key) of a row


@attrs.define
class _RowLock:
    """Who holds a row's lock, and who waits for it, first come first served."""

    holder: Transaction
    waiters: deque[tuple[Transaction, asyncio.Future[None]]] = attrs.Factory(deque)


class MemoryDatabase:
    """Committed rows of every table, the outbox, and a strictly increasing clock."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, Any]] = {name: {} for name in SCHEMA}
        self.versions: dict[tuple[str, Any], int] = {}
        self.outbox: list[OutboxRecord] = []
        self.audit = AuditLog()
        self.row_locks: dict[_Slot, _RowLock] = {}
        self._last_now = dt.datetime.min.replace(tzinfo=dt.UTC)
        self._sequence = 0

    def now(self) -> dt.datetime:
        """The current UTC time, strictly later than any time this store handed out before
        (what an ``updated_at`` trigger gives on PostgreSQL, where the clock ticks in
        microseconds)."""
        now = dt.datetime.now(dt.UTC)
        if now <= self._last_now:
            now = self._last_now + dt.timedelta(microseconds=1)
        self._last_now = now
        return now

    def begin(self, organization_id: OrganizationId | None = None) -> Transaction:
        """A transaction that sees (and may write) only the rows of ``organization_id``,
        as PostgreSQL's row-level security has it, or every row (None: the system scope)."""
        return Transaction(self, organization_id)

    def row_count(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.tables.items()}

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence


class Transaction:
    """Private writes over the committed state; see the module docstring."""

    def __init__(
        self, database: MemoryDatabase, organization_id: OrganizationId | None = None
    ) -> None:
        self._db = database
        self._scope = organization_id
        self._writes: dict[str, dict[Any, Any]] = {name: {} for name in SCHEMA}
        self._base_versions: dict[tuple[str, Any], int] = {}
        self._locked: set[_Slot] = set()
        self._waiting_for: _Slot | None = None
        self.closed = False
        self.aborted = False

    # ------------------------------------------------------------------ reads (raw rows)

    def get(self, table: str, key: Any) -> Any | None:
        """The row as this transaction sees it (not a copy: callers must not mutate it);
        None when it is missing or belongs to another organization than the scope's."""
        row = self._get_any(table, key)
        return row if row is not None and self._visible(table, row) else None

    def scan(self, table: str) -> Iterator[Any]:
        """Every row of ``table`` this transaction sees (not copies)."""
        if self._scope is None or table in GLOBAL_TABLES:
            yield from self._scan_any(table)
            return
        for row in self._scan_any(table):
            if self._visible(table, row):
                yield row

    def find_unique(
        self,
        table: str,
        columns: tuple[str, ...],
        values: tuple[Any, ...],
        where: Callable[[Any], bool] = _every_row,
    ) -> Any:
        return _first_match(self.scan(table), columns, values, where)

    # Constraints hold over every row, whoever may see it (as in PostgreSQL, where unique
    # and foreign keys are checked past row-level security).

    def _get_any(self, table: str, key: Any) -> Any | None:
        self._check_usable()
        written = self._writes[table].get(key, None)
        if written is _DELETED:
            return None
        if written is not None:
            return written
        return self._db.tables[table].get(key)

    def _scan_any(self, table: str) -> Iterator[Any]:
        self._check_usable()
        writes = self._writes[table]
        for key, row in self._db.tables[table].items():
            if key not in writes:
                yield row
        for row in writes.values():
            if row is not _DELETED:
                yield row

    def _visible(self, table: str, row: Any) -> bool:
        if self._scope is None or table in GLOBAL_TABLES:
            return True
        return organization_of(table, row, self._any_version) == self._scope

    def _check_scope(self, table: str, row: Any) -> None:
        """A row written in an organization's scope must belong to it; else its parent (or
        organization) is, to this transaction, not there."""
        if not self._visible(table, row):
            parent, key = owner_of(table, row)
            raise NotFoundError(SCHEMA[parent].entity, key)

    async def lock(
        self, table: str, key: Any, where: Callable[[Any], bool] = _every_row
    ) -> Any | None:
        """Lock a row for the rest of the transaction, as ``SELECT ... WHERE ... FOR
        UPDATE`` does, and return it as committed once the lock is held (None if it is
        missing or ``where`` does not hold for it: then nothing stays locked).

        While another transaction holds the lock, this one waits for it to end (waiters
        get the lock in turn); if that other transaction waits, directly or not, for this
        one, the wait is a deadlock: ConcurrencyError, and this transaction is aborted. A
        transaction that wrote the row without locking it is not waited for: of the two,
        the second to commit fails with ConcurrencyError."""
        self._check_usable()
        self._require_open()
        slot = (table, key)
        held = slot in self._locked
        if not held:
            row_lock = self._db.row_locks.get(slot)
            if row_lock is None:
                self._db.row_locks[slot] = _RowLock(self)
                self._locked.add(slot)
            else:
                await self._wait_for(slot, row_lock)
        row = self.get(table, key)
        if row is None or not where(row):
            if not held:  # a lock taken before stays for the rest of the transaction
                self._release(slot)
            return None
        self._touch(table, key)
        return row

    async def _wait_for(self, slot: _Slot, row_lock: _RowLock) -> None:
        """Wait until the lock of ``slot`` is handed to this transaction."""
        if self._waits_for_me(row_lock.holder):
            self.aborted = True
            raise ConcurrencyError(
                f"deadlock: {SCHEMA[slot[0]].entity} {slot[1]} is locked by a transaction"
                " that waits for this one"
            )
        handed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        row_lock.waiters.append((self, handed))
        self._waiting_for = slot
        try:
            await handed  # cancelled: _release skips the future (or, handed, closing frees it)
        finally:
            self._waiting_for = None

    def _waits_for_me(self, holder: Transaction) -> bool:
        """Whether ``holder`` waits, through a chain of lock holders, for this transaction."""
        seen: set[int] = set()
        current: Transaction | None = holder
        while current is not None and id(current) not in seen:
            if current is self:
                return True
            seen.add(id(current))
            slot = current._waiting_for
            row_lock = None if slot is None else self._db.row_locks.get(slot)
            current = None if row_lock is None else row_lock.holder
        return False

    def _release(self, slot: _Slot) -> None:
        """Give up the lock of ``slot``: hand it to the first transaction still waiting."""
        self._locked.discard(slot)
        row_lock = self._db.row_locks.get(slot)
        if row_lock is None or row_lock.holder is not self:
            return
        while row_lock.waiters:
            waiter, handed = row_lock.waiters.popleft()
            if handed.done():
                continue  # its wait was cancelled
            if waiter.closed:
                handed.set_exception(RuntimeError("the transaction was closed while it waited"))
                continue
            row_lock.holder = waiter
            waiter._locked.add(slot)
            handed.set_result(None)
            return
        del self._db.row_locks[slot]

    # ------------------------------------------------------------------ writes

    def insert(self, table: str, row: R) -> R:
        """Insert a copy of ``row``; checks the primary key, unique and foreign keys."""
        with self._aborting():
            key = row.id  # type: ignore[attr-defined]
            if self._get_any(table, key) is not None:
                raise DuplicateError(SCHEMA[table].entity, "id", key)
            self._check_row(table, row, exclude=None)
            self._check_scope(table, row)
            return self._put(table, row)

    def replace(self, table: str, row: R) -> R:
        """Overwrite the row with ``row.id`` by a copy of ``row``; checks constraints.
        A missing row is a NotFoundError that leaves the transaction usable (an UPDATE
        of no row is no error in SQL)."""
        key = row.id  # type: ignore[attr-defined]
        if self.get(table, key) is None:
            raise NotFoundError(SCHEMA[table].entity, key)
        with self._aborting():
            self._check_row(table, row, exclude=key)
            self._check_scope(table, row)
            return self._put(table, row)

    def delete(self, table: str, key: Any) -> None:
        """Delete a row and, following the foreign keys, its dependants (CASCADE) or
        refuse if a RESTRICT reference remains. A missing row is a NotFoundError that
        leaves the transaction usable."""
        if self.get(table, key) is None:
            raise NotFoundError(SCHEMA[table].entity, key)
        with self._aborting():
            self._delete(table, key)

    def _delete(self, table: str, key: Any) -> None:
        for child, fk in _CHILDREN.get(table, ()):
            dependants = [r.id for r in self._scan_any(child) if getattr(r, fk.column) == key]
            if not dependants:
                continue
            if fk.on_delete is OnDelete.RESTRICT:
                raise ValidationError(
                    fk.column,
                    key,
                    f"{SCHEMA[table].entity} is still referenced by {SCHEMA[child].entity}",
                    entity=SCHEMA[child].entity,
                )
            if fk.on_delete is OnDelete.SET_NULL:
                for dependant in dependants:
                    row = copy.deepcopy(self._get_any(child, dependant))
                    object.__setattr__(row, fk.column, None)
                    self._put(child, row)
                continue
            for dependant in dependants:
                if self._get_any(child, dependant) is not None:
                    self._delete(child, dependant)
        self._touch(table, key)
        self._writes[table][key] = _DELETED

    @contextlib.contextmanager
    def _aborting(self) -> Iterator[None]:
        """A failed write aborts the transaction, as a failed statement does on PostgreSQL."""
        self._check_usable()
        try:
            yield
        except PersistenceError:
            self.aborted = True
            raise

    def _check_usable(self) -> None:
        if self.aborted:
            raise TransactionAbortedError()

    def _put(self, table: str, row: R) -> R:
        stored = copy.deepcopy(row)
        key = row.id  # type: ignore[attr-defined]
        self._touch(table, key)
        self._writes[table][key] = stored
        return stored

    def _touch(self, table: str, key: Any) -> None:
        self._base_versions.setdefault((table, key), self._db.versions.get((table, key), 0))

    def _check_row(self, table: str, row: Any, *, exclude: Any) -> None:
        spec = SCHEMA[table]
        for columns, where in spec.unique_keys():
            values = tuple(getattr(row, c) for c in columns)
            if any(v is None for v in values) or not where(row):
                continue  # NULLs never clash, as in SQL
            clash = _first_match(self._scan_any(table), columns, values, where)
            if clash is not None and clash.id != exclude:
                raise DuplicateError(spec.entity, _describe(columns), _describe_values(values))
        for fk in spec.foreign_keys:
            parent_id = getattr(row, fk.column)
            if parent_id is not None and self._get_any(fk.parent, parent_id) is None:
                raise NotFoundError(SCHEMA[fk.parent].entity, parent_id)

    # ------------------------------------------------------------------ end

    def commit(self, events: Sequence[DomainEvent], *, actor: str | None = None) -> None:
        """Apply every write, record it in the audit trail under ``actor`` and append
        ``events`` to the outbox, all or nothing."""
        self._require_open()
        if self.aborted:
            self._close()
            raise TransactionAbortedError()
        db = self._db
        for (table, key), base in self._base_versions.items():
            if db.versions.get((table, key), 0) != base:
                self._close()
                raise ConcurrencyError(
                    f"{SCHEMA[table].entity} {key} was changed by a concurrent transaction"
                )
        try:
            self._check_against_committed()
        except Exception:
            self._close()
            raise
        now = db.now()
        db.audit.record(self._changes(), actor=actor, now=now, lookup=self._any_version)
        for table, writes in self._writes.items():
            rows = db.tables[table]
            for key, row in writes.items():
                if row is _DELETED:
                    rows.pop(key, None)
                else:
                    rows[key] = row
                db.versions[(table, key)] = db.versions.get((table, key), 0) + 1
        for table, key in self._locked - {(t, k) for t, w in self._writes.items() for k in w}:
            db.versions[(table, key)] = db.versions.get((table, key), 0) + 1
        for event in events:
            db.outbox.append(
                OutboxRecord(
                    id=uuid.uuid4(), event=event, created_at=now, sequence=db._next_sequence()
                )
            )
        self._close()

    def rollback(self) -> None:
        self._close()

    def _changes(self) -> Iterator[Change]:
        """Each written row as committed before and as this transaction leaves it."""
        for table, writes in self._writes.items():
            committed = self._db.tables[table]
            for key, row in writes.items():
                before = committed.get(key)
                after = None if row is _DELETED else row
                if before is not None or after is not None:
                    yield Change(table, before, after)

    def _any_version(self, table: str, key: Any) -> Any:
        """The row as written by this transaction, else as committed, deleted or not."""
        row = self._writes[table].get(key)
        return row if row is not None and row is not _DELETED else self._db.tables[table].get(key)

    def _close(self) -> None:
        """End the transaction and release its row locks."""
        self.closed = True
        for slot in list(self._locked):
            self._release(slot)

    def _require_open(self) -> None:
        if self.closed:
            raise RuntimeError("the transaction is already closed")

    def _check_against_committed(self) -> None:
        """Writes were checked when made; rows committed by others since then may clash
        with them (unique keys) or have removed their parents (foreign keys)."""
        for table, writes in self._writes.items():
            spec = SCHEMA[table]
            if not writes:
                continue
            live = [row for row in writes.values() if row is not _DELETED]
            for columns, where in spec.unique_keys():
                seen: dict[tuple[Any, ...], Any] = {}
                for row in self._scan_any(table):
                    values = tuple(getattr(row, c) for c in columns)
                    if any(v is None for v in values) or not where(row):
                        continue
                    other = seen.setdefault(values, row.id)
                    if other != row.id:
                        raise DuplicateError(
                            spec.entity, _describe(columns), _describe_values(values)
                        )
            for row in live:
                for fk in spec.foreign_keys:
                    parent_id = getattr(row, fk.column)
                    if parent_id is not None and self._get_any(fk.parent, parent_id) is None:
                        raise NotFoundError(SCHEMA[fk.parent].entity, parent_id)


def _first_match(
    rows: Iterator[Any],
    columns: tuple[str, ...],
    values: tuple[Any, ...],
    where: Callable[[Any], bool],
) -> Any:
    for row in rows:
        if where(row) and tuple(getattr(row, c) for c in columns) == values:
            return row
    return None


def _describe(columns: tuple[str, ...]) -> str:
    return columns[0] if len(columns) == 1 else "(" + ", ".join(columns) + ")"


def _describe_values(values: tuple[Any, ...]) -> Any:
    plain = tuple(v.value if isinstance(v, enum.Enum) else v for v in values)
    return plain[0] if len(plain) == 1 else plain
