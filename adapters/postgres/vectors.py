"""The vector store port in PostgreSQL with pgvector.

Its objects live apart from the relational schema (which must keep migrating on servers
without pgvector, and which ``codeant db verify`` compares with the migrations): the first
:meth:`PgVectorStore.ensure_collection` creates the ``vector`` extension, a schema of its
own (``codeant_vectors`` by default) and in it the registry ``collections(name, dimension,
distance, created_at)``; each collection is a table ``vectors_<name>`` (``id uuid``,
``embedding vector(dimension)``, ``payload jsonb``, ``updated_at``) with a GIN
(``jsonb_path_ops``) index on the payload for filters and, once it holds
:data:`INDEX_THRESHOLD` points, an HNSW index on the embedding, using the operator class of
its distance (a smaller collection is searched exactly, by a scan of its table). The HNSW
index may instead hold the embeddings quantized (see :data:`INDEX_KINDS`): the table keeps
every vector in full, and a search re-scores the index's candidates with the exact
distance. A collection name longer than 50 characters
becomes its first 34 and a hash of the whole, so that every identifier fits PostgreSQL's
63 bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import re
import struct
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import attrs
from psycopg import AsyncConnection, sql
from psycopg import errors as pg
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.errors import translated
from adapters.vector_rules import (
    Conditions,
    check_dimension,
    check_distance,
    check_indexed,
    check_limit,
    check_name,
    check_points,
    check_threshold,
    check_vector,
    conditions,
    delete_conditions,
    matches_nothing,
    mismatch_error,
    ordered_by_request,
    top_hits,
    unique_ids,
)
from domain.vectors import Vector
from ports.errors import NotFoundError, PersistenceError, UnavailableError, ValidationError
from ports.vectors import CollectionInfo, Distance, ScoredPoint, VectorFilter, VectorPoint

__all__ = [
    "COPY_POINTS",
    "HNSW_MAX_DIMENSION",
    "INDEX_KINDS",
    "MIN_CANDIDATES",
    "PgVectorStore",
    "table_names",
]

log = logging.getLogger(__name__)

HNSW_MAX_DIMENSION = 2000
"""pgvector indexes vectors of at most this many dimensions; larger collections get no
HNSW index, and their searches scan the table (exact, slower)."""
INDEX_KINDS = ("vector", "halfvec", "binary")
"""What the HNSW index of a new collection holds: the vectors as stored (``vector``); each
as half-precision floats (``halfvec``, up to 4,000 dimensions); or its binary
quantization, one bit per dimension, the sign (``binary``, up to 64,000 dimensions). The
graph's links do not shrink: at 384 dimensions a halfvec index is 57% of a full one's
size, a binary one 17%. The two quantized kinds are searched for ``rescore`` candidates per hit
asked (at least :data:`MIN_CANDIDATES`), ranked by their exact distance."""
_MAX_INDEXED = {"vector": HNSW_MAX_DIMENSION, "halfvec": 4000, "binary": 64000}
INDEX_THRESHOLD = 15_000
"""The points from which a collection gets its HNSW index, by default. Below it, an exact
search scans the table: about 0.55 ms per 1,000 points of 384 dimensions on one core, so
that a collection just under it answers within 10 ms, and exactly, while a repository of
that many functions is indexed without the cost of a graph build (several seconds of the
server's CPU) that its searches would hardly use."""
MIN_CANDIDATES = 100
"""The fewest candidates a search of a quantized index re-scores (all of a smaller
collection's, so that its searches are exact)."""
_QUANTIZED_SINCE = (0, 7, 0)
HALF_MAX = 65504.0
"""The largest half-precision float: a halfvec index refuses larger components."""

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_BULK_POINTS = 1000
"""An upsert of at least this many points, and of at least one point for every
:data:`_BULK_SHARE` the collection holds, builds the HNSW index again after writing them
(one build is several times cheaper than as many inserts into the live index)."""
_BULK_SHARE = 8
COPY_POINTS = 200
"""An upsert of at least this many points goes through COPY (see PgVectorStore._copy)."""
_ITERATIVE_SCAN_SINCE = (0, 8, 0)
_MAX_BUILD_MEMORY_MB = 2 * 1024 * 1024 - 1
"""PostgreSQL's largest maintenance_work_mem, in MB (just under 2 TB)."""
_MAX_THRESHOLD = 2**31 - 1


@attrs.frozen
class _Metric:
    operator: str
    opclass: str
    half_opclass: str


_METRICS = {
    Distance.COSINE: _Metric("<=>", "vector_cosine_ops", "halfvec_cosine_ops"),
    Distance.DOT: _Metric("<#>", "vector_ip_ops", "halfvec_ip_ops"),
    Distance.EUCLIDEAN: _Metric("<->", "vector_l2_ops", "halfvec_l2_ops"),
}

# --------------------------------------------------------------------------- SQL

AVAILABLE = (
    "SELECT installed_version, default_version FROM pg_available_extensions WHERE name = 'vector'"
)
CREATE_EXTENSION = "CREATE EXTENSION IF NOT EXISTS vector"
EXTENSION_VERSION = "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
# Serializes creating and dropping collections (and the extension) in a database.
LOCK = "SELECT pg_advisory_xact_lock(hashtext('codeant.vector_store'))"
CREATE_SCHEMA = sql.SQL("CREATE SCHEMA IF NOT EXISTS {schema}")
CREATE_REGISTRY = sql.SQL("""
CREATE TABLE IF NOT EXISTS {schema}.collections (
    name text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_-]{{1,255}}$'),
    dimension integer NOT NULL CHECK (dimension > 0),
    distance text NOT NULL CHECK (distance IN ('cosine', 'dot', 'euclidean')),
    created_at timestamptz NOT NULL DEFAULT now()
)""")
REGISTER = sql.SQL(
    "INSERT INTO {schema}.collections (name, dimension, distance) VALUES (%s, %s, %s)"
)
SELECT_ONE = sql.SQL("SELECT dimension, distance FROM {schema}.collections WHERE name = %s")
SELECT_ALL = sql.SQL("SELECT name, dimension, distance FROM {schema}.collections ORDER BY name")
UNREGISTER = sql.SQL("DELETE FROM {schema}.collections WHERE name = %s RETURNING name")
INLINE_ROWS = 8160
"""The ``toast_tuple_target`` of a collection's table: the largest rows PostgreSQL keeps
whole in the table's pages. At its default (about 2 kB) a 384-dimension vector beside a
code snippet's payload went to the TOAST table, one more row and index entry to write
for each point and one more index lookup for each point read (copying 10,700 such points
took half as long again, an exact search of them four times as long). Rows up to 8 kB (a
vector of 1,800 dimensions with its payload) now stay whole; larger ones are still
compressed or moved out as before."""
CREATE_TABLE = sql.SQL("""
CREATE TABLE {schema}.{table} (
    id uuid PRIMARY KEY,
    embedding vector({dimension}) NOT NULL,
    payload jsonb NOT NULL DEFAULT '{{}}',
    updated_at timestamptz NOT NULL DEFAULT now()
) WITH (toast_tuple_target = {inline})""")
INLINE_SET = (
    "SELECT coalesce(%s = ANY(reloptions), false) AS inline FROM pg_class"
    " WHERE oid = to_regclass(%s)"
)
SET_INLINE = sql.SQL("ALTER TABLE {schema}.{table} SET (toast_tuple_target = {inline})")
CREATE_HNSW = sql.SQL(
    "CREATE INDEX {index} ON {schema}.{table} USING hnsw ({key} {opclass})"
    " WITH (m = {m}, ef_construction = {ef_construction})"
)
CREATE_GIN = sql.SQL("CREATE INDEX {index} ON {schema}.{table} USING gin (payload jsonb_path_ops)")
DROP_TABLE = sql.SQL("DROP TABLE IF EXISTS {schema}.{table}")
UPSERT = sql.SQL("""
INSERT INTO {schema}.{table} (id, embedding, payload, updated_at)
VALUES (%s, %b::vector, %s, now())
ON CONFLICT (id) DO UPDATE
SET embedding = EXCLUDED.embedding, payload = EXCLUDED.payload, updated_at = now()
""")
# A large upsert: COPY into a stage shaped like the table, then one merge.
CREATE_STAGE = sql.SQL(
    "CREATE TEMPORARY TABLE {stage} (LIKE {schema}.{table} INCLUDING DEFAULTS) ON COMMIT DROP"
)
COPY_STAGE = sql.SQL("COPY {stage} (id, embedding, payload) FROM STDIN (FORMAT BINARY)")
MERGE_STAGE = sql.SQL("""
INSERT INTO {schema}.{table} (id, embedding, payload, updated_at)
SELECT id, embedding, payload, now() FROM {stage}
ON CONFLICT (id) DO UPDATE
SET embedding = EXCLUDED.embedding, payload = EXCLUDED.payload, updated_at = now()
""")
DROP_STAGE = sql.SQL("DROP TABLE {stage}")
# An upsert into an empty collection, locked (or its index dropped): straight into the table.
COPY_TABLE = sql.SQL("COPY {schema}.{table} (id, embedding, payload) FROM STDIN (FORMAT BINARY)")
EMPTY = sql.SQL("SELECT NOT EXISTS (SELECT FROM {schema}.{table}) AS empty")
# Other writers wait (searches go on) until the transaction ends.
LOCK_WRITES = sql.SQL("LOCK TABLE {schema}.{table} IN SHARE ROW EXCLUSIVE MODE")
# Whether a collection holds at least %s points, without counting past them.
HOLDS = sql.SQL("SELECT count(*) >= %s AS holds FROM (SELECT FROM {schema}.{table} LIMIT %s) AS s")
# The HNSW index of a collection, as created, and the table's estimated rows.
HNSW_INDEX = """
SELECT i.indexdef, c.reltuples FROM pg_indexes i JOIN pg_class c ON c.oid = %s::regclass
WHERE i.schemaname = %s AND i.indexname = %s
"""
DROP_INDEX = sql.SQL("DROP INDEX {schema}.{index}")
# After a bulk write: until the statistics count its rows, the planner takes a filter for
# one that matches almost nothing and scans the table instead of the HNSW index.
ANALYZE = sql.SQL("ANALYZE {schema}.{table}")
BUILD_MEMORY = "SELECT set_config('maintenance_work_mem', %s, true)"
SEARCH_SETTINGS = "SELECT set_config('hnsw.ef_search', %s, true)"
ITERATIVE_SCAN = "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)"
# Relaxed iterative scans may yield rows slightly out of order: the outer query re-sorts.
SEARCH = sql.SQL("""
WITH hits AS MATERIALIZED (
    SELECT id, payload, embedding {operator} %b::vector AS distance
    FROM {schema}.{table}
    WHERE {where}
    ORDER BY distance
    LIMIT %s
)
SELECT id, payload, distance FROM hits ORDER BY distance, id
""")
# A quantized index gives candidates in the order of its key; the exact distance ranks them.
RESCORED_SEARCH = sql.SQL("""
WITH candidates AS MATERIALIZED (
    SELECT id, payload, embedding
    FROM {schema}.{table}
    WHERE {where}
    ORDER BY {key} {key_operator} {key_query}
    LIMIT %s
)
SELECT id, payload, embedding {operator} %b::vector AS distance
FROM candidates ORDER BY distance, id LIMIT %s
""")
# Points are read in binary (see _points): vector_send is pgvector's binary output.
RETRIEVE = sql.SQL(
    "SELECT id, vector_send(embedding), payload FROM {schema}.{table} WHERE id = ANY(%s)"
)
SCROLL = sql.SQL(
    "SELECT id, vector_send(embedding), payload FROM {schema}.{table}"
    " WHERE {where} ORDER BY id LIMIT %s"
)
COUNT = sql.SQL("SELECT count(*) AS n FROM {schema}.{table} WHERE {where}")
DELETE_IDS = sql.SQL("DELETE FROM {schema}.{table} WHERE id = ANY(%s)")
DELETE_WHERE = sql.SQL("DELETE FROM {schema}.{table} WHERE {where}")

Connection = AsyncConnection[Any]
Row = dict[str, Any]
Query = str | sql.Composed


@attrs.frozen
class _Collection:
    name: str
    dimension: int
    distance: Distance


@attrs.frozen
class _Key:
    """What an HNSW index of some kind orders by, and how a search asks it."""

    expression: sql.Composable
    opclass: str
    operator: str
    query: sql.Composable


def _key(kind: str, dimension: int, distance: Distance) -> _Key:
    metric, width = _METRICS[distance], sql.Literal(dimension)
    if kind == "halfvec":
        return _Key(
            sql.SQL("(embedding::halfvec({}))").format(width), metric.half_opclass,
            metric.operator, sql.SQL("%b::vector::halfvec({})").format(width),
        )  # fmt: skip
    if kind == "binary":
        return _Key(
            sql.SQL("(binary_quantize(embedding)::bit({}))").format(width), "bit_hamming_ops",
            "<~>", sql.SQL("binary_quantize(%b::vector)"),
        )  # fmt: skip
    return _Key(sql.SQL("embedding"), metric.opclass, metric.operator, sql.SQL("%b::vector"))


def _kind_of(indexdef: str | None) -> str:
    """The kind of an HNSW index from its definition (``vector`` without one)."""
    if indexdef is None:
        return "vector"
    if "binary_quantize" in indexdef:
        return "binary"
    return "halfvec" if "halfvec" in indexdef else "vector"


async def _require_available(conn: Connection) -> dict[str, Any]:
    """The server's row of the ``vector`` extension; UnavailableError naming what to do
    when the server offers none."""
    row = await _one(conn, AVAILABLE)
    if row is None:
        where = f"{conn.info.host}:{conn.info.port}/{conn.info.dbname}"
        raise UnavailableError(
            f"the PostgreSQL server at {where} has no 'vector' extension (pgvector) "
            "available: install pgvector on it (e.g. the postgresql-<version>-pgvector "
            "package, or the pgvector/pgvector image), use the embedded server (leave "
            "CODEANT_DATABASE_URL unset), or choose another vector store"
        )
    return row


class PgVectorStore:
    """Implements :class:`ports.vectors.VectorStore` in PostgreSQL with pgvector (see the
    module docstring for the objects it creates, and when).

    ``m``, ``ef_construction`` and ``index`` (one of :data:`INDEX_KINDS`) shape the HNSW
    index of collections created from now on. A collection gets its index once it holds
    ``index_threshold`` points (at creation with 0): the write that brings it there builds
    the index after it commits, in a transaction of its own (searches wait for the build,
    other writes of the collection too); until then, and in a collection of more dimensions
    than its kind takes, searches scan the table (exact). Once built, the index stays
    whatever the collection's size. ``ef_search`` is the candidate list of a
    search, raised to the number of hits asked for (at most 1000), and to the candidates
    of a quantized index (``rescore`` per hit, at least :data:`MIN_CANDIDATES`, at most
    1000), which a search then ranks by their exact distance. An existing collection is
    searched as its index was built (read from the index's definition once per store).
    On pgvector 0.8 or later, searches also set ``hnsw.iterative_scan = relaxed_order``,
    so a selective filter still yields the full top k; both settings are ``SET LOCAL`` in
    the search's transaction. Filters are payload containment (``payload @> '{"key":
    value}'``, an OR of them for a list), so numbers match by value and booleans never
    match numbers. An upsert is one transaction: one pipelined statement per point, or,
    from :data:`COPY_POINTS` points, a binary COPY into a temporary stage merged into the
    table by one statement; a large one (at least 1,000 points and one eighth of the
    collection) drops the HNSW index and builds it again after the writes, in the same
    transaction (searches of the collection wait for it). One of at least
    :data:`COPY_POINTS` points into an empty collection copies them straight into the
    table, which the dropped index, or else a lock, keeps from other writers until it
    commits (they wait, and then merge theirs). After such a
    build (and after :meth:`bulk_load`) the table is analysed in the same transaction:
    until its statistics count the rows, the planner takes a filtered search for one that
    matches nearly nothing and scans the whole table rather than the index. Every HNSW
    build runs with ``maintenance_work_mem`` set to ``build_memory_mb`` for its
    transaction (the server's setting when None). For COSINE, a zero vector scores 0.

    On a server that offers no ``vector`` extension, or where the role may not create it,
    ensure_collection raises :class:`~ports.errors.UnavailableError` saying so and how to
    get it. Raises ValueError on a bad configuration.
    """

    def __init__(
        self,
        database: PostgresDatabase | AsyncConnectionPool[Any],
        *,
        schema: str = "codeant_vectors",
        m: int = 16,
        ef_construction: int = 64,
        ef_search: int = 100,
        index: str = "vector",
        rescore: int = 10,
        build_memory_mb: int | None = None,
        index_threshold: int = INDEX_THRESHOLD,
    ) -> None:
        if not isinstance(schema, str) or not _SCHEMA_RE.match(schema):
            raise ValueError(
                f"schema must be 1 to 63 lower-case letters, digits or '_', got {schema!r}"
            )
        _check_setting("m", m, 2, 100)
        _check_setting("ef_construction", ef_construction, 4, 1000)
        _check_setting("ef_search", ef_search, 1, 1000)
        _check_setting("rescore", rescore, 1, 100)
        _check_setting("index_threshold", index_threshold, 0, _MAX_THRESHOLD)
        if build_memory_mb is not None:
            _check_setting("build_memory_mb", build_memory_mb, 1, _MAX_BUILD_MEMORY_MB)
        if index not in INDEX_KINDS:
            raise ValueError(f"index must be one of {', '.join(INDEX_KINDS)}, got {index!r}")
        if ef_construction < 2 * m:
            raise ValueError(f"ef_construction ({ef_construction}) must be at least twice m ({m})")
        if not isinstance(database, PostgresDatabase):
            database = PostgresDatabase.from_pool(database)
        self._database = database
        self._schema = schema
        self._m = m
        self._ef_construction = ef_construction
        self._ef_search = ef_search
        self._index = index
        self._rescore = rescore
        self._build_memory = build_memory_mb
        self._threshold = index_threshold
        self._loading: dict[str, int] = {}
        """The bulk loads of each collection under way in this store (see bulk_load)."""
        self._version: tuple[int, ...] | None = None
        self._kinds: dict[str, str] = {}
        """The index kind of each collection searched, as its definition says."""

    @property
    def schema(self) -> str:
        return self._schema

    @property
    def database(self) -> PostgresDatabase:
        return self._database

    @property
    def index(self) -> str:
        """The kind of HNSW index new collections get (:data:`INDEX_KINDS`)."""
        return self._index

    @property
    def rescore(self) -> int:
        return self._rescore

    @property
    def build_memory_mb(self) -> int | None:
        return self._build_memory

    @property
    def index_threshold(self) -> int:
        """The points from which a collection gets its HNSW index."""
        return self._threshold

    async def ensure_collection(
        self,
        name: str,
        *,
        dimension: int,
        distance: Distance = Distance.COSINE,
        indexed: Sequence[str] = (),
    ) -> None:
        check_name(name)
        check_indexed(indexed)  # the GIN index over the whole payload serves every key
        wanted = (check_dimension(dimension), check_distance(distance))
        with contextlib.suppress(NotFoundError):
            async with self._collection(name) as (conn, existing):
                _check_same(existing, wanted)
                await self._keep_rows_inline(conn, existing)
                if await self._hnsw_definition(conn, existing) is None:
                    await self._index_if_due(conn, existing)  # or a bulk load cut short
                return
        async with self._connection(name) as conn, conn.transaction():
            await conn.execute(LOCK)
            await self._install(conn)
            row = await _one(conn, self._sql(SELECT_ONE), (name,))
            if row is not None:
                _check_same(_registered(name, row), wanted)
                return
            await self._create(conn, _Collection(name, *wanted))

    async def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        async with self._collection(collection) as (conn, target):
            checked = check_points(points, target.dimension)
            if not checked:
                return
            kind = await self._index_kind(conn, target)
            if (kind or self._index) == "halfvec":  # the index it has, or will have
                for point in checked:
                    _check_half(point.vector)
            rebuild = None
            if kind is not None:
                rebuild = await self._bulk_rebuild(conn, target, len(checked))
            if len(checked) < COPY_POINTS:
                async with conn.cursor() as cur:
                    await cur.executemany(
                        self._sql(UPSERT, target),
                        [(p.id, _Packed(p.vector), Jsonb(p.payload)) for p in checked],
                    )
            elif await self._empty(conn, target) and (
                rebuild is not None or await self._locked_empty(conn, target)
            ):
                # the table is locked until the transaction ends (by dropping the index,
                # or explicitly): no other writer can add one of these ids meanwhile
                await self._copy_rows(conn, self._sql(COPY_TABLE, target), checked)
            else:
                await self._copy(conn, target, checked)
            if rebuild is not None:
                await self._build(conn, rebuild)
                await conn.execute(self._sql(ANALYZE, target))
        if kind is None and not self._loading.get(collection):
            # after the write's commit, with no lock of the table held: two writers that
            # both brought the collection to the threshold each wait for the other's
            # commit, and then for the first one's build, never for each other
            async with self._collection(collection) as (conn, target):
                await self._index_if_due(conn, target)

    @contextlib.asynccontextmanager
    async def bulk_load(self, collection: str) -> AsyncIterator[None]:
        """For loading many points into ``collection`` in several upserts: its HNSW index
        is dropped for the block (the upserts write the table alone; searches meanwhile
        scan it, exactly) and built once after it, as it was, even when the block fails.
        A process killed meanwhile leaves the collection without its index, which the
        next ensure_collection builds again (one called during the load, in any process,
        builds it then, and the rest of the load goes into the live index). A collection
        that had no index gets one after the load if it then holds ``index_threshold``
        points."""
        async with self._collection(collection) as (conn, target):
            row = await self._hnsw_definition(conn, target)
            if row is not None:  # the load's upserts keep the checks of the index's kind
                self._kinds[target.name] = _kind_of(row["indexdef"])
                index = sql.Identifier(table_names(target.name)[1])
                await conn.execute(self._sql(DROP_INDEX, index=index))
        self._loading[target.name] = self._loading.get(target.name, 0) + 1
        try:
            yield
        finally:
            self._loading[target.name] -= 1
            if not self._loading[target.name]:
                del self._loading[target.name]
            async with self._collection(collection) as (conn, target):
                if row is None:
                    await self._index_if_due(conn, target)
                else:
                    await conn.execute(LOCK)
                    if await self._hnsw_definition(conn, target) is None:
                        await self._build(conn, str(row["indexdef"]))
                    await conn.execute(self._sql(ANALYZE, target))

    async def search(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        limit: int = 10,
        filter: VectorFilter | None = None,
        score_threshold: float | None = None,
    ) -> list[ScoredPoint]:
        async with self._collection(collection) as (conn, target):
            query = _Packed(check_vector(vector, target.dimension))
            check_limit(limit)
            threshold = check_threshold(score_threshold)
            checked = conditions(filter)
            if matches_nothing(checked):
                return []
            where, params = _where(checked)
            kind = await self._index_kind(conn, target) or "vector"
            iterative = await self._version_at_least(conn, _ITERATIVE_SCAN_SINCE)
            if kind == "vector":
                statement = self._sql(SEARCH, target, where=where)
            else:
                key = _key(kind, target.dimension, target.distance)
                statement = self._sql(
                    RESCORED_SEARCH, target, where=where, key=key.expression,
                    key_operator=sql.SQL(key.operator), key_query=key.query,
                )  # fmt: skip

            async def fetch(size: int) -> list[ScoredPoint]:
                ef_search = min(1000, max(self._ef_search, size))
                candidates = max(size, min(1000, max(size * self._rescore, MIN_CANDIDATES)))
                if kind != "vector":
                    ef_search = max(ef_search, min(1000, candidates))
                await conn.execute(SEARCH_SETTINGS, (str(ef_search),))
                if iterative:
                    await conn.execute(ITERATIVE_SCAN)
                if kind == "vector":
                    arguments: tuple[Any, ...] = (query, *params, size)
                else:
                    arguments = (*params, query, candidates, query, size)
                rows = await _all(conn, statement, arguments)
                return [
                    ScoredPoint(
                        id=row["id"],
                        score=_score(target.distance, row["distance"]),
                        payload=row["payload"],
                    )
                    for row in rows
                ]

            return await top_hits(fetch, target.distance, limit=limit, threshold=threshold)

    async def retrieve(self, collection: str, ids: Sequence[uuid.UUID]) -> list[VectorPoint]:
        async with self._collection(collection) as (conn, target):
            wanted = unique_ids(ids)
            if not wanted:
                return []
            found = await _points(conn, self._sql(RETRIEVE, target), (wanted,))
        return ordered_by_request(found, wanted)

    async def scroll(
        self, collection: str, *, filter: VectorFilter | None = None, limit: int = 10_000
    ) -> list[VectorPoint]:
        async with self._collection(collection) as (conn, target):
            check_limit(limit)
            checked = conditions(filter)
            if matches_nothing(checked):
                return []
            where, params = _where(checked)
            return await _points(conn, self._sql(SCROLL, target, where=where), (*params, limit))

    async def delete(self, collection: str, ids: Sequence[uuid.UUID]) -> None:
        async with self._collection(collection) as (conn, target):
            wanted = unique_ids(ids)
            if wanted:
                await conn.execute(self._sql(DELETE_IDS, target), (wanted,))

    async def delete_by_filter(self, collection: str, filter: VectorFilter) -> None:
        async with self._collection(collection) as (conn, target):
            checked = delete_conditions(filter)
            if matches_nothing(checked):
                return
            where, params = _where(checked)
            await conn.execute(self._sql(DELETE_WHERE, target, where=where), params)

    async def count(self, collection: str, *, filter: VectorFilter | None = None) -> int:
        async with self._collection(collection) as (conn, target):
            checked = conditions(filter)
            if matches_nothing(checked):
                return 0
            return await self._count(conn, target, checked)

    async def collections(self) -> list[CollectionInfo]:
        """Every collection, by name, with its exact point count; none before the first
        collection is ensured. UnavailableError on a server that offers no pgvector, where
        no collection could ever be made."""
        try:
            async with self._connection(None) as conn, conn.transaction():
                rows = await _all(conn, self._sql(SELECT_ALL))
                registered = [_registered(row["name"], row) for row in rows]
                return [
                    CollectionInfo(c.name, c.dimension, c.distance, await self._count(conn, c, {}))
                    for c in registered
                ]
        except (pg.UndefinedTable, pg.InvalidSchemaName):  # no collection ensured yet
            async with self._connection(None) as conn:
                await _require_available(conn)
            return []

    async def drop_collection(self, name: str) -> bool:
        check_name(name)
        table = sql.Identifier(table_names(name)[0])
        self._kinds.pop(name, None)
        try:
            async with self._connection(None) as conn, conn.transaction():
                await conn.execute(LOCK)
                existed = await _one(conn, self._sql(UNREGISTER), (name,)) is not None
                await conn.execute(self._sql(DROP_TABLE, table=table))
        except (pg.UndefinedTable, pg.InvalidSchemaName):  # no collection ensured yet
            return False
        return existed

    def __repr__(self) -> str:
        return f"PgVectorStore(schema={self._schema!r})"

    # ----------------------------------------------------------------------- internals

    @contextlib.asynccontextmanager
    async def _connection(self, collection: str | None) -> AsyncIterator[Connection]:
        """A pooled connection for the block, driver errors translated (a missing table of
        ``collection`` as NotFoundError)."""
        pool = await self._database.pool()
        async with _translated(collection), pool.connection() as conn:
            conn.adapters.register_dumper(_Packed, _PackedDumper)
            yield conn

    @contextlib.asynccontextmanager
    async def _collection(self, name: str) -> AsyncIterator[tuple[Connection, _Collection]]:
        """A transaction on collection ``name``, with its registry entry; NotFoundError if
        it is not registered."""
        check_name(name)
        async with self._connection(name) as conn, conn.transaction():
            row = await _one(conn, self._sql(SELECT_ONE), (name,))
            if row is None:
                raise NotFoundError("collection", name)
            yield conn, _registered(name, row)

    async def _install(self, conn: Connection) -> None:
        """The extension, the schema and the registry, created if missing."""
        row = await _require_available(conn)
        where = f"{conn.info.host}:{conn.info.port}/{conn.info.dbname}"
        if row["installed_version"] is None:
            try:
                async with conn.transaction():
                    await conn.execute(CREATE_EXTENSION)
            except pg.InsufficientPrivilege as exc:
                raise UnavailableError(
                    f"the 'vector' extension is not installed in {where} and this role may "
                    "not create it: have a superuser run CREATE EXTENSION vector there"
                ) from exc
        await conn.execute(self._sql(CREATE_SCHEMA))
        await conn.execute(self._sql(CREATE_REGISTRY))

    async def _create(self, conn: Connection, target: _Collection) -> None:
        table, _, gin = table_names(target.name)
        if self._index != "vector" and not await self._version_at_least(conn, _QUANTIZED_SINCE):
            raise UnavailableError(
                f"a {self._index} index needs pgvector 0.7 or later: update the server's"
                " 'vector' extension (ALTER EXTENSION vector UPDATE), or use the full"
                " 'vector' index"
            )
        await conn.execute(
            self._sql(
                CREATE_TABLE,
                target,
                dimension=sql.Literal(target.dimension),
                inline=sql.Literal(INLINE_ROWS),
            )
        )
        if target.dimension > _MAX_INDEXED[self._index]:
            log.warning(
                "collection %s: %d dimensions exceed pgvector's HNSW limit for a %s index"
                " (%d); searches will scan it",
                target.name,
                target.dimension,
                self._index,
                _MAX_INDEXED[self._index],
            )
        elif not self._threshold:
            await self._create_hnsw(conn, target)
        await conn.execute(self._sql(CREATE_GIN, target, index=sql.Identifier(gin)))
        await conn.execute(
            self._sql(REGISTER), (target.name, target.dimension, target.distance.value)
        )
        log.info("created vector collection %s (%s)", target.name, table)

    async def _create_hnsw(self, conn: Connection, target: _Collection) -> bool:
        """Give the collection an HNSW index of this store's kind, unless it has more
        dimensions than such an index takes (then False: searches scan it, exactly)."""
        kind = self._index
        if target.dimension > _MAX_INDEXED[kind]:
            self._kinds[target.name] = "vector"
            return False
        key = _key(kind, target.dimension, target.distance)
        await self._build(
            conn,
            self._sql(
                CREATE_HNSW,
                target,
                index=sql.Identifier(table_names(target.name)[1]),
                key=key.expression,
                opclass=sql.SQL(key.opclass),
                m=sql.Literal(self._m),
                ef_construction=sql.Literal(self._ef_construction),
            ),
        )
        self._kinds[target.name] = kind
        return True

    async def _index_if_due(self, conn: Connection, target: _Collection) -> None:
        """Give the collection (which had no HNSW index when its caller looked) its index
        if it holds ``index_threshold`` points and has none yet, and analyse it; in the
        caller's transaction, under the store's lock."""
        if target.dimension > _MAX_INDEXED[self._index] or not await self._holds(conn, target):
            return
        await conn.execute(LOCK)
        if await self._hnsw_definition(conn, target) is None:
            await self._create_hnsw(conn, target)
            await conn.execute(self._sql(ANALYZE, target))

    async def _holds(self, conn: Connection, target: _Collection) -> bool:
        """Whether the collection holds ``index_threshold`` points (counted up to them)."""
        if not self._threshold:
            return True
        row = await _one(conn, self._sql(HOLDS, target), (self._threshold, self._threshold))
        return row is not None and bool(row["holds"])

    async def _build(self, conn: Connection, statement: Query) -> None:
        """Run ``statement``, an HNSW index build, with the store's build memory (the
        server's ``maintenance_work_mem`` when it has none), set for its transaction."""
        if self._build_memory is not None:
            await conn.execute(BUILD_MEMORY, (f"{self._build_memory}MB",))
        await conn.execute(statement)

    async def _keep_rows_inline(self, conn: Connection, target: _Collection) -> None:
        """Give the table of a collection created before :data:`INLINE_ROWS` its setting
        (the points written from then on stay whole; those stored keep their layout). A
        role that does not own the table leaves it as it is, and says so."""
        table = self._regclass(table_names(target.name)[0])
        row = await _one(conn, INLINE_SET, (f"toast_tuple_target={INLINE_ROWS}", table))
        if row is None or row["inline"]:
            return
        try:
            async with conn.transaction():  # a savepoint: a refusal undoes nothing else
                await conn.execute(self._sql(SET_INLINE, target, inline=sql.Literal(INLINE_ROWS)))
        except pg.InsufficientPrivilege:
            log.warning(
                "collection %s keeps PostgreSQL's default TOAST threshold: this role does not"
                " own %s; its owner can run ALTER TABLE %s SET (toast_tuple_target = %d)",
                target.name,
                table,
                table,
                INLINE_ROWS,
            )

    async def _hnsw_definition(self, conn: Connection, target: _Collection) -> Row | None:
        """The collection's HNSW index as created (``indexdef``) and the table's estimated
        rows (``reltuples``); None without an index."""
        table, hnsw, _ = table_names(target.name)
        return await _one(conn, HNSW_INDEX, (self._regclass(table), self._schema, hnsw))

    def _regclass(self, table: str) -> str:
        """``table`` of this store's schema as a ``regclass`` reads it: quoted, so that a
        collection's upper-case letters and hyphens are its own (names hold no quote)."""
        return f'"{self._schema}"."{table}"'

    async def _bulk_rebuild(self, conn: Connection, target: _Collection, points: int) -> str | None:
        """For an upsert of ``points`` large enough (see :data:`_BULK_POINTS`), drop the
        collection's HNSW index and return the statement that builds it again as it was;
        else None (the index then takes each point as it comes)."""
        if points < _BULK_POINTS:
            return None
        row = await self._hnsw_definition(conn, target)
        if row is None:  # no index (too many dimensions, or a bulk load under way)
            return None
        rows = float(row["reltuples"])
        if rows < 0:  # never analysed: count them
            rows = await self._count(conn, target, {})
        if points * _BULK_SHARE < rows:
            return None
        await conn.execute(self._sql(DROP_INDEX, index=sql.Identifier(table_names(target.name)[1])))
        return str(row["indexdef"])

    async def _copy(
        self, conn: Connection, target: _Collection, points: Sequence[VectorPoint]
    ) -> None:
        """Upsert ``points`` (distinct ids) through a stage the rows are copied into in
        binary, merged into the table by one statement."""
        stage = sql.Identifier(f"stage_{uuid.uuid4().hex}")
        await conn.execute(self._sql(CREATE_STAGE, target, stage=stage))
        await self._copy_rows(conn, self._sql(COPY_STAGE, stage=stage), points)
        await conn.execute(self._sql(MERGE_STAGE, target, stage=stage))
        await conn.execute(self._sql(DROP_STAGE, stage=stage))

    @staticmethod
    async def _copy_rows(conn: Connection, statement: Query, points: Sequence[VectorPoint]) -> None:
        """``points`` (distinct ids, checked) sent through ``statement``, a binary COPY of
        ``(id, embedding, payload)``, in blocks of rows built here (see :func:`_copy_row`)."""
        async with conn.cursor() as cur, cur.copy(statement) as copy:
            block, size = [COPY_SIGNATURE], len(COPY_SIGNATURE)
            for point in points:
                row = _copy_row(point)
                block.append(row)
                size += len(row)
                if size >= _COPY_BLOCK:
                    await copy.write(b"".join(block))
                    block, size = [], 0
            block.append(COPY_TRAILER)
            await copy.write(b"".join(block))

    async def _locked_empty(self, conn: Connection, target: _Collection) -> bool:
        """Lock the collection's table against other writers until the transaction ends,
        and whether it is empty then."""
        await conn.execute(self._sql(LOCK_WRITES, target))
        return await self._empty(conn, target)

    async def _empty(self, conn: Connection, target: _Collection) -> bool:
        row = await _one(conn, self._sql(EMPTY, target))
        assert row is not None
        return bool(row["empty"])

    async def _count(self, conn: Connection, target: _Collection, checked: Conditions) -> int:
        where, params = _where(checked)
        row = await _one(conn, self._sql(COUNT, target, where=where), params)
        assert row is not None
        return int(row["n"])

    async def _version_at_least(self, conn: Connection, version: tuple[int, ...]) -> bool:
        """Whether the server's pgvector is ``version`` or later (iterative index scans
        came in 0.8, half-precision and binary indexes in 0.7)."""
        if self._version is None:
            row = await _one(conn, EXTENSION_VERSION)
            self._version = _version(str(row["extversion"])) if row else ()
        return self._version >= version

    async def _index_kind(self, conn: Connection, target: _Collection) -> str | None:
        """The kind of the collection's HNSW index, read from its definition once; None
        for a collection without one (below the threshold, too many dimensions, or a bulk
        load under way, here or in another process), asked again next time."""
        kind = self._kinds.get(target.name)
        if kind is None:
            row = await self._hnsw_definition(conn, target)
            if row is None:
                return None
            kind = self._kinds[target.name] = _kind_of(row["indexdef"])
        return kind

    def _sql(
        self, template: sql.SQL, target: _Collection | None = None, **parts: sql.Composable
    ) -> sql.Composed:
        """``template`` with the schema, and the table and distance operator of ``target``."""
        if target is not None:
            parts.setdefault("table", sql.Identifier(table_names(target.name)[0]))
            parts.setdefault("operator", sql.SQL(_METRICS[target.distance].operator))
        return template.format(schema=sql.Identifier(self._schema), **parts)


# --------------------------------------------------------------------------- helpers


async def _all(conn: Connection, query: Query, params: Sequence[Any] = ()) -> list[Row]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query, params)
    return await cur.fetchall()


async def _one(conn: Connection, query: Query, params: Sequence[Any] = ()) -> Row | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query, params)
    return await cur.fetchone()


def _registered(name: str, row: Row) -> _Collection:
    return _Collection(name, int(row["dimension"]), Distance(row["distance"]))


def table_names(collection: str) -> tuple[str, str, str]:
    """The table, HNSW index and GIN index of ``collection``: ``vectors_<base>``,
    ``hnsw_<base>`` and ``gin_<base>``, where ``<base>`` is the name itself up to 50
    characters, else its first 34, ``_`` and 16 hex digits of its BLAKE2b hash (51
    characters, so never the base of another name)."""
    base = collection
    if len(collection) > 50:
        digest = hashlib.blake2b(collection.encode(), digest_size=8).hexdigest()
        base = f"{collection[:34]}_{digest}"
    return f"vectors_{base}", f"hnsw_{base}", f"gin_{base}"


def _where(checked: Conditions) -> tuple[sql.Composable, list[Jsonb]]:
    """The filter as payload containments: all conditions, any value of each."""
    if not checked:
        return sql.SQL("TRUE"), []
    clauses: list[sql.Composable] = []
    params: list[Jsonb] = []
    for key, accepted in checked.items():
        options = sql.SQL(" OR ").join(sql.SQL("payload @> %s") for _ in accepted)
        clauses.append(sql.SQL("({})").format(options))
        params.extend(Jsonb({key: value}) for value in accepted)
    return sql.SQL(" AND ").join(clauses), params


def _score(distance: Distance, value: float) -> float:
    """The port's score of a pgvector distance (NaN, from a zero vector, scores 0)."""
    if math.isnan(value):
        return 0.0
    if distance is Distance.COSINE:
        return 1.0 - value
    if distance is Distance.DOT:
        return -value
    return value


_HEAD = struct.Struct(">HH")
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
"""What a binary COPY begins with: the signature, no flags, no header extension."""
COPY_TRAILER = b"\xff\xff"
_COPY_BLOCK = 1 << 20
"""Bytes of rows sent to the server at a time."""
_ROW = struct.Struct(">hi16siHH")
"""A copied row's start: three fields; the id's length and bytes; the vector's length,
dimension and reserved zero (its components follow)."""
_JSONB = struct.Struct(">ib")
"""The payload's length and the jsonb format's version (1), its JSON text following."""


def _copy_row(point: VectorPoint) -> bytes:
    """``point`` as one row of a binary COPY of ``(id uuid, embedding vector, payload
    jsonb)``: each field its length and its binary form, as psycopg would send them (the
    payload's JSON as ``json.dumps`` writes it), without a dumper to look up per value."""
    vector = Vector(point.vector)
    payload = json.dumps(point.payload).encode()
    dimension = len(vector)
    return b"".join((
        _ROW.pack(3, 16, point.id.bytes, 4 + 4 * dimension, dimension, 0),
        vector.to_big_endian(),
        _JSONB.pack(len(payload) + 1, 1),
        payload,
    ))  # fmt: skip


class _Packed:
    """A vector as pgvector receives it in binary: its dimension, a reserved zero, and
    its components as big-endian 32-bit floats."""

    __slots__ = ("data",)

    def __init__(self, vector: Sequence[float]) -> None:  # checked: a Vector
        self.data = _HEAD.pack(len(vector), 0) + Vector(vector).to_big_endian()


class _PackedDumper(Dumper):
    """Sends a :class:`_Packed` in binary; the statement's cast (``%b::vector``) names
    its type."""

    format = Format.BINARY

    def dump(self, obj: _Packed) -> bytes:
        return obj.data


async def _points(conn: Connection, query: Query, params: Sequence[Any]) -> list[VectorPoint]:
    """The points ``query`` selects as ``(id, vector_send(embedding), payload)``, read in
    binary: each vector its 32-bit components exactly, unpacked at once."""
    cur = conn.cursor(binary=True, row_factory=tuple_row)
    await cur.execute(query, params)
    return [
        VectorPoint(
            id=point_id,
            vector=Vector.from_big_endian(memoryview(data)[4:]),
            payload=payload,
        )
        for point_id, data, payload in await cur.fetchall()
    ]


def _check_same(existing: _Collection, wanted: tuple[int, Distance]) -> None:
    if (existing.dimension, existing.distance) != wanted:
        raise mismatch_error(existing.name, (existing.dimension, existing.distance), wanted)


def _check_half(vector: Sequence[float]) -> None:
    """ValidationError for a component a half-precision index cannot hold."""
    largest = max(map(abs, vector), default=0.0)
    if largest > HALF_MAX:
        raise ValidationError(
            "vector", largest, f"components must lie within +-{HALF_MAX:g} in a collection"
            " with a halfvec index", entity="pgvector",
        )  # fmt: skip


def _check_setting(name: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")


def _version(text: str) -> tuple[int, ...]:
    numbers = re.findall(r"\d+", text)
    return tuple(int(n) for n in numbers[:3])


@contextlib.asynccontextmanager
async def _translated(collection: str | None) -> AsyncIterator[None]:
    """Driver errors as port errors: a table or schema gone missing is NotFoundError for
    ``collection``, a value PostgreSQL refuses ValidationError, the rest as
    :func:`adapters.postgres.errors.translated` does."""
    try:
        async with translated():
            yield
    except PersistenceError:
        raise
    except (pg.UndefinedTable, pg.InvalidSchemaName) as exc:
        if collection is None:
            raise
        raise NotFoundError("collection", collection) from exc
    except pg.DataException as exc:
        raise ValidationError(
            "request", collection or "", exc.diag.message_primary or str(exc), entity="pgvector"
        ) from exc
