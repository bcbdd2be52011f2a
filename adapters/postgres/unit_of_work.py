"""The PostgreSQL unit of work: one pooled connection, one transaction at a time."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

from adapters.common import (
    UNIT_ENDED,
    CommitHook,
    check_reachable,
    check_unit_scope,
    run_commit_hook,
)
from adapters.postgres._sql import Connection
from adapters.postgres.analysis import PostgresAnalysisRepository
from adapters.postgres.audit import PostgresAuditTrail
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.errors import translate, translated
from adapters.postgres.files import PostgresFileIndexRepository
from adapters.postgres.issues import PostgresIssueRepository
from adapters.postgres.organizations import (
    PostgresMemberRepository,
    PostgresOrganizationRepository,
    PostgresUserRepository,
)
from adapters.postgres.outbox import INSERT_EVENT, event_params
from adapters.postgres.projects import (
    PostgresBranchRepository,
    PostgresProjectRepository,
    PostgresRepositoryRepository,
)
from adapters.postgres.quality import (
    PostgresMeasureRepository,
    PostgresNewCodeRepository,
    PostgresQualityGateRepository,
)
from adapters.postgres.rules import PostgresRuleConfigRepository, PostgresRuleRepository
from domain.events import DomainEvent
from domain.ids import OrganizationId
from ports.errors import TransactionAbortedError

__all__ = ["PostgresUnitOfWork"]

# What the unit's transaction says of it, set LOCAL so that it ends with the transaction
# and a connection returned to the pool carries none of it: the actor the audit triggers
# record, and the organization whose rows row-level security lets it see (or the system
# scope). Sent in one pipeline with BEGIN and the unit's first statement (see
# _Transaction): one round trip, as that statement alone takes; before a plain read that
# comes first, in the pipeline's implicit transaction, without BEGIN.
SET_SCOPE = (
    "SELECT set_config('codeant.actor', %s, true),"
    " set_config('codeant.organization_id', %s, true), set_config('codeant.scope', %s, true)"
)


class _Transaction:
    """The unit's connection (see :class:`adapters.postgres._sql.Statements`). Its
    transaction begins with the unit's first statement: BEGIN, the unit's scope and that
    statement go to the server in one pipeline, one round trip (the driver's own BEGIN
    would be a round trip of its own, so the connection is in autocommit mode and the
    transaction is run here; COMMIT and ROLLBACK go through the driver, which sends
    them whenever a transaction is open). A unit that runs no statement sends nothing.

    Plain reads that come before any other statement run without BEGIN: the scope and
    the read go in one pipeline, whose statements the server runs as one implicit
    transaction that ends with it, so the scope holds for the read and is gone after it.
    Under READ COMMITTED, the read sees what it would have seen as the transaction's
    first statement (each statement reads a snapshot of its own) and takes no lock that
    the transaction would have kept; the transaction begins with the next statement
    that is not such a read. A unit that only reads so sends one round trip a read and
    no ROLLBACK."""

    __slots__ = ("_scope", "conn")

    def __init__(self, conn: Connection, scope: tuple[str, str, str]) -> None:
        self.conn = conn
        self._scope: tuple[str, str, str] | None = scope

    async def execute(self, query: Any, params: Any = None) -> psycopg.AsyncCursor[Any]:
        if self._scope is None:
            return await self.conn.execute(query, params)
        async with self.conn.pipeline():
            await self._begin()
            cursor = await self.conn.execute(query, params)
        return cursor

    async def read(self, query: Any, params: Any = None) -> psycopg.AsyncCursor[Any]:
        if self._scope is None:
            return await self.conn.execute(query, params)
        async with self.conn.pipeline():
            await self.conn.execute(SET_SCOPE, self._scope)  # for this read alone
            cursor = await self.conn.execute(query, params)
        return cursor

    async def connection(self) -> Connection:
        if self._scope is not None:
            async with self.conn.pipeline():
                await self._begin()
        return self.conn

    async def _begin(self) -> None:
        scope, self._scope = self._scope, None  # begun, whatever the server answers
        await self.conn.execute(b"BEGIN", prepare=False)
        await self.conn.execute(SET_SCOPE, scope)


class PostgresUnitOfWork:
    """A unit of work on PostgreSQL (see ports.unit_of_work.UnitOfWork).

    Entering takes a connection from the database's pool (opening the database on first
    use; UnavailableError if no connection comes within the pool's timeout); every
    repository of the unit runs on it; leaving rolls back what was not committed and
    returns the connection. Commit writes the collected events to the outbox in the same
    transaction, then hands them to ``on_commit``. The schema's triggers record every
    change in the audit trail under ``actor`` (``db:<user>`` when None). A unit opened for
    ``organization_id`` sees and writes only that organization's rows, as the database's
    row-level security enforces; one made with ``system=True`` every row. The
    transaction begins with the unit's first statement and sets both LOCAL, in the round
    trip of that statement; lookups that come first (``find_by_...``) run before it, each
    in a round trip of its own with the unit's scope (see :class:`_Transaction`). After
    a port error from a statement, PostgreSQL has aborted the transaction: leave the
    block (or roll back) before using the unit again.
    """

    def __init__(
        self,
        database: PostgresDatabase | AsyncConnectionPool[Any],
        *,
        on_commit: CommitHook | None = None,
        actor: str | None = None,
        organization_id: OrganizationId | None = None,
        system: bool = False,
    ) -> None:
        check_unit_scope(actor, organization_id, system)
        self._actor = actor
        self._organization_id = organization_id
        self._ended = False
        self._on_commit = on_commit
        if not isinstance(database, PostgresDatabase):
            database = PostgresDatabase.from_pool(database)
        self._database = database
        self._pool: AsyncConnectionPool[Any] | None = None
        self._transaction: _Transaction | None = None
        self._events: list[DomainEvent] = []
        self.organizations = PostgresOrganizationRepository(self._active)
        self.users = PostgresUserRepository(self._active)
        self.members = PostgresMemberRepository(self._active)
        self.projects = PostgresProjectRepository(self._active)
        self.repositories = PostgresRepositoryRepository(self._active)
        self.branches = PostgresBranchRepository(self._active)
        self.files = PostgresFileIndexRepository(self._active)
        self.analysis = PostgresAnalysisRepository(self._active)
        self.rules = PostgresRuleRepository(self._active)
        self.rule_configs = PostgresRuleConfigRepository(self._active)
        self.issues = PostgresIssueRepository(self._active)
        self.measures = PostgresMeasureRepository(self._active)
        self.quality_gates = PostgresQualityGateRepository(self._active)
        self.new_code = PostgresNewCodeRepository(self._active)
        self.audit = PostgresAuditTrail(self._active)

    @property
    def actor(self) -> str | None:
        return self._actor

    @property
    def organization_id(self) -> OrganizationId | None:
        return self._organization_id

    def _scope(self) -> tuple[str, str, str]:
        if self._organization_id is None:
            return (self._actor or "", "", "system")
        return (self._actor or "", str(self._organization_id), "")

    def _active(self) -> _Transaction:
        if self._transaction is None:
            raise RuntimeError("the unit of work is not active: use it inside 'async with'")
        if self._ended:
            raise RuntimeError(UNIT_ENDED)
        return self._transaction

    async def __aenter__(self) -> Self:
        if self._transaction is not None:
            raise RuntimeError("the unit of work is already active; units cannot be nested")
        async with translated():
            self._pool = await self._database.pool()
            conn = await self._pool.getconn()
            try:
                if not conn.autocommit:
                    await conn.set_autocommit(True)
            except BaseException:
                await _give_back(self._pool, conn)
                raise
            self._transaction = _Transaction(conn, self._scope())
        self._ended = False
        self._events = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        transaction, self._transaction = self._transaction, None
        self._events = []
        if transaction is None:
            return
        assert self._pool is not None
        await _give_back(self._pool, transaction.conn, clean=exc_type is None)

    async def commit(self) -> None:
        transaction = self._active()
        conn = transaction.conn
        events, self._events = self._events, []
        self._ended = True  # committed or not, the transaction ends here
        if conn.info.transaction_status == TransactionStatus.INERROR:
            # COMMIT would silently roll back: say so instead
            with contextlib.suppress(psycopg.Error):
                await conn.rollback()
            raise TransactionAbortedError()
        try:
            if events:
                await transaction.connection()
                async with conn.cursor() as cur:
                    await cur.executemany(INSERT_EVENT, [event_params(e) for e in events])
            await conn.commit()
        except Exception as exc:
            if not conn.closed:
                with contextlib.suppress(psycopg.Error):
                    await conn.rollback()
            mapped: Any = translate(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        await run_commit_hook(self._on_commit, events)

    async def rollback(self) -> None:
        conn = self._active().conn
        self._events = []
        self._ended = True
        async with translated():
            await conn.rollback()

    def sibling(self) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(
            self._database,
            on_commit=self._on_commit,
            actor=self._actor,
            organization_id=self._organization_id,
            system=self._organization_id is None,
        )

    def for_organization(self, organization_id: OrganizationId) -> PostgresUnitOfWork:
        check_reachable(self._organization_id, organization_id)
        return PostgresUnitOfWork(
            self._database,
            on_commit=self._on_commit,
            actor=self._actor,
            organization_id=organization_id,
        )

    def add_event(self, event: DomainEvent) -> None:
        self._active()
        self._events.append(event)

    @property
    def events(self) -> Sequence[DomainEvent]:
        return tuple(self._events)


async def _give_back(
    pool: AsyncConnectionPool[Any], conn: Connection, *, clean: bool = False
) -> None:
    """End whatever transaction the unit left open and return the connection to the pool
    in the driver's transaction mode, as every pool user expects it (the pool's own reset
    hook would send every return through a background task); a connection that cannot
    end its transaction is closed, so the pool replaces it. A ``clean`` exit (no error)
    keeps the driver's prepared statements (see _quiet_rollback)."""
    try:
        if not conn.closed:
            with contextlib.suppress(psycopg.Error):
                if clean and conn.info.transaction_status == TransactionStatus.INTRANS:
                    await _quiet_rollback(conn)
                else:
                    await conn.rollback()
            if conn.info.transaction_status == TransactionStatus.IDLE:
                await conn.set_autocommit(False)
            else:
                await conn.close()
    finally:
        await pool.putconn(conn)


async def _quiet_rollback(conn: Connection) -> None:
    """Roll back a transaction that raised no error, keeping the driver's prepared
    statements. The driver forgets all of them on every ROLLBACK it sees (a table dropped
    by the rollback could come back changed), and a unit that only read ends with a
    rollback: its statements would never reach the driver's prepare threshold and each
    would be parsed and planned, row-level security policies included, every time. The
    only objects units create are the bulk paths' temporary stage tables, each of one
    fixed shape, and PostgreSQL replans a prepared statement whose tables were dropped
    and made again, so the rollback is sent with the cache's bookkeeping off (a public
    setting of the driver). A unit that raised rolls back through the driver, which
    forgets its prepared statements as usual."""
    threshold = conn.prepare_threshold
    conn.prepare_threshold = None
    try:
        await conn.execute(b"ROLLBACK", prepare=False)
    finally:
        conn.prepare_threshold = threshold
