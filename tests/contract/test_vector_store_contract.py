"""Contract of the VectorStore port, run against every adapter in :data:`VECTOR_STORES`.

A factory is a callable returning an async context manager that yields a store and tears
it down. Every test works in collections named ``contract_<random>``, so a shared server
needs no cleaning between tests (a server factory may drop that prefix on teardown).
Search results are checked against an exact brute-force computation with numpy; scores are
compared with a tolerance that allows servers storing float32. Adding an adapter is one
entry; server-backed factories skip with the reason when their server cannot be had:
``qdrant-server`` takes ``CODEANT_TEST_QDRANT_URL``, else a container when a Docker daemon
answers; ``pgvector`` a scratch database on the session's PostgreSQL server (which must
offer the ``vector`` extension).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import numpy as np
import psycopg
import pytest

from adapters.memory.vectors import MemoryVectorStore
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.pool import PoolSettings
from adapters.postgres.vectors import INDEX_THRESHOLD, PgVectorStore
from adapters.qdrant import QdrantEdgeVectorStore, QdrantVectorStore
from domain.vectors import Vector
from ports.errors import NotFoundError, ValidationError
from ports.vectors import CollectionInfo, Distance, VectorFilter, VectorPoint, VectorStore
from tests.contract.conftest import contract_fixture
from tests.servers import docker_available, scratch_database


@contextlib.asynccontextmanager
async def memory_vector_store() -> AsyncIterator[VectorStore]:
    """A fresh in-process store."""
    yield MemoryVectorStore()


@contextlib.asynccontextmanager
async def qdrant_edge_store(request: pytest.FixtureRequest) -> AsyncIterator[VectorStore]:
    """Qdrant Edge, the engine in the process, in a temporary directory of this test."""
    store = QdrantEdgeVectorStore(path=request.getfixturevalue("tmp_path") / "qdrant-edge")
    try:
        yield store
    finally:
        await store.aclose()


@pytest.fixture(scope="session")
def qdrant_server_url() -> Iterator[str]:
    """A Qdrant server: ``CODEANT_TEST_QDRANT_URL``, else a container when a Docker daemon
    answers; skips otherwise."""
    url = os.environ.get("CODEANT_TEST_QDRANT_URL")
    if url:
        yield url
        return
    if not docker_available():
        pytest.skip("no Qdrant server: set CODEANT_TEST_QDRANT_URL or run a Docker daemon")
    from testcontainers.community.qdrant import QdrantContainer

    with QdrantContainer() as container:
        yield f"http://{container.get_container_host_ip()}:{container.get_exposed_port(6333)}"


@contextlib.asynccontextmanager
async def qdrant_server_store(request: pytest.FixtureRequest) -> AsyncIterator[VectorStore]:
    """The session's Qdrant server; the collections this test made are dropped after it."""
    store = QdrantVectorStore(url=request.getfixturevalue("qdrant_server_url"))
    before = {info.name for info in await store.collections()}
    try:
        yield store
    finally:
        for info in await store.collections():
            if info.name.startswith("contract_") and info.name not in before:
                await store.drop_collection(info.name)
        await store.aclose()


@pytest.fixture(scope="session")
def pgvector_database_url(postgres_server_url: str) -> Iterator[str]:
    """A scratch database for the session on a PostgreSQL server offering pgvector; skips
    when the server has no ``vector`` extension available."""
    with psycopg.connect(postgres_server_url) as conn:
        available = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
        ).fetchone()
    if not available:
        pytest.skip("the test PostgreSQL server has no pgvector ('vector' extension) available")
    with scratch_database(postgres_server_url, prefix="codeant_vectors") as url:
        yield url


def pgvector_store(
    index: str = "vector", index_threshold: int = INDEX_THRESHOLD
) -> Callable[..., AbstractAsyncContextManager[VectorStore]]:
    """pgvector in the session's scratch database, over a small pool of this test, whose
    collections get an HNSW index of kind ``index`` once they hold ``index_threshold``
    points (the default: never at this suite's sizes, so that searches scan the table;
    0: from their creation)."""

    @contextlib.asynccontextmanager
    async def factory(request: pytest.FixtureRequest) -> AsyncIterator[VectorStore]:
        url = request.getfixturevalue("pgvector_database_url")
        pool = PoolSettings(min_size=1, max_size=2)
        database = PostgresDatabase(url=url, migrate=False, pool=pool)
        try:
            yield PgVectorStore(database, index=index, index_threshold=index_threshold)
        finally:
            await database.close()

    return factory


VECTOR_STORES: dict[str, Callable[..., AbstractAsyncContextManager[VectorStore]]] = {
    "memory": memory_vector_store,
    "qdrant-edge": qdrant_edge_store,
    "qdrant-server": qdrant_server_store,
    "pgvector": pgvector_store(),
    "pgvector-hnsw": pgvector_store("vector", 0),
    "pgvector-halfvec": pgvector_store("halfvec", 0),
    "pgvector-binary": pgvector_store("binary", 0),
}

store = contract_fixture(VECTOR_STORES, name="store")

DIMENSION = 8
SCORE_TOLERANCE = 1e-4
LOWER_IS_CLOSER = {Distance.COSINE: False, Distance.DOT: False, Distance.EUCLIDEAN: True}


@pytest.fixture
def name() -> Callable[[str], str]:
    """Makes collection names unique to this test run."""
    run = uuid.uuid4().hex[:12]
    return lambda suffix: f"contract_{run}_{suffix}"


def ids(count: int) -> list[uuid.UUID]:
    """``count`` fresh ids in ascending order."""
    return sorted(uuid.uuid4() for _ in range(count))


def point(vector: Sequence[float], payload: Mapping[str, Any] | None = None) -> VectorPoint:
    return VectorPoint(uuid.uuid4(), tuple(float(x) for x in vector), dict(payload or {}))


def unit(axis: int, scale: float = 1.0) -> tuple[float, ...]:
    """A vector of ``scale`` along ``axis``, zero elsewhere."""
    return tuple(scale if i == axis else 0.0 for i in range(DIMENSION))


async def new_collection(
    store: VectorStore,
    name: str,
    points: Sequence[VectorPoint] = (),
    *,
    dimension: int = DIMENSION,
    distance: Distance = Distance.COSINE,
) -> str:
    """Create collection ``name`` holding ``points``; returns the name."""
    await store.ensure_collection(name, dimension=dimension, distance=distance)
    if points:
        await store.upsert(name, points)
    return name


# --------------------------------------------------------------------------- exact search


def random_points(seed: int, count: int = 60) -> list[VectorPoint]:
    """Random vectors with payloads to filter on; every seventh point lacks ``kind``."""
    rng = np.random.default_rng(seed)
    points = []
    for i, point_id in enumerate(ids(count)):
        payload: dict[str, Any] = {"group": f"g{i % 4}", "rank": i % 5}
        if i % 7:
            payload["kind"] = ("function", "class")[i % 2]
        vector = tuple(float(x) for x in rng.normal(size=DIMENSION))
        points.append(VectorPoint(point_id, vector, payload))
    return points


def matches(payload: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    for key, wanted in (filter or {}).items():
        accepted = wanted if isinstance(wanted, list) else [wanted]
        if key not in payload or payload[key] not in accepted:
            return False
    return True


def exact_scores(
    points: Sequence[VectorPoint], query: Sequence[float], distance: Distance
) -> list[float]:
    matrix = np.array([p.vector for p in points], dtype=np.float64)
    q = np.array(query, dtype=np.float64)
    if distance is Distance.EUCLIDEAN:
        return list(np.linalg.norm(matrix - q, axis=1))
    dots = matrix @ q
    if distance is Distance.DOT:
        return list(dots)
    return list(dots / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(q)))


def exact_top(
    points: Sequence[VectorPoint],
    query: Sequence[float],
    distance: Distance,
    *,
    limit: int,
    filter: Mapping[str, Any] | None = None,
    threshold: float | None = None,
) -> list[tuple[uuid.UUID, float]]:
    """The brute-force answer: closest first, ties by id."""
    sign = 1.0 if LOWER_IS_CLOSER[distance] else -1.0
    scored = [
        (p.id, float(s))
        for p, s in zip(points, exact_scores(points, query, distance), strict=True)
        if matches(p.payload, filter) and (threshold is None or sign * s <= sign * threshold)
    ]
    scored.sort(key=lambda hit: (sign * hit[1], hit[0]))
    return scored[:limit]


FILTERS = [
    None,
    {"group": "g1"},
    {"rank": [0, 3]},
    {"group": ["g0", "g2"], "kind": "function"},
]


@pytest.mark.parametrize("distance", list(Distance))
@pytest.mark.parametrize("filter", FILTERS, ids=lambda f: "no-filter" if f is None else str(f))
async def test_search_returns_the_exact_top_k(
    store: VectorStore, name: Callable[[str], str], distance: Distance, filter: VectorFilter | None
) -> None:
    """Search returns exactly the brute-force top-k of the matching points, closest first,
    with their scores, with and without a score threshold."""
    points = random_points(seed=7)
    collection = await new_collection(store, name("exact"), points, distance=distance)
    rng = np.random.default_rng(11)

    for _ in range(3):
        query = tuple(float(x) for x in rng.normal(size=DIMENSION))
        median = float(np.median(exact_scores(points, query, distance)))
        for threshold in (None, median):
            hits = await store.search(
                collection, query, limit=7, filter=filter, score_threshold=threshold
            )
            expected = exact_top(
                points, query, distance, limit=7, filter=filter, threshold=threshold
            )

            assert [h.id for h in hits] == [point_id for point_id, _ in expected]
            assert [h.score for h in hits] == pytest.approx(
                [score for _, score in expected], rel=SCORE_TOLERANCE, abs=SCORE_TOLERANCE
            )


async def test_search_hits_carry_their_payload(
    store: VectorStore, name: Callable[[str], str]
) -> None:
    """A hit carries the payload stored with its point."""
    stored = point(unit(0), {"symbol": "total", "line_start": 3, "tags": ["a", "b"]})
    collection = await new_collection(store, name("payload"), [stored])

    [hit] = await store.search(collection, unit(0))

    assert hit.id == stored.id
    assert dict(hit.payload) == {"symbol": "total", "line_start": 3, "tags": ["a", "b"]}


async def test_equal_scores_are_ordered_by_id(
    store: VectorStore, name: Callable[[str], str]
) -> None:
    """Points at the same distance from the query come in ascending id order."""
    same = [VectorPoint(i, unit(1), {}) for i in reversed(ids(5))]
    collection = await new_collection(store, name("ties"), same)

    hits = await store.search(collection, unit(1), limit=5)

    assert [h.id for h in hits] == sorted(p.id for p in same)


async def test_search_respects_the_limit(store: VectorStore, name: Callable[[str], str]) -> None:
    """Search returns at most ``limit`` hits, and nothing from an empty collection."""
    empty = await new_collection(store, name("empty"))
    full = await new_collection(store, name("full"), random_points(seed=3, count=20))

    assert await store.search(empty, unit(0)) == []
    assert len(await store.search(full, unit(0), limit=4)) == 4
    assert len(await store.search(full, unit(0), limit=100)) == 20


@pytest.mark.parametrize(
    ("distance", "vectors", "query", "threshold", "kept"),
    [
        # cosine similarity: 1, 0.8, 0, -1
        (
            Distance.COSINE,
            [unit(0), (0.8, 0.6, *[0.0] * 6), unit(1), unit(0, -1.0)],
            unit(0),
            0.5,
            [0, 1],
        ),
        # dot product: 2, 1, 0, -3
        (
            Distance.DOT,
            [unit(0, 2.0), (1.0, 1.0, *[0.0] * 6), unit(1, 3.0), unit(0, -3.0)],
            unit(0),
            0.5,
            [0, 1],
        ),
        # euclidean distance from the origin: 1, 2, 3, 4
        (
            Distance.EUCLIDEAN,
            [unit(0, 1.0), unit(1, 2.0), unit(2, 3.0), unit(3, 4.0)],
            unit(0, 0.0),
            2.5,
            [0, 1],
        ),
    ],
    ids=["cosine", "dot", "euclidean"],
)
async def test_score_threshold_keeps_hits_at_least_that_close(
    store: VectorStore,
    name: Callable[[str], str],
    distance: Distance,
    vectors: list[tuple[float, ...]],
    query: tuple[float, ...],
    threshold: float,
    kept: list[int],
) -> None:
    """A threshold is a minimum similarity for COSINE and DOT and a maximum distance for
    EUCLIDEAN."""
    points = [point(v) for v in vectors]
    collection = await new_collection(store, name("threshold"), points, distance=distance)

    hits = await store.search(collection, query, limit=10, score_threshold=threshold)

    assert [h.id for h in hits] == [points[i].id for i in kept]


# --------------------------------------------------------------------------- filters


async def filtered_collection(store: VectorStore, collection: str) -> dict[str, VectorPoint]:
    """Create ``collection`` with four labelled points; one lacks the ``language`` key."""
    points = {
        "py-func": point(unit(0), {"language": "python", "kind": "function", "size": 1}),
        "py-class": point(unit(1), {"language": "python", "kind": "class", "size": 2}),
        "go-func": point(unit(2), {"language": "go", "kind": "function", "size": 3}),
        "no-language": point(unit(3), {"kind": "function", "size": 4}),
    }
    await new_collection(store, collection, list(points.values()))
    return points


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"language": "python"}, {"py-func", "py-class"}),
        ({"size": 3}, {"go-func"}),
        ({"language": ["go", "rust"]}, {"go-func"}),
        ({"size": [1, 4]}, {"py-func", "no-language"}),
        ({"language": "python", "kind": "function"}, {"py-func"}),
        ({"kind": "function"}, {"py-func", "go-func", "no-language"}),
        ({"language": ["python", "go"], "kind": "function"}, {"py-func", "go-func"}),
        ({"missing": "x"}, set()),
        ({"language": []}, set()),
        ({"language": "cobol"}, set()),
    ],
)
async def test_filters_select_the_same_points_everywhere(
    store: VectorStore, name: Callable[[str], str], filter: VectorFilter, expected: set[str]
) -> None:
    """A filter selects the same points in search, scroll and count: equal values, any of a
    list, all conditions together, and a missing key never matches."""
    collection = name("filters")
    points = await filtered_collection(store, collection)
    by_id = {p.id: label for label, p in points.items()}

    searched = await store.search(collection, unit(0), limit=10, filter=filter)
    scrolled = await store.scroll(collection, filter=filter)

    assert {by_id[h.id] for h in searched} == expected
    assert {by_id[p.id] for p in scrolled} == expected
    assert await store.count(collection, filter=filter) == len(expected)


async def test_delete_by_filter_removes_only_matching_points(
    store: VectorStore, name: Callable[[str], str]
) -> None:
    """delete_by_filter removes the points matching the filter and keeps the others."""
    collection = name("delete-filter")
    points = await filtered_collection(store, collection)

    await store.delete_by_filter(collection, {"language": "python"})

    remaining = await store.scroll(collection)
    assert {p.id for p in remaining} == {points["go-func"].id, points["no-language"].id}


# --------------------------------------------------------------------------- writes and reads


async def test_upsert_replaces_a_point_by_id(
    store: VectorStore, name: Callable[[str], str]
) -> None:
    """Upserting an existing id replaces its vector and payload, adding no point."""
    first = point(unit(0), {"version": 1, "old": True})
    collection = await new_collection(store, name("replace"), [first])

    await store.upsert(collection, [VectorPoint(first.id, unit(1), {"version": 2})])

    [stored] = await store.retrieve(collection, [first.id])
    assert stored.vector == pytest.approx(unit(1))
    assert dict(stored.payload) == {"version": 2}
    assert await store.count(collection) == 1
    [hit] = await store.search(collection, unit(1), limit=1)
    assert hit.id == first.id


async def test_retrieve_returns_the_stored_points(
    store: VectorStore, name: Callable[[str], str]
) -> None:
    """retrieve gives each known id's vector (a Vector) and payload and skips unknown ids."""
    points = random_points(seed=5, count=6)
    collection = await new_collection(store, name("retrieve"), points)
    wanted = [points[4].id, uuid.uuid4(), points[1].id]

    found = {p.id: p for p in await store.retrieve(collection, wanted)}

    assert set(found) == {points[1].id, points[4].id}
    for expected in (points[1], points[4]):
        assert found[expected.id].vector == pytest.approx(expected.vector)
        assert isinstance(found[expected.id].vector, Vector)
        assert dict(found[expected.id].payload) == expected.payload
    assert await store.retrieve(collection, []) == []


async def test_payload_values_round_trip(store: VectorStore, name: Callable[[str], str]) -> None:
    """Payloads keep strings, numbers, booleans, None, lists and nested objects."""
    payload = {
        "text": "déjà vu",
        "int": -7,
        "float": 2.5,
        "flag": False,
        "nothing": None,
        "list": [1, "two", 3.0],
        "nested": {"a": {"b": [True]}},
    }
    stored = point(unit(2), payload)
    collection = await new_collection(store, name("payload-types"), [stored])

    [found] = await store.retrieve(collection, [stored.id])

    assert dict(found.payload) == payload


async def test_scroll_returns_points_by_id_up_to_the_limit(
    store: VectorStore, name: Callable[[str], str]
) -> None:
    """scroll returns points with their vectors in ascending id order, at most ``limit``."""
    points = random_points(seed=9, count=12)
    collection = await new_collection(store, name("scroll"), list(reversed(points)))

    first = await store.scroll(collection, limit=5)
    everything = await store.scroll(collection)

    assert [p.id for p in first] == [p.id for p in points[:5]]
    assert [p.id for p in everything] == [p.id for p in points]
    assert everything[3].vector == pytest.approx(points[3].vector)


async def test_delete_removes_the_given_ids(store: VectorStore, name: Callable[[str], str]) -> None:
    """delete removes the given points and ignores ids that are not stored."""
    points = random_points(seed=2, count=5)
    collection = await new_collection(store, name("delete"), points)

    await store.delete(collection, [points[0].id, points[3].id, uuid.uuid4()])

    assert await store.count(collection) == 3
    assert await store.retrieve(collection, [points[0].id, points[3].id]) == []
    hits = await store.search(collection, points[0].vector, limit=10)
    assert points[0].id not in {h.id for h in hits}


async def test_stored_points_are_not_shared_with_callers(
    store: VectorStore, name: Callable[[str], str]
) -> None:
    """Changing a payload after upserting it, or one that was read, changes nothing stored."""
    payload: dict[str, Any] = {"tags": ["a"]}
    stored = VectorPoint(uuid.uuid4(), unit(0), payload)
    collection = await new_collection(store, name("copies"), [stored])

    payload["tags"].append("changed-after-upsert")
    [read] = await store.retrieve(collection, [stored.id])
    read.payload["tags"].append("changed-after-read")

    [again] = await store.retrieve(collection, [stored.id])
    assert dict(again.payload) == {"tags": ["a"]}


# --------------------------------------------------------------------------- collections


async def test_ensure_collection_is_idempotent(
    store: VectorStore, name: Callable[[str], str]
) -> None:
    """Ensuring an existing collection with the same settings keeps it and its points."""
    collection = await new_collection(store, name("idem"), [point(unit(0))])

    await store.ensure_collection(collection, dimension=DIMENSION, distance=Distance.COSINE)

    assert await store.count(collection) == 1


async def test_ensure_collection_with_another_dimension_names_both(
    store: VectorStore, name: Callable[[str], str]
) -> None:
    """Ensuring an existing collection with another dimension raises ValidationError
    naming both dimensions."""
    collection = await new_collection(store, name("dims"))

    with pytest.raises(ValidationError) as raised:
        await store.ensure_collection(collection, dimension=16, distance=Distance.COSINE)

    assert str(DIMENSION) in str(raised.value)
    assert "16" in str(raised.value)


async def test_ensure_collection_with_another_distance_names_both(
    store: VectorStore, name: Callable[[str], str]
) -> None:
    """Ensuring an existing collection with another distance raises ValidationError naming
    both distances."""
    collection = await new_collection(store, name("distances"))

    with pytest.raises(ValidationError) as raised:
        await store.ensure_collection(collection, dimension=DIMENSION, distance=Distance.DOT)

    assert "cosine" in str(raised.value).lower()
    assert "dot" in str(raised.value).lower()


@pytest.mark.parametrize("bad_name", ["", "has space", "a/b", "dots.too", "ünïcode"])
async def test_collection_names_are_validated(store: VectorStore, bad_name: str) -> None:
    """A collection name of anything but letters, digits, '_' and '-' is refused."""
    with pytest.raises(ValidationError, match="collection"):
        await store.ensure_collection(bad_name, dimension=DIMENSION)


@pytest.mark.parametrize("bad_keys", ["project_id", ["ok", "has space"], [""], [7]])
async def test_indexed_keys_are_validated(
    store: VectorStore, name: Callable[[str], str], bad_keys: Any
) -> None:
    """Keys to index that are not a sequence of filter keys are refused, and no
    collection is made."""
    with pytest.raises(ValidationError, match="indexed"):
        await store.ensure_collection(name("bad-keys"), dimension=DIMENSION, indexed=bad_keys)
    assert name("bad-keys") not in {info.name for info in await store.collections()}


async def test_indexed_keys_filter_like_any_other(
    store: VectorStore, name: Callable[[str], str]
) -> None:
    """A collection whose keys are indexed, and gains another key when ensured again,
    filters on them with the same hits as on keys without an index; its points stay."""
    points = [
        point(unit(i % DIMENSION, 1.0 + i / 10), {"team": f"t{i % 3}", "tag": f"t{i % 3}"})
        for i in range(30)
    ]
    collection = name("indexed")
    await store.ensure_collection(collection, dimension=DIMENSION, indexed=["team"])
    await store.upsert(collection, points)
    await store.ensure_collection(collection, dimension=DIMENSION, indexed=["team", "tag"])
    query = unit(2)
    on_indexed = await store.search(collection, query, limit=5, filter={"team": "t1"})
    on_other = await store.search(collection, query, limit=5, filter={"tag": "t1"})
    assert [h.id for h in on_indexed] == [h.id for h in on_other]
    assert len(on_indexed) == 5
    assert await store.count(collection, filter={"team": ["t0", "t2"]}) == 20


@pytest.mark.parametrize("bad_dimension", [0, -1, 2.5])
async def test_dimension_must_be_positive(
    store: VectorStore, name: Callable[[str], str], bad_dimension: Any
) -> None:
    """A collection of dimension below 1 or not an integer is refused."""
    with pytest.raises(ValidationError, match="dimension"):
        await store.ensure_collection(name("bad-dim"), dimension=bad_dimension)


async def test_wrong_dimension_vectors_are_refused(
    store: VectorStore, name: Callable[[str], str]
) -> None:
    """A vector of another dimension is refused on upsert (writing none of the batch) and
    on search."""
    collection = await new_collection(store, name("wrong-dim"))
    batch = [point(unit(0)), point((1.0, 2.0, 3.0))]

    with pytest.raises(ValidationError, match="vector"):
        await store.upsert(collection, batch)
    with pytest.raises(ValidationError, match="vector"):
        await store.search(collection, (1.0,) * (DIMENSION + 1))
    assert await store.count(collection) == 0


OPERATIONS: dict[str, Callable[[VectorStore, str], Any]] = {
    "upsert": lambda s, c: s.upsert(c, [point(unit(0))]),
    "search": lambda s, c: s.search(c, unit(0)),
    "retrieve": lambda s, c: s.retrieve(c, [uuid.uuid4()]),
    "scroll": lambda s, c: s.scroll(c),
    "delete": lambda s, c: s.delete(c, [uuid.uuid4()]),
    "delete_by_filter": lambda s, c: s.delete_by_filter(c, {"kind": "function"}),
    "count": lambda s, c: s.count(c),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_unknown_collection_is_not_found(
    store: VectorStore, name: Callable[[str], str], operation: str
) -> None:
    """Every operation on a collection that does not exist raises NotFoundError."""
    with pytest.raises(NotFoundError):
        await OPERATIONS[operation](store, name("missing"))


async def test_collections_describes_each_collection(
    store: VectorStore, name: Callable[[str], str]
) -> None:
    """collections() lists each collection with its dimension, distance and point count."""
    cosine = await new_collection(store, name("info-a"), random_points(seed=1, count=3))
    euclid = await new_collection(
        store, name("info-b"), [point((1.0, 2.0, 3.0))], dimension=3, distance=Distance.EUCLIDEAN
    )

    infos = {info.name: info for info in await store.collections()}

    assert infos[cosine] == CollectionInfo(cosine, DIMENSION, Distance.COSINE, 3)
    assert infos[euclid] == CollectionInfo(euclid, 3, Distance.EUCLIDEAN, 1)


async def test_drop_collection_removes_it_and_says_whether_it_existed(
    store: VectorStore, name: Callable[[str], str]
) -> None:
    """drop_collection deletes a collection with its points, returns whether it existed, and
    the name can then be ensured anew with other settings."""
    collection = await new_collection(store, name("drop"), [point(unit(0))])

    assert await store.drop_collection(collection) is True
    assert await store.drop_collection(collection) is False
    assert collection not in {info.name for info in await store.collections()}
    with pytest.raises(NotFoundError):
        await store.count(collection)
    await store.ensure_collection(collection, dimension=3, distance=Distance.DOT)
    assert await store.count(collection) == 0


async def test_retrieve_keeps_the_order_asked_for(
    store: VectorStore, name: Callable[[str], str]
) -> None:
    """retrieve returns the points in the order of the ids asked for, each once."""
    points = random_points(seed=4, count=5)
    collection = await new_collection(store, name("retrieve-order"), points)
    wanted = [points[3].id, points[0].id, points[3].id, points[4].id]

    found = await store.retrieve(collection, wanted)

    assert [p.id for p in found] == [points[3].id, points[0].id, points[4].id]


async def test_delete_by_filter_refuses_an_empty_filter(
    store: VectorStore, name: Callable[[str], str]
) -> None:
    """delete_by_filter with no condition (which would delete everything) is refused and
    deletes nothing."""
    collection = name("delete-empty")
    await filtered_collection(store, collection)

    with pytest.raises(ValidationError, match="filter"):
        await store.delete_by_filter(collection, {})
    assert await store.count(collection) == 4


@pytest.mark.parametrize(
    "bad_filter",
    [{"language": {"nested": 1}}, {"language": [None]}, {"": "x"}, {"a.b": "x"}],
    ids=["object-value", "none-in-list", "empty-key", "dotted-key"],
)
async def test_malformed_filters_are_refused(
    store: VectorStore, name: Callable[[str], str], bad_filter: VectorFilter
) -> None:
    """A filter value that is not a str, int, float or bool (or a list of them), or a key
    that is not letters, digits, '_' or '-', is refused."""
    collection = name("bad-filter")
    await filtered_collection(store, collection)

    with pytest.raises(ValidationError, match="filter"):
        await store.count(collection, filter=bad_filter)


async def test_booleans_and_numbers_never_match_each_other(
    store: VectorStore, name: Callable[[str], str]
) -> None:
    """A filter on True matches only the boolean, one on 1 only the number (1 or 1.0)."""
    points = {
        "true": point(unit(0), {"flag": True}),
        "one": point(unit(1), {"flag": 1}),
        "one-float": point(unit(2), {"flag": 1.0}),
    }
    collection = await new_collection(store, name("bools"), list(points.values()))
    label = {p.id: key for key, p in points.items()}

    by_true = await store.scroll(collection, filter={"flag": True})
    by_one = await store.scroll(collection, filter={"flag": 1})

    assert {label[p.id] for p in by_true} == {"true"}
    assert {label[p.id] for p in by_one} == {"one", "one-float"}


async def test_ties_cut_by_the_limit_keep_the_smallest_ids(
    store: VectorStore, name: Callable[[str], str]
) -> None:
    """When the limit falls among many points at the same distance, the hits are the
    closer points and then the tied ones of smallest id."""
    closest = point(unit(0))
    tied = [VectorPoint(i, unit(1), {}) for i in ids(50)]
    collection = await new_collection(store, name("many-ties"), [*reversed(tied), closest])

    hits = await store.search(collection, (1.0, 0.5, *[0.0] * (DIMENSION - 2)), limit=4)

    assert [h.id for h in hits] == [closest.id, *(p.id for p in tied[:3])]
