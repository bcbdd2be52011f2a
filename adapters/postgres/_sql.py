"""Helpers shared by the PostgreSQL repositories: statement text built from column lists,
entity <-> row conversion, and keyset pages."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import attrs
from psycopg import AsyncConnection, AsyncCursor, sql
from psycopg.types.json import Jsonb

from adapters.postgres.errors import translated
from adapters.serialization import structure, unstructure
from ports.pagination import Page, PageRequest, check_sort, decode_cursor, encode_cursor

__all__ = [
    "Connection",
    "Repo",
    "Statements",
    "columns",
    "copy_merge",
    "entity_params",
    "fetch_page",
    "insert_sql",
    "plain",
    "to_entity",
    "update_sql",
]

T = TypeVar("T")
Connection = AsyncConnection[dict[str, Any]]


def columns(names: Sequence[str], alias: str | None = None) -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + n for n in names)


def insert_sql(table: str, names: Sequence[str]) -> str:
    """``INSERT INTO table (names) VALUES (%(name)s, ...) RETURNING names``."""
    values = ", ".join(f"%({n})s" for n in names)
    return f"INSERT INTO {table} ({columns(names)}) VALUES ({values}) RETURNING {columns(names)}"


def update_sql(table: str, names: Sequence[str], *, where: str, skip: Iterable[str] = ()) -> str:
    """``UPDATE table SET n = %(n)s, ... WHERE <where> RETURNING names``; id, created_at,
    updated_at (the trigger's) and ``skip`` are not set."""
    fixed = {"id", "created_at", "updated_at", *skip}
    sets = ", ".join(f"{n} = %({n})s" for n in names if n not in fixed)
    return f"UPDATE {table} SET {sets} WHERE {where} RETURNING {columns(names)}"


def plain(value: Any) -> Any:
    """A value as a query parameter: enums by value, tuples of enums as lists."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value


def entity_params(entity: Any, *, json: Iterable[str] = ()) -> dict[str, Any]:
    """Query parameters named after the entity's fields; ``json`` fields become JSONB."""
    json_fields = set(json)
    out: dict[str, Any] = {}
    for field in attrs.fields(type(entity)):
        value = getattr(entity, field.name)
        if field.name in json_fields:
            out[field.name] = None if value is None else Jsonb(unstructure(value))
        else:
            out[field.name] = plain(value)
    return out


def to_entity(row: Mapping[str, Any], cls: type[T]) -> T:
    """Structure a row whose column names are the fields of ``cls`` (a ``DECIMAL``
    column's ``Decimal`` becomes the float its field holds, as the converter makes it)."""
    return structure(row, cls)


class Statements(Protocol):
    """Where a repository's statements run: a unit of work's transaction."""

    async def execute(self, query: Any, params: Any = None) -> AsyncCursor[dict[str, Any]]:
        """Run one statement (the transaction begun first if it is not yet)."""

    async def read(self, query: Any, params: Any = None) -> AsyncCursor[dict[str, Any]]:
        """Run one plain read: a SELECT that locks nothing and changes nothing (not even
        through a function it calls), which a transaction's later statements need not
        follow (under READ COMMITTED each statement reads a snapshot of its own)."""

    async def connection(self) -> Connection:
        """The connection, its transaction begun, for cursors and COPY."""


class Repo:
    """Base of a repository: the unit's statements and a few query shortcuts."""

    def __init__(self, statements: Callable[[], Statements]) -> None:
        self._statements = statements

    async def _connection(self) -> Connection:
        async with translated():
            return await self._statements().connection()

    async def _all(self, query: Any, params: Any = None) -> list[dict[str, Any]]:
        async with translated():
            cur = await self._statements().execute(query, params)
            return await cur.fetchall()

    async def _one(self, query: Any, params: Any = None) -> dict[str, Any] | None:
        async with translated():
            cur = await self._statements().execute(query, params)
            return await cur.fetchone()

    async def _read_one(self, query: Any, params: Any = None) -> dict[str, Any] | None:
        """:meth:`_one` of a plain read (see :meth:`Statements.read`)."""
        async with translated():
            cur = await self._statements().read(query, params)
            return await cur.fetchone()

    async def _rowcount(self, query: Any, params: Any = None) -> int:
        async with translated():
            cur = await self._statements().execute(query, params)
            return cur.rowcount

    async def _many(self, query: Any, params_seq: Sequence[Any]) -> None:
        if not params_seq:
            return
        conn = await self._connection()
        async with translated(), conn.cursor() as cur:
            await cur.executemany(query, params_seq)


async def fetch_page(
    repo: Repo,
    base: str,
    params: Mapping[str, Any],
    request: PageRequest,
    *,
    sorts: Sequence[str],
    text_sorts: frozenset[str] = frozenset(),
    alias: str | None = None,
    convert: Callable[[dict[str, Any]], T],
) -> Page[T]:
    """One keyset page of ``base`` (a SELECT ending in a WHERE clause) ordered by
    ``(sort, id)``. Text sorts compare bytewise (COLLATE "C"), as every adapter does."""
    sort = check_sort(request, sorts, sorts[0])
    column: sql.Composable = sql.Identifier(*((alias, sort) if alias else (sort,)))
    if sort in text_sorts:
        column = sql.SQL('{} COLLATE "C"').format(column)
    id_column = sql.Identifier(*((alias, "id") if alias else ("id",)))
    direction = sql.SQL("DESC" if request.descending else "ASC")
    query_params = dict(params, _limit=request.limit + 1)
    after: sql.Composable = sql.SQL("")
    if request.cursor is not None:
        cursor = decode_cursor(request.cursor, sort=sort, descending=request.descending)
        after = sql.SQL(" AND ({}, {}) {} (%(_after_value)s, %(_after_id)s)").format(
            column, id_column, sql.SQL("<" if request.descending else ">")
        )
        query_params.update(_after_value=cursor.value, _after_id=cursor.id)
    query = sql.SQL("{base}{after} ORDER BY {column} {dir}, {id} {dir} LIMIT %(_limit)s").format(
        base=sql.SQL(base),
        after=after,
        column=column,
        dir=direction,
        id=id_column,
    )
    rows = await repo._all(query, query_params)
    items = rows[: request.limit]
    next_cursor = None
    if len(rows) > request.limit:
        last = items[-1]
        next_cursor = encode_cursor(sort, request.descending, plain(last[sort]), last["id"])
    return Page(tuple(convert(r) for r in items), next_cursor)


async def copy_merge(
    conn: Connection,
    *,
    table: str,
    names: Sequence[str],
    rows: Iterable[Sequence[Any]],
    merge: str,
) -> None:
    """COPY ``rows`` (values of ``names``) into a temporary stage shaped like those columns
    of ``table``, run ``merge`` (an INSERT ... SELECT from ``{stage}``), and drop the stage.

    Bulk writes go through a stage because PostgreSQL refuses COPY into a table under
    row-level security; the merge writes the rows as an INSERT, which the policies check.
    """
    stage = sql.Identifier(f"stage_{uuid.uuid4().hex}")
    names_sql = sql.SQL(columns(names))
    async with translated():
        await conn.execute(
            sql.SQL(
                "CREATE TEMPORARY TABLE {stage} ON COMMIT DROP"
                " AS SELECT {names} FROM {table} WITH NO DATA"
            ).format(stage=stage, names=names_sql, table=sql.Identifier(table))
        )
        copy_sql = sql.SQL("COPY {stage} ({names}) FROM STDIN").format(stage=stage, names=names_sql)
        async with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            for row in rows:
                await copy.write_row(row)
        await conn.execute(sql.SQL(merge).format(stage=stage))
        await conn.execute(sql.SQL("DROP TABLE {}").format(stage))
