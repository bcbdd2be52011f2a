"""The pgvector store on a real PostgreSQL: the objects it creates and when, HNSW searches
under selective filters, the index a collection gets once it holds enough points, and the
error on a server without pgvector. The stores of the other tests index a collection from
its creation (``index_threshold=0``).

Runs on the session's PostgreSQL server (tests/conftest.py) when it offers the ``vector``
extension; the test of the missing extension runs against the machine's own server at
:data:`NO_PGVECTOR_URL` when it answers and lacks pgvector.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.pool import PoolSettings
from adapters.postgres.vectors import (
    COPY_POINTS,
    HNSW_MAX_DIMENSION,
    INLINE_ROWS,
    PgVectorStore,
    _key,
    _kind_of,
    _Packed,
    _PackedDumper,
    table_names,
)
from adapters.vector_health import VectorStoreHealthCheck
from ports.errors import UnavailableError, ValidationError
from ports.health import HealthStatus
from ports.vectors import CollectionInfo, Distance, VectorPoint
from tests.contract.test_vector_store_contract import pgvector_database_url
from tests.servers import scratch_database

__all__ = ["pgvector_database_url"]  # the session fixture, shared with the contract suite

NO_PGVECTOR_URL = "postgresql://postgres@127.0.0.1:5432/test"
SMALL_POOL = PoolSettings(min_size=1, max_size=2)


@pytest.fixture
def fresh_database_url(pgvector_database_url: str, postgres_server_url: str) -> Iterator[str]:
    """A new, empty database on the pgvector server, for this test only."""
    with scratch_database(postgres_server_url, prefix="codeant_pgvector") as url:
        yield url


@pytest.fixture
async def store(pgvector_database_url: str) -> AsyncIterator[PgVectorStore]:
    """A store in the session's pgvector database, in a schema of this test."""
    database = PostgresDatabase(url=pgvector_database_url, migrate=False, pool=SMALL_POOL)
    try:
        yield PgVectorStore(database, schema=f"vectors_{uuid.uuid4().hex[:8]}", index_threshold=0)
    finally:
        await database.close()


def catalog(url: str, query: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


@pytest.mark.parametrize(
    ("distance", "opclass"),
    [
        (Distance.COSINE, "vector_cosine_ops"),
        (Distance.DOT, "vector_ip_ops"),
        (Distance.EUCLIDEAN, "vector_l2_ops"),
    ],
)
async def test_first_ensure_creates_the_extension_registry_table_and_indexes(
    fresh_database_url: str, distance: Distance, opclass: str
) -> None:
    """Nothing exists before the first ensure_collection; after it, the extension, the
    schema with its registry row, and the collection's table with an HNSW index of the
    distance's operator class and the store's parameters, and a GIN index on payload."""
    assert catalog(fresh_database_url, "SELECT 1 FROM pg_extension WHERE extname = 'vector'") == []
    database = PostgresDatabase(url=fresh_database_url, migrate=False, pool=SMALL_POOL)
    store = PgVectorStore(database, m=8, ef_construction=32, index_threshold=0)
    try:
        assert await store.collections() == []
        await store.ensure_collection("code_function", dimension=12, distance=distance)
    finally:
        await database.close()

    table, hnsw, gin = table_names("code_function")
    assert catalog(fresh_database_url, "SELECT 1 FROM pg_extension WHERE extname = 'vector'")
    assert catalog(
        fresh_database_url, "SELECT name, dimension, distance FROM codeant_vectors.collections"
    ) == [("code_function", 12, distance.value)]
    [(column_type,)] = catalog(
        fresh_database_url,
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attname = 'embedding'",
        f"codeant_vectors.{table}",
    )
    assert column_type == "vector(12)"
    indexes: dict[str, str] = dict(
        catalog(
            fresh_database_url,
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'codeant_vectors'"
            " AND tablename = %s",
            table,
        )
    )
    assert f"USING hnsw (embedding {opclass})" in indexes[hnsw]
    assert "m='8'" in indexes[hnsw] and "ef_construction='32'" in indexes[hnsw]
    assert "USING gin (payload jsonb_path_ops)" in indexes[gin]


async def test_public_schema_is_left_alone(fresh_database_url: str) -> None:
    """The store's tables live in its own schema: the public schema (the relational one,
    which ``codeant db verify`` compares with the migrations) gains no table."""
    database = PostgresDatabase(url=fresh_database_url, migrate=False, pool=SMALL_POOL)
    try:
        await PgVectorStore(database, index_threshold=0).ensure_collection(
            "code_class", dimension=4
        )
    finally:
        await database.close()

    assert (
        catalog(fresh_database_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        == []
    )


async def test_another_store_sees_the_registered_settings(
    store: PgVectorStore, pgvector_database_url: str
) -> None:
    """A second store over its own pool finds the collection registered, and ensuring it
    with another dimension names both dimensions."""
    await store.ensure_collection("code_module", dimension=8)
    database = PostgresDatabase(url=pgvector_database_url, migrate=False, pool=SMALL_POOL)
    other = PgVectorStore(database, schema=store.schema, index_threshold=0)
    try:
        await other.ensure_collection("code_module", dimension=8)
        with pytest.raises(ValidationError) as raised:
            await other.ensure_collection("code_module", dimension=16)
    finally:
        await database.close()

    assert "dimension 8" in str(raised.value) and "dimension 16" in str(raised.value)


async def test_selective_filter_still_returns_the_full_top_k(pgvector_database_url: str) -> None:
    """With the HNSW index forced (sequential and bitmap scans disabled), a filter matching
    5% of 500 points still gives the 10 hits of the exact top 10: iterative index scans
    keep looking past the first candidates."""
    url = psycopg.conninfo.make_conninfo(
        pgvector_database_url, options="-c enable_seqscan=off -c enable_bitmapscan=off"
    )
    rng = np.random.default_rng(17)
    vectors = rng.normal(size=(500, 16))
    points = [
        VectorPoint(
            uuid.uuid4(), tuple(map(float, v)), {"group": "rare" if i % 20 == 0 else "common"}
        )
        for i, v in enumerate(vectors)
    ]
    query = tuple(map(float, rng.normal(size=16)))
    rare = [p for p in points if p.payload["group"] == "rare"]
    matrix = np.array([p.vector for p in rare])
    distances = np.linalg.norm(matrix - np.array(query), axis=1)
    expected = [rare[i].id for i in np.argsort(distances)[:10]]

    database = PostgresDatabase(url=url, migrate=False, pool=SMALL_POOL)
    store = PgVectorStore(
        database, schema=f"vectors_{uuid.uuid4().hex[:8]}", ef_search=20, index_threshold=0
    )
    try:
        await store.ensure_collection("selective", dimension=16, distance=Distance.EUCLIDEAN)
        await store.upsert("selective", points)
        hits = await store.search("selective", query, limit=10, filter={"group": "rare"})
    finally:
        await database.close()

    assert len(rare) == 25
    assert [h.id for h in hits] == expected


async def test_long_collection_names_get_a_hashed_table(store: PgVectorStore) -> None:
    """A 255-character collection name works: its table name is cut and hashed to fit
    PostgreSQL's 63 bytes, distinct from a name sharing its first 34 characters."""
    long_name = "c" * 255
    similar = "c" * 254 + "d"
    await store.ensure_collection(long_name, dimension=3)
    await store.ensure_collection(similar, dimension=3)
    await store.upsert(long_name, [VectorPoint(uuid.uuid4(), (1.0, 0.0, 0.0), {})])

    assert table_names(long_name)[0] != table_names(similar)[0]
    assert max(len(n) for n in table_names(long_name)) <= 63
    assert {i.name: i.points for i in await store.collections()} == {long_name: 1, similar: 0}


async def test_names_with_capitals_and_hyphens_keep_their_index(
    store: PgVectorStore, pgvector_database_url: str
) -> None:
    """A collection named with capitals and a hyphen is ensured again, bulk-written (its
    index dropped and built again) and searched like any other: its table is looked up
    by its exact name, never a lower-cased one that does not exist."""
    name = "Code-Func"
    await store.ensure_collection(name, dimension=8)
    await store.ensure_collection(name, dimension=8)
    points = _points(1000, 8, seed=3)  # a bulk write: the index is dropped and rebuilt
    await store.upsert(name, points)

    [hit] = await store.search(name, points[7].vector, limit=1)
    assert hit.id == points[7].id
    assert list(_hnsw_definitions(pgvector_database_url, store.schema)) == [table_names(name)[0]]


def _toasted(url: str, schema: str, table: str) -> tuple[list[str], int]:
    """The storage options of ``table`` and the bytes of its TOAST table."""
    [(options, toasted)] = catalog(
        url,
        "SELECT coalesce(c.reloptions, '{}'), pg_relation_size(c.reltoastrelid) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        schema,
        table,
    )
    return options, toasted


async def test_points_are_stored_whole_in_the_table(
    store: PgVectorStore, pgvector_database_url: str
) -> None:
    """Points of 384 dimensions with a payload of half a kilobyte (rows of about 2.3 kB,
    beyond TOAST's default 2 kB) stay whole in the table's pages, written one by one or
    copied: nothing goes to the TOAST table."""
    await store.ensure_collection("code_function", dimension=384)
    payload = {"code_snippet": "x = compute(y) + 1\n" * 25}
    rows = np.random.default_rng(5).standard_normal((300, 384))
    points = [VectorPoint(uuid.uuid4(), tuple(map(float, v)), payload) for v in rows]
    await store.upsert("code_function", points[:10])  # one by one
    await store.upsert("code_function", points[10:])  # copied

    table = table_names("code_function")[0]
    options, toasted = _toasted(pgvector_database_url, store.schema, table)
    assert f"toast_tuple_target={INLINE_ROWS}" in options
    assert toasted == 0
    assert [p.id for p in await store.retrieve("code_function", [points[0].id])] == [points[0].id]


async def test_a_collection_made_before_keeps_its_points_whole_from_its_next_ensure(
    store: PgVectorStore, pgvector_database_url: str
) -> None:
    """A collection whose table has TOAST's default (as made before the setting) gets
    the setting the next time it is ensured; what it stored reads as before."""
    await store.ensure_collection("code_class", dimension=4)
    point = VectorPoint(uuid.uuid4(), (1.0, 2.0, 3.0, 4.0), {"n": 1})
    await store.upsert("code_class", [point])
    table = table_names("code_class")[0]
    with psycopg.connect(pgvector_database_url, autocommit=True) as conn:
        conn.execute(f'ALTER TABLE "{store.schema}"."{table}" RESET (toast_tuple_target)')
    assert _toasted(pgvector_database_url, store.schema, table)[0] == []

    await store.ensure_collection("code_class", dimension=4)

    options, _ = _toasted(pgvector_database_url, store.schema, table)
    assert options == [f"toast_tuple_target={INLINE_ROWS}"]
    assert await store.retrieve("code_class", [point.id]) == [point]


async def test_a_role_that_does_not_own_an_old_collection_still_uses_it(
    fresh_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A collection made before the setting, whose table another role owns: a role that
    may read and write it but not alter it ensures it, writes and searches it as before,
    and a warning names the statement its owner can run."""
    owner = PostgresDatabase(url=fresh_database_url, migrate=False, pool=SMALL_POOL)
    try:
        await PgVectorStore(owner).ensure_collection("code_class", dimension=4)
    finally:
        await owner.close()
    table = table_names("code_class")[0]
    role = f"codeant_plain_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        conn.execute(f'ALTER TABLE codeant_vectors."{table}" RESET (toast_tuple_target)')
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("GRANT USAGE ON SCHEMA codeant_vectors TO {}").format(sql.Identifier(role))
        )
        conn.execute(
            sql.SQL(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA codeant_vectors TO {}"
            ).format(sql.Identifier(role))
        )
    url = psycopg.conninfo.make_conninfo(fresh_database_url, user=role)
    database = PostgresDatabase(url=url, migrate=False, pool=SMALL_POOL)
    point = VectorPoint(uuid.uuid4(), (1.0, 0.0, 0.0, 0.0), {"n": 1})
    try:
        store = PgVectorStore(database)
        with caplog.at_level(logging.WARNING, logger="adapters.postgres.vectors"):
            await store.ensure_collection("code_class", dimension=4)
        await store.upsert("code_class", [point])
        [hit] = await store.search("code_class", (1.0, 0.0, 0.0, 0.0), limit=1)
    finally:
        await database.close()
        with psycopg.connect(fresh_database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))

    assert hit.id == point.id
    assert _toasted(fresh_database_url, "codeant_vectors", table)[0] == []
    assert f"SET (toast_tuple_target = {INLINE_ROWS})" in caplog.text


async def test_health_lists_the_collections(store: PgVectorStore) -> None:
    """The health check of a pgvector store is HEALTHY and lists each collection with its
    dimension, distance and point count."""
    await store.ensure_collection("code_function", dimension=3, distance=Distance.DOT)
    await store.upsert("code_function", [VectorPoint(uuid.uuid4(), (1.0, 2.0, 3.0), {})])

    report = await VectorStoreHealthCheck(store, backend="pgvector").check()

    assert report.status is HealthStatus.HEALTHY
    assert report.details["collections"] == [
        {"name": "code_function", "dimension": 3, "distance": "dot", "points": 1}
    ]
    assert report.details["points"] == 1


def machine_server_without_pgvector() -> str | None:
    """Why the machine's own server cannot show the missing extension, or None if it can."""
    try:
        with psycopg.connect(NO_PGVECTOR_URL, connect_timeout=3) as conn:
            row = conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
            ).fetchone()
    except psycopg.Error as exc:
        return f"no PostgreSQL server answers at {NO_PGVECTOR_URL}: {exc}"
    return f"the server at {NO_PGVECTOR_URL} offers pgvector" if row else None


async def test_server_without_pgvector_gets_a_clear_error() -> None:
    """On a server that offers no 'vector' extension, ensure_collection raises
    UnavailableError naming the extension and how to get it, and creates nothing; listing
    the collections (what health does) says the same."""
    reason = machine_server_without_pgvector()
    if reason:
        pytest.skip(reason)
    database = PostgresDatabase(url=NO_PGVECTOR_URL, migrate=False, pool=SMALL_POOL)
    schema = f"vectors_{uuid.uuid4().hex[:8]}"
    try:
        store = PgVectorStore(database, schema=schema, index_threshold=0)
        with pytest.raises(UnavailableError) as raised:
            await store.ensure_collection("code", dimension=4)
        with pytest.raises(UnavailableError, match="'vector' extension"):
            await store.collections()
    finally:
        await database.close()

    message = str(raised.value)
    assert "'vector' extension" in message and "pgvector" in message
    assert "install" in message
    assert catalog(NO_PGVECTOR_URL, "SELECT 1 FROM pg_namespace WHERE nspname = %s", schema) == []


async def test_role_that_may_not_create_the_extension_gets_a_clear_error(
    fresh_database_url: str,
) -> None:
    """A role that may not create the 'vector' extension (it is not a trusted one) gets
    UnavailableError saying a superuser must create it."""
    role = f"codeant_plain_{uuid.uuid4().hex[:8]}"
    dbname = psycopg.conninfo.conninfo_to_dict(fresh_database_url)["dbname"]
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
                sql.Identifier(str(dbname)), sql.Identifier(role)
            )
        )
    url = psycopg.conninfo.make_conninfo(fresh_database_url, user=role)
    database = PostgresDatabase(url=url, migrate=False, pool=SMALL_POOL)
    try:
        with pytest.raises(UnavailableError, match="superuser") as raised:
            await PgVectorStore(database, index_threshold=0).ensure_collection("code", dimension=4)
    finally:
        await database.close()
        with psycopg.connect(fresh_database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))

    assert "CREATE EXTENSION vector" in str(raised.value)


async def test_collections_beyond_the_hnsw_limit_are_searched_without_it(
    store: PgVectorStore,
) -> None:
    """A collection of more dimensions than pgvector's HNSW index takes gets no such index,
    and its searches still find the closest point."""
    dimension = HNSW_MAX_DIMENSION + 1
    near = VectorPoint(uuid.uuid4(), tuple(1.0 if i == 0 else 0.0 for i in range(dimension)), {})
    far = VectorPoint(uuid.uuid4(), tuple(1.0 if i == 1 else 0.0 for i in range(dimension)), {})
    await store.ensure_collection("wide", dimension=dimension)
    await store.upsert("wide", [far, near])

    hits = await store.search("wide", near.vector, limit=1)

    assert [h.id for h in hits] == [near.id]
    assert await store.collections() == [CollectionInfo("wide", dimension, Distance.COSINE, 2)]


async def test_components_travel_in_binary_as_32_bit_floats(store: PgVectorStore) -> None:
    """A vector reaches the server as 32-bit floats, the edge of their range included:
    what is read back is each component rounded to 32 bits, exactly, and a search with it
    finds it at distance zero."""
    await store.ensure_collection("c", dimension=3, distance=Distance.EUCLIDEAN)
    vector = (0.1, -3.0e38, 1 / 3)
    point = VectorPoint(uuid.uuid4(), vector, {})
    await store.upsert("c", [point])

    [stored] = await store.retrieve("c", [point.id])
    assert stored.vector == tuple(float(np.float32(x)) for x in vector)
    [scrolled] = await store.scroll("c")
    assert scrolled == stored
    [hit] = await store.search("c", vector, limit=1)
    assert (hit.id, hit.score) == (point.id, 0.0)


@pytest.mark.parametrize("vector", [(1e39, 0.0, 0.0), (0.0, -3.5e38, 1.0)])
async def test_components_beyond_32_bit_floats_are_refused_before_anything_is_written(
    store: PgVectorStore, vector: tuple[float, ...]
) -> None:
    """A component a 32-bit float cannot hold fails the batch with ValidationError naming
    the vector (nothing written), and a search alike."""
    await store.ensure_collection("c", dimension=3)
    batch = [VectorPoint(uuid.uuid4(), (1.0, 0.0, 0.0), {}), VectorPoint(uuid.uuid4(), vector, {})]

    with pytest.raises(ValidationError, match="vector"):
        await store.upsert("c", batch)
    with pytest.raises(ValidationError, match="vector"):
        await store.search("c", vector)
    assert await store.count("c") == 0


async def test_a_large_upsert_is_copied_and_merged_as_upserts_one_by_one_would_be(
    store: PgVectorStore,
) -> None:
    """An upsert of hundreds of points goes through COPY and one merge: new points are
    added, points already stored take their new vector and payload, an id given twice
    keeps its last point, and the rest of the collection is untouched."""
    await store.ensure_collection("c", dimension=4)
    rng = np.random.default_rng(5)

    def point(point_id: uuid.UUID, n: int) -> VectorPoint:
        return VectorPoint(point_id, tuple(rng.normal(size=4).tolist()), {"n": n})

    kept = [point(uuid.uuid4(), -1) for _ in range(10)]
    replaced = [point(uuid.uuid4(), -2) for _ in range(50)]
    await store.upsert("c", kept + replaced)
    batch = [point(p.id, i) for i, p in enumerate(replaced)]
    batch += [point(uuid.uuid4(), 100 + i) for i in range(400)]
    twice = point(batch[60].id, 999)
    batch.append(twice)
    assert len(batch) >= COPY_POINTS

    await store.upsert("c", batch)

    expected = {p.id: p for p in (*kept, *batch)}  # the last of an id wins
    stored = await store.retrieve("c", list(expected))
    assert len(stored) == len(expected) == await store.count("c") == 460
    for got in stored:
        want = expected[got.id]
        assert got.payload == want.payload
        assert got.vector == tuple(float(np.float32(x)) for x in want.vector)
    assert {p.id: p.payload for p in stored}[twice.id] == {"n": 999}


async def test_bulk_loads_into_an_empty_and_a_filled_collection_are_upserts(
    store: PgVectorStore,
) -> None:
    """A bulk load (its index built again after it) into an empty collection keeps the
    last point of an id given twice; the next one, into the filled collection, replaces
    the points it gives again and keeps the others; the index answers for both."""
    await store.ensure_collection("c", dimension=8)
    rng = np.random.default_rng(11)

    def point(point_id: uuid.UUID, n: int) -> VectorPoint:
        return VectorPoint(point_id, tuple(rng.normal(size=8).tolist()), {"n": n})

    first = [point(uuid.uuid4(), i) for i in range(1500)]
    twice = point(first[7].id, -7)
    await store.upsert("c", [*first, twice])
    second = [point(p.id, 10_000 + i) for i, p in enumerate(first[100:400])]
    second += [point(uuid.uuid4(), 20_000 + i) for i in range(900)]
    await store.upsert("c", second)

    expected = {p.id: p for p in (*first, twice, *second)}
    stored = {p.id: p for p in await store.retrieve("c", list(expected))}
    assert len(stored) == len(expected) == await store.count("c") == 2400
    assert {i: p.payload for i, p in stored.items()} == {i: p.payload for i, p in expected.items()}
    for probe in (twice, second[0], second[-1], first[-1]):
        assert stored[probe.id].vector == tuple(float(np.float32(x)) for x in probe.vector)
        [hit] = await store.search("c", probe.vector, limit=1)
        assert hit.id == probe.id
    hnsw = table_names("c")[1]
    pool = await store.database.pool()
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT count(*) AS n FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
                (store.schema, hnsw),
            )
        ).fetchone()
    assert row is not None and row["n"] == 1


async def test_a_large_upsert_with_a_component_beyond_32_bit_floats_writes_none_of_it(
    store: PgVectorStore,
) -> None:
    """A vector a 32-bit float cannot hold, late in a batch copied to the server, fails
    the whole batch with ValidationError naming the vector, and what the collection held
    before is as it was."""
    await store.ensure_collection("c", dimension=3)
    before = VectorPoint(uuid.uuid4(), (1.0, 0.0, 0.0), {"n": 0})
    await store.upsert("c", [before])
    batch = [VectorPoint(uuid.uuid4(), (0.0, 1.0, float(i)), {}) for i in range(300)]
    batch[250] = VectorPoint(uuid.uuid4(), (0.0, 1e39, 0.0), {})
    batch.append(VectorPoint(before.id, (0.0, 0.0, 1.0), {"n": 1}))
    assert len(batch) >= COPY_POINTS

    with pytest.raises(ValidationError, match="vector"):
        await store.upsert("c", batch)
    assert await store.count("c") == 1
    assert await store.retrieve("c", [before.id]) == [before]


@pytest.mark.parametrize(("build_memory_mb", "spills"), [(None, False), (1, True)])
async def test_an_index_build_runs_with_the_stores_build_memory(
    pgvector_database_url: str, build_memory_mb: int | None, spills: bool
) -> None:
    """The HNSW build of a large upsert runs with the store's build memory, set for its
    transaction: 3,000 vectors of 64 dimensions fit the server's own setting, and not one
    megabyte (pgvector says the graph no longer fits, and builds it all the same)."""
    notices: list[str] = []

    async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
        conn.add_notice_handler(lambda notice: notices.append(str(notice.message_primary)))

    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        pgvector_database_url, min_size=1, max_size=2, open=False, configure=configure,
        kwargs={"row_factory": dict_row},
    )  # fmt: skip
    await pool.open()
    try:
        store = PgVectorStore(
            pool,
            schema=f"vectors_{uuid.uuid4().hex[:8]}",
            build_memory_mb=build_memory_mb,
            index_threshold=0,
        )
        await store.ensure_collection("c", dimension=64)
        vectors = _clustered(3000, 64, seed=9)
        await store.upsert("c", [VectorPoint(uuid.uuid4(), tuple(v.tolist()), {}) for v in vectors])
        assert await store.count("c") == 3000
        [hit] = await store.search("c", tuple(vectors[5].tolist()), limit=1)
        assert hit.score == pytest.approx(1.0)
        async with pool.connection() as conn:
            row = await (await conn.execute("SHOW maintenance_work_mem")).fetchone()
        assert row is not None and row["maintenance_work_mem"] != "1MB"  # LOCAL to the build
    finally:
        await pool.close()
    assert any("no longer fits into maintenance_work_mem" in n for n in notices) is spills


def test_build_memory_must_be_a_positive_number_of_megabytes() -> None:
    database = PostgresDatabase(url="postgresql://nobody@127.0.0.1:1/none")
    for bad in (0, -5, 2 * 1024 * 1024, 1.5, True):
        with pytest.raises(ValueError, match="build_memory_mb"):
            PgVectorStore(database, build_memory_mb=bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- quantized indexes


def _clustered(count: int, dimension: int, seed: int) -> np.ndarray:
    """Vectors around 40 centres: close neighbours exist, as among real embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dimension))
    return centres[rng.integers(0, 40, size=count)] + 0.35 * rng.normal(size=(count, dimension))


@pytest.mark.parametrize(
    ("index", "opclass", "rescore", "recall"),
    [("halfvec", "halfvec_cosine_ops", 10, 0.9), ("binary", "bit_hamming_ops", 30, 0.8)],
)
async def test_a_quantized_index_is_used_and_its_candidates_are_ranked_exactly(
    pgvector_database_url: str, index: str, opclass: str, rescore: int, recall: float
) -> None:
    """A collection made by a store with a quantized index gets that HNSW index, kept
    through a bulk load (which builds it again); the planner takes it for the search's
    ordering even where sequential scans are allowed; and a search ranks its candidates
    by the exact distance: scores are the exact cosine similarities, in order, and
    recall@10 over 3,000 clustered points stays high (the index alone orders candidates
    coarsely: 64 bits, binary's key here, need many candidates)."""
    matrix = _clustered(3000, 64, seed=23)
    points = [
        VectorPoint(uuid.uuid4(), tuple(map(float, v)), {"i": i}) for i, v in enumerate(matrix)
    ]
    queries = _clustered(40, 64, seed=29)
    schema = f"vectors_{uuid.uuid4().hex[:8]}"
    table, hnsw, _ = table_names("q")
    database = PostgresDatabase(url=pgvector_database_url, migrate=False, pool=SMALL_POOL)
    store = PgVectorStore(database, schema=schema, index=index, rescore=rescore, index_threshold=0)
    try:
        await store.ensure_collection("q", dimension=64)
        await store.upsert("q", points)  # a bulk load: the index is built again after it
        found = [await store.search("q", tuple(map(float, q)), limit=10) for q in queries]
        key = _key(index, 64, Distance.COSINE)
        async with (await database.pool()).connection() as conn:
            conn.adapters.register_dumper(_Packed, _PackedDumper)
            await conn.execute(
                sql.SQL("ANALYZE {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            )
            explained = await conn.execute(
                sql.SQL("EXPLAIN SELECT id FROM {}.{} ORDER BY {} {} {} LIMIT 100").format(
                    sql.Identifier(schema), sql.Identifier(table), key.expression,
                    sql.SQL(key.operator), key.query,
                ),
                (_Packed(tuple(map(float, queries[0]))),),
            )  # fmt: skip
            plan = "\n".join(str(row["QUERY PLAN"]) for row in await explained.fetchall())
    finally:
        await database.close()

    [(definition,)] = catalog(
        pgvector_database_url,
        "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
        schema, hnsw,
    )  # fmt: skip
    assert opclass in definition and _kind_of(definition) == index
    assert f"Index Scan using {hnsw}" in plan, plan
    unit_matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    recalls = []
    for query, hits in zip(queries, found, strict=True):
        exact = unit_matrix @ (query / np.linalg.norm(query))
        truth = {points[i].id for i in np.argsort(-exact, kind="stable")[:10]}
        recalls.append(len({h.id for h in hits} & truth) / 10)
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        assert scores == pytest.approx([exact[h.payload["i"]] for h in hits], abs=1e-5)
    assert np.mean(recalls) >= recall, recalls


async def test_an_existing_collection_keeps_the_kind_of_its_index(
    pgvector_database_url: str,
) -> None:
    """A store configured for another kind of index opens a collection as its index was
    built, and a bulk load into it builds the same index again."""
    schema = f"vectors_{uuid.uuid4().hex[:8]}"
    database = PostgresDatabase(url=pgvector_database_url, migrate=False, pool=SMALL_POOL)
    points = [VectorPoint(uuid.uuid4(), tuple(map(float, v)), {}) for v in _clustered(1200, 8, 3)]
    try:
        await PgVectorStore(database, schema=schema, index_threshold=0).ensure_collection(
            "full", dimension=8
        )
        binary = PgVectorStore(database, schema=schema, index="binary", index_threshold=0)
        await binary.ensure_collection("bits", dimension=8)
        await binary.upsert("full", points)
        await PgVectorStore(database, schema=schema, index_threshold=0).upsert("bits", points)
        assert len(await binary.search("full", points[0].vector, limit=3)) == 3
    finally:
        await database.close()

    definitions = dict(
        catalog(
            pgvector_database_url,
            "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = %s"
            " AND indexname LIKE 'hnsw_%%'",
            schema,
        )
    )
    assert {table: _kind_of(d) for table, d in definitions.items()} == {
        table_names("full")[0]: "vector",
        table_names("bits")[0]: "binary",
    }


async def test_a_halfvec_index_refuses_components_it_cannot_hold(store: PgVectorStore) -> None:
    """A component beyond half precision's range fails the batch with ValidationError
    naming the limit before anything is written; a full index takes it."""
    half = PgVectorStore(store.database, schema=store.schema, index="halfvec", index_threshold=0)
    await half.ensure_collection("h", dimension=3)
    batch = [
        VectorPoint(uuid.uuid4(), (1.0, 0.0, 0.0), {}),
        VectorPoint(uuid.uuid4(), (7e4, 0.0, 1.0), {}),
    ]
    with pytest.raises(ValidationError, match="65504"):
        await half.upsert("h", batch)
    assert await half.count("h") == 0
    await store.ensure_collection("f", dimension=3)
    await store.upsert("f", batch)
    assert await store.count("f") == 2


def test_a_bad_index_kind_or_rescore_is_refused(pgvector_database_url: str) -> None:
    """An unknown index kind and a rescore out of range are ValueErrors naming them."""
    database = PostgresDatabase(url=pgvector_database_url, migrate=False, pool=SMALL_POOL)
    with pytest.raises(ValueError, match="index must be one of vector, halfvec, binary"):
        PgVectorStore(database, index="pq")
    with pytest.raises(ValueError, match="rescore"):
        PgVectorStore(database, rescore=0)


def _hnsw_definitions(url: str, schema: str) -> dict[str, str]:
    rows = catalog(
        url,
        "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = %s"
        " AND indexname LIKE 'hnsw_%%'",
        schema,
    )
    return dict(rows)


@pytest.mark.parametrize("index", ["vector", "halfvec"])
async def test_a_bulk_load_builds_the_index_once_after_it(
    pgvector_database_url: str, index: str
) -> None:
    """Inside bulk_load the collection has no HNSW index (small upserts write the table
    alone, searches stay exact); after it, the index is there again as it was, and
    every point loaded is found."""
    schema = f"vectors_{uuid.uuid4().hex[:8]}"
    table = table_names("bulk")[0]
    database = PostgresDatabase(url=pgvector_database_url, migrate=False, pool=SMALL_POOL)
    store = PgVectorStore(
        database, schema=schema, index=index, m=8, ef_construction=32, index_threshold=0
    )
    matrix = _clustered(600, 16, seed=5)
    points = [VectorPoint(uuid.uuid4(), tuple(map(float, v)), {}) for v in matrix]
    try:
        await store.ensure_collection("bulk", dimension=16)
        before = _hnsw_definitions(pgvector_database_url, schema)
        async with store.bulk_load("bulk"):
            assert _hnsw_definitions(pgvector_database_url, schema) == {}
            for start in range(0, 600, 100):
                await store.upsert("bulk", points[start : start + 100])
            [hit] = await store.search("bulk", points[7].vector, limit=1)
            assert hit.id == points[7].id
        assert _hnsw_definitions(pgvector_database_url, schema) == before
        assert "m='8'" in before[table].replace(" ", "")
        assert await store.count("bulk") == 600
        [again] = await store.search("bulk", points[450].vector, limit=1)
        assert again.id == points[450].id
    finally:
        await database.close()


async def test_a_failed_bulk_load_still_builds_the_index_and_a_lost_one_is_rebuilt(
    pgvector_database_url: str,
) -> None:
    """A block that raises leaves the index built again; a collection left without its
    index (a loading process killed) gets it back from the next ensure_collection."""
    schema = f"vectors_{uuid.uuid4().hex[:8]}"
    database = PostgresDatabase(url=pgvector_database_url, migrate=False, pool=SMALL_POOL)
    store = PgVectorStore(database, schema=schema, index_threshold=0)
    try:
        await store.ensure_collection("c", dimension=4)
        built = _hnsw_definitions(pgvector_database_url, schema)
        with pytest.raises(RuntimeError, match="loader failed"):
            async with store.bulk_load("c"):
                raise RuntimeError("loader failed")
        assert _hnsw_definitions(pgvector_database_url, schema) == built

        loading = store.bulk_load("c")
        await loading.__aenter__()  # the process dies here: the block never ends
        assert _hnsw_definitions(pgvector_database_url, schema) == {}
        await PgVectorStore(database, schema=schema, index_threshold=0).ensure_collection(
            "c", dimension=4
        )
        assert _hnsw_definitions(pgvector_database_url, schema) == built
        await loading.__aexit__(None, None, None)  # finding the index there, builds none
        assert _hnsw_definitions(pgvector_database_url, schema) == built
    finally:
        await database.close()


async def test_a_bulk_load_keeps_the_checks_of_the_index_it_dropped(
    pgvector_database_url: str,
) -> None:
    """A store that meets a halfvec collection first inside a bulk load (its index
    dropped) still refuses components half precision cannot hold, so the index can be
    built again after the load; and it searches the collection through that index."""
    schema = f"vectors_{uuid.uuid4().hex[:8]}"
    database = PostgresDatabase(url=pgvector_database_url, migrate=False, pool=SMALL_POOL)
    try:
        await PgVectorStore(
            database, schema=schema, index="halfvec", index_threshold=0
        ).ensure_collection("h", dimension=3)
        store = PgVectorStore(
            database, schema=schema, index_threshold=0
        )  # configured for full indexes
        async with store.bulk_load("h"):
            with pytest.raises(ValidationError, match="65504"):
                await store.upsert("h", [VectorPoint(uuid.uuid4(), (7e4, 0.0, 1.0), {})])
            await store.upsert("h", [VectorPoint(uuid.uuid4(), (1.0, 0.0, 0.0), {})])
        assert await store.count("h") == 1
        [(definition,)] = catalog(
            pgvector_database_url,
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
            schema, table_names("h")[1],
        )  # fmt: skip
        assert "halfvec_cosine_ops" in definition
    finally:
        await database.close()


@pytest.mark.parametrize("loaded", ["upsert", "bulk_load"])
async def test_a_filtered_search_after_a_bulk_write_goes_through_the_index(
    store: PgVectorStore, loaded: str
) -> None:
    """After a bulk write (one large upsert, or a bulk_load block), the table's statistics
    count its rows: a search filtered on a key every point holds is planned on the HNSW
    index, not as a scan of the whole table sorted by distance (the plan taken while the
    planner believes the filter matches nearly nothing)."""
    await store.ensure_collection("c", dimension=32, indexed=("project",))
    points = [
        VectorPoint(uuid.uuid4(), tuple(map(float, v)), {"project": "p"})
        for v in _clustered(4000, 32, seed=3)
    ]
    if loaded == "upsert":
        await store.upsert("c", points)
    else:
        async with store.bulk_load("c"):
            for start in range(0, len(points), 500):
                await store.upsert("c", points[start : start + 500])

    table, hnsw, _ = table_names("c")
    pool = await store.database.pool()
    async with pool.connection() as conn:
        cur = await conn.execute(
            sql.SQL(
                "EXPLAIN SELECT id FROM {}.{} WHERE payload @> %s"
                " ORDER BY embedding <=> %b::vector LIMIT 10"
            ).format(sql.Identifier(store.schema), sql.Identifier(table)),
            (psycopg.types.json.Jsonb({"project": "p"}), _Packed(points[0].vector)),
        )
        plan = "\n".join(row["QUERY PLAN"] for row in await cur.fetchall())
    assert f"Index Scan using {hnsw}" in plan, plan
    [hit] = await store.search("c", points[9].vector, limit=1, filter={"project": "p"})
    assert hit.id == points[9].id


def _points(count: int, dimension: int, seed: int) -> list[VectorPoint]:
    return [
        VectorPoint(uuid.uuid4(), tuple(map(float, v)), {"n": i})
        for i, v in enumerate(_clustered(count, dimension, seed=seed))
    ]


async def test_a_collection_gets_its_index_with_the_write_that_brings_it_to_the_threshold(
    pgvector_database_url: str,
) -> None:
    """Below ``index_threshold`` points a collection has no HNSW index and its searches
    are exact; the upsert that brings it there builds the index of the store's kind and
    analyses the table; the index then stays when points are deleted."""
    schema = f"vectors_{uuid.uuid4().hex[:8]}"
    table = table_names("t")[0]
    database = PostgresDatabase(url=pgvector_database_url, migrate=False, pool=SMALL_POOL)
    store = PgVectorStore(database, schema=schema, index="halfvec", index_threshold=50)
    points = _points(60, 8, seed=3)
    try:
        await store.ensure_collection("t", dimension=8)
        await store.upsert("t", points[:49])
        assert _hnsw_definitions(pgvector_database_url, schema) == {}
        [hit] = await store.search("t", points[5].vector, limit=1)
        assert hit.id == points[5].id
        await store.upsert("t", points[49:50])
        built = _hnsw_definitions(pgvector_database_url, schema)
        assert "halfvec_cosine_ops" in built[table]
        [(rows,)] = catalog(
            pgvector_database_url, "SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
            f"{schema}.{table}",
        )  # fmt: skip
        assert rows == 50
        await store.delete("t", [p.id for p in points[:40]])
        await store.upsert("t", points[50:])
        assert _hnsw_definitions(pgvector_database_url, schema) == built
        [hit] = await store.search("t", points[55].vector, limit=1)
        assert hit.id == points[55].id
    finally:
        await database.close()


async def test_a_collection_below_the_threshold_refuses_what_its_index_could_not_hold(
    pgvector_database_url: str,
) -> None:
    """A store of halfvec indexes refuses components half precision cannot hold before
    the collection has its index, so that the build at the threshold never fails."""
    schema = f"vectors_{uuid.uuid4().hex[:8]}"
    database = PostgresDatabase(url=pgvector_database_url, migrate=False, pool=SMALL_POOL)
    store = PgVectorStore(database, schema=schema, index="halfvec", index_threshold=10)
    try:
        await store.ensure_collection("h", dimension=3)
        with pytest.raises(ValidationError, match="65504"):
            await store.upsert("h", [VectorPoint(uuid.uuid4(), (7e4, 0.0, 1.0), {})])
        assert await store.count("h") == 0
    finally:
        await database.close()


async def test_a_bulk_load_builds_no_index_below_the_threshold_and_one_at_it(
    pgvector_database_url: str,
) -> None:
    """The upserts of a bulk load build no index, even past the threshold; the end of
    the load builds one when the collection holds the threshold's points, and none when
    it holds fewer."""
    schema = f"vectors_{uuid.uuid4().hex[:8]}"
    database = PostgresDatabase(url=pgvector_database_url, migrate=False, pool=SMALL_POOL)
    store = PgVectorStore(database, schema=schema, index_threshold=100)
    points = _points(150, 8, seed=4)
    try:
        for name in ("small", "large"):
            await store.ensure_collection(name, dimension=8)
        async with store.bulk_load("small"):
            await store.upsert("small", points[:60])
        async with store.bulk_load("large"):
            for start in range(0, 150, 50):
                await store.upsert("large", points[start : start + 50])
            assert _hnsw_definitions(pgvector_database_url, schema) == {}
        assert set(_hnsw_definitions(pgvector_database_url, schema)) == {table_names("large")[0]}
    finally:
        await database.close()


async def test_ensure_collection_builds_the_index_a_collection_at_the_threshold_lacks(
    pgvector_database_url: str,
) -> None:
    """A collection that holds the threshold's points without an index (written by a
    store of a higher threshold) gets it from the next ensure_collection of a store whose
    threshold it reaches."""
    schema = f"vectors_{uuid.uuid4().hex[:8]}"
    database = PostgresDatabase(url=pgvector_database_url, migrate=False, pool=SMALL_POOL)
    try:
        lax = PgVectorStore(database, schema=schema, index_threshold=1000)
        await lax.ensure_collection("c", dimension=8)
        await lax.upsert("c", _points(30, 8, seed=6))
        assert _hnsw_definitions(pgvector_database_url, schema) == {}
        await PgVectorStore(database, schema=schema, index_threshold=30).ensure_collection(
            "c", dimension=8
        )
        assert set(_hnsw_definitions(pgvector_database_url, schema)) == {table_names("c")[0]}
    finally:
        await database.close()


async def test_two_writers_that_reach_the_threshold_together_build_one_index(
    pgvector_database_url: str,
) -> None:
    """Two stores, each on a pool of its own, whose concurrent upserts both bring the
    collection to the threshold: both succeed (neither waits on the other's build while
    holding its table lock), and the collection has one index. Two that write the same
    points into an empty collection both succeed too."""
    schema = f"vectors_{uuid.uuid4().hex[:8]}"
    databases = [
        PostgresDatabase(url=pgvector_database_url, migrate=False, pool=SMALL_POOL)
        for _ in range(2)
    ]
    stores = [PgVectorStore(d, schema=schema, index_threshold=100) for d in databases]
    points = _points(400, 8, seed=7)
    try:
        await stores[0].ensure_collection("c", dimension=8)
        for _ in range(3):
            await asyncio.wait_for(
                asyncio.gather(
                    stores[0].upsert("c", points[:200]), stores[1].upsert("c", points[200:])
                ),
                timeout=60,
            )
        assert await stores[1].count("c") == 400
        assert set(_hnsw_definitions(pgvector_database_url, schema)) == {table_names("c")[0]}
        # the same points, into an empty collection: one copies them straight in, the
        # other waits for it and merges its own over them
        await stores[0].ensure_collection("same", dimension=8)
        await asyncio.wait_for(
            asyncio.gather(*(store.upsert("same", points[:300]) for store in stores)),
            timeout=60,
        )
        assert await stores[0].count("same") == 300
    finally:
        for database in databases:
            await database.close()


def test_the_index_threshold_is_checked() -> None:
    """A threshold that is no count of points is refused, naming the setting."""
    database = PostgresDatabase(url="postgresql://nobody@127.0.0.1:1/none")
    for bad in (-1, 2**31, 1.5, True, "10"):
        with pytest.raises(ValueError, match="index_threshold must be an integer"):
            PgVectorStore(database, index_threshold=bad)  # type: ignore[arg-type]


async def test_copied_points_keep_every_kind_of_payload(store: PgVectorStore) -> None:
    """Points copied in (straight into an empty collection, then merged into the filled
    one) keep payloads of every JSON shape, text that needs escaping included."""
    await store.ensure_collection("c", dimension=4)
    payloads: list[dict[str, Any]] = [
        {"path": 'src/"quoted"\\back\\slash.py', "symbol": "naïve_变量_😀", "n": 2**53},
        {"nested": {"a": [1, 2.5, None, True, {"b": "\x01\t\n"}]}, "empty": {}, "list": []},
        {"float": -1.25e-300, "false": False, "none": None, "tab\tkey": "line\nbreak"},
    ]
    for round_ in range(2):
        points = [
            VectorPoint(uuid.UUID(int=i + 1), (float(i), 1.0, -2.5, 0.5 * round_), payloads[i % 3])
            for i in range(COPY_POINTS + 10)
        ]
        await store.upsert("c", points)
        stored = await store.retrieve("c", [p.id for p in points])
        assert [(p.id, p.vector, p.payload) for p in stored] == [
            (p.id, p.vector, p.payload) for p in points
        ]
