"""Qdrant Edge beyond the contract: storage across reopening, one process at a time, the
payload indexes of a collection, exact search where an index cannot serve a filter, the
index build in a child process, what interrupted operations leave behind, payload checks,
and health.

The engine runs in the test process; a collection gets an HNSW index only when its
vectors pass the indexing threshold, so tests that need one set it to 1 KB.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
import qdrant_edge as qe

from adapters.qdrant import NORM_KEY, QdrantEdgeVectorStore
from adapters.vector_health import VectorStoreHealthCheck
from ports.errors import NotFoundError, UnavailableError, ValidationError
from ports.health import HealthStatus
from ports.vectors import CollectionInfo, Distance, VectorPoint

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 120.0
"""Seconds a helper process may take to get ready (a guard, not a timed assertion)."""

_HOLDER = """
import asyncio, sys
from adapters.qdrant.edge import QdrantEdgeVectorStore

async def main():
    store = QdrantEdgeVectorStore(path=sys.argv[1], idle_release=None)
    await store.ensure_collection("held", dimension=3)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await store.aclose()

asyncio.run(main())
"""

_RAW_HOLDER = """
import sys
import qdrant_edge as qe
shard = qe.EdgeShard.load(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
shard.close()
"""


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[QdrantEdgeVectorStore]:
    edge = QdrantEdgeVectorStore(path=tmp_path / "edge")
    try:
        yield edge
    finally:
        await edge.aclose()


def random_points(count: int, dimension: int, seed: int = 1) -> list[VectorPoint]:
    """Points with payloads on a key to index (project_id) and others (team, bucket, flag)."""
    rng = np.random.default_rng(seed)
    return [
        VectorPoint(
            uuid.uuid4(),
            tuple(float(x) for x in rng.normal(size=dimension)),
            {
                "project_id": f"p{i % 10}",
                "team": f"t{i % 10}",
                "bucket": i % 10,
                "flag": i % 10 == 3,
                "i": i,
            },
        )
        for i in range(count)
    ]


def exact_ids(
    points: list[VectorPoint], query: np.ndarray, limit: int, keep: Any = None
) -> list[uuid.UUID]:
    """The ``limit`` points of highest cosine similarity to ``query`` among those ``keep``
    accepts."""
    chosen = [p for p in points if keep is None or keep(p.payload)]
    matrix = np.array([p.vector for p in chosen])
    scores = matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    return [chosen[i].id for i in np.argsort(-scores, kind="stable")[:limit]]


def start(script: str, *args: str) -> subprocess.Popen[str]:
    """``python -c script args`` with pipes, waiting until it prints ``ready``."""
    process = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until ready, or EOF if it failed
    if line.strip() != "ready":
        process.kill()
        _, err = process.communicate(timeout=DEADLINE)
        pytest.fail(f"the helper process did not get ready: {line!r} {err}")
    return process


def stop(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("\n")
    process.stdin.flush()
    process.wait(timeout=DEADLINE)


# --------------------------------------------------------------------------- storage


async def test_storage_survives_reopening(tmp_path: Path) -> None:
    """Points are there, vectors and payloads intact, after the store is closed and the
    same directory opened again by a new store."""
    stored = VectorPoint(uuid.uuid4(), (3.0, 4.0, 0.0), {"symbol": "total", "line": 3})
    first = QdrantEdgeVectorStore(path=tmp_path)
    await first.ensure_collection("code_function", dimension=3)
    await first.upsert("code_function", [stored])
    await first.aclose()

    again = QdrantEdgeVectorStore(path=tmp_path)
    try:
        [found] = await again.retrieve("code_function", [stored.id])
        infos = await again.collections()
    finally:
        await again.aclose()

    assert found.vector == pytest.approx(stored.vector)
    assert dict(found.payload) == {"symbol": "total", "line": 3}
    assert infos == [CollectionInfo("code_function", 3, Distance.COSINE, 1)]


async def test_a_closed_store_opens_again_on_use(store: QdrantEdgeVectorStore) -> None:
    """After aclose, the next call opens the directory again."""
    await store.ensure_collection("c", dimension=2)
    await store.upsert("c", [VectorPoint(uuid.uuid4(), (1.0, 0.0), {})])
    await store.aclose()

    assert await store.count("c") == 1


async def test_flush_touches_nothing_unopened_and_keeps_every_write(tmp_path: Path) -> None:
    """flush() on a store never used creates nothing; after writes it keeps them all, and
    the store goes on."""
    store = QdrantEdgeVectorStore(path=tmp_path / "edge")
    await store.flush()
    assert not (tmp_path / "edge").exists()
    try:
        await store.ensure_collection("c", dimension=2)
        await store.upsert("c", [VectorPoint(uuid.uuid4(), (1.0, 0.0), {})])
        await store.flush()
        await store.upsert("c", [VectorPoint(uuid.uuid4(), (0.0, 1.0), {})])
        assert await store.count("c") == 2
    finally:
        await store.aclose()


async def test_a_second_store_on_the_directory_is_unavailable(
    tmp_path: Path, store: QdrantEdgeVectorStore
) -> None:
    """A second store on a directory a store of this process holds open gets
    UnavailableError naming the directory and saying another process has it open."""
    await store.ensure_collection("c", dimension=3)
    other = QdrantEdgeVectorStore(path=store.path)

    with pytest.raises(UnavailableError, match="open in another process") as raised:
        await other.collections()
    assert str(store.path) in str(raised.value)
    assert f"pid {os.getpid()}" in str(raised.value)
    await other.aclose()


async def test_an_idle_store_releases_the_directory_to_a_waiting_one(tmp_path: Path) -> None:
    """A store idle for ``idle_release`` seconds releases the directory: another store
    waiting for it gets it, and the first is then refused until the other closes."""
    first = QdrantEdgeVectorStore(path=tmp_path, idle_release=0.05)
    second = QdrantEdgeVectorStore(path=tmp_path, lock_wait=DEADLINE, idle_release=None)
    try:
        await first.ensure_collection("c", dimension=2)
        await first.upsert("c", [VectorPoint(uuid.uuid4(), (1.0, 0.0), {})])

        assert await second.count("c") == 1  # waits until the first released it
        with pytest.raises(UnavailableError, match="open in another process"):
            await first.count("c")
        await second.aclose()
        assert await first.count("c") == 1
    finally:
        await first.aclose()
        await second.aclose()


async def test_waiting_for_the_directory_ends_with_a_clear_error(
    tmp_path: Path, store: QdrantEdgeVectorStore
) -> None:
    """A store that waited ``lock_wait`` seconds in vain says so and who holds it."""
    await store.ensure_collection("c", dimension=2)
    other = QdrantEdgeVectorStore(path=store.path, lock_wait=0.2)

    with pytest.raises(UnavailableError, match=rf"pid {os.getpid()}\) \(waited 0.2 s\)"):
        await other.count("c")
    await other.aclose()


async def test_a_directory_another_process_holds_is_refused_then_usable(tmp_path: Path) -> None:
    """While another process has the directory open, every operation is refused with
    UnavailableError naming the directory and that process; once it closed it, the same
    store works."""
    directory = tmp_path / "shared"
    holder = start(_HOLDER, str(directory))
    store = QdrantEdgeVectorStore(path=directory)
    try:
        with pytest.raises(UnavailableError, match=f"pid {holder.pid}") as raised:
            await store.ensure_collection("held", dimension=3)
        assert str(directory) in str(raised.value)
        with pytest.raises(UnavailableError, match="another process"):
            await store.count("held")
        stop(holder)

        await store.upsert("held", [VectorPoint(uuid.uuid4(), (1.0, 2.0, 3.0), {})])
        assert await store.count("held") == 1
    finally:
        if holder.poll() is None:
            holder.kill()
        await store.aclose()


async def test_a_collection_the_engine_holds_elsewhere_is_refused(
    tmp_path: Path, store: QdrantEdgeVectorStore
) -> None:
    """A collection that another process opened with the engine itself (its WAL locked) is
    refused with UnavailableError naming it, and is left intact."""
    await store.ensure_collection("c", dimension=2)
    await store.upsert("c", [VectorPoint(uuid.uuid4(), (1.0, 0.0), {})])
    await store.aclose()
    raw = start(_RAW_HOLDER, str(store.path / "collections" / "c"))
    try:
        with pytest.raises(UnavailableError, match="open in another process") as raised:
            await store.count("c")
        assert "collection c" in str(raised.value)
        with pytest.raises(UnavailableError, match="open in another process"):
            await store.drop_collection("c")
    finally:
        stop(raw)

    assert await store.count("c") == 1


async def test_a_qdrant_client_local_directory_is_refused(tmp_path: Path) -> None:
    """A directory of qdrant-client's local mode is not read as empty: UnavailableError says
    what it holds and how to fill a new one."""
    (tmp_path / "collection" / "code_function").mkdir(parents=True)
    (tmp_path / "meta.json").write_text('{"collections": {}}')
    store = QdrantEdgeVectorStore(path=tmp_path)

    with pytest.raises(UnavailableError, match=r"local-mode data.*codeant vectors rebuild"):
        await store.collections()
    await store.aclose()


@pytest.mark.parametrize(
    "config",
    [{}, {"path": ""}, {"path": ":memory:"}, {"path": 3}, {"path": "/x", "hnsw_ef": 0},
     {"path": "/x", "indexing_threshold_kb": 0}, {"path": "/x", "lock_wait": -1},
     {"path": "/x", "idle_release": "5"}],
    ids=["no-path", "empty", "memory", "not-a-path", "hnsw-ef", "threshold", "lock-wait",
         "idle-release"],
)  # fmt: skip
def test_bad_configuration_is_refused(config: dict[str, Any]) -> None:
    """A store needs a directory, positive search and index settings, and waits of 0 to
    3600 seconds."""
    with pytest.raises((ValueError, TypeError)):
        QdrantEdgeVectorStore(**config)


# --------------------------------------------------------------------------- payload indexes


KEYS = ("project_id", "language")


async def test_new_collections_get_keyword_indexes(store: QdrantEdgeVectorStore) -> None:
    """A new collection has a keyword payload index on each key it is given, and no
    other, made in one step: no collection directory exists without them."""
    await store.ensure_collection("code_function", dimension=4, indexed=KEYS)
    await store.aclose()

    shard = qe.EdgeShard.load(str(store.path / "collections" / "code_function"))
    try:
        schema = shard.info().payload_schema
    finally:
        shard.close()
    assert {f: s.data_type for f, s in schema.items()} == {
        f: qe.PayloadSchemaType.Keyword for f in KEYS
    }
    assert [p.name for p in (store.path / "collections").iterdir()] == ["code_function"]


async def test_a_collection_missing_indexes_gets_them_when_ensured(
    store: QdrantEdgeVectorStore,
) -> None:
    """A collection made without the payload indexes (by the engine directly) gets those
    that ensure_collection names, and keeps its points."""
    directory = store.path / "collections" / "foreign"
    shard = qe.EdgeShard.create(
        str(directory), qe.EdgeConfig(vectors=qe.EdgeVectorParams(3, qe.Distance.Dot))
    )
    shard.update(qe.UpdateOperation.upsert_points([qe.Point(uuid.uuid4(), [1.0, 0.0, 0.0], {})]))
    shard.close()

    assert await store.count("foreign") == 1
    await store.ensure_collection("foreign", dimension=3, distance=Distance.DOT, indexed=KEYS)
    assert await store.count("foreign") == 1
    await store.aclose()
    shard = qe.EdgeShard.load(str(directory))
    try:
        assert set(KEYS) <= set(shard.info().payload_schema)
    finally:
        shard.close()


# --------------------------------------------------------------------------- search


async def test_indexed_collections_search_filters_exactly_where_no_index_serves(
    tmp_path: Path,
) -> None:
    """Once the HNSW index is built, filters on unindexed keys (strings included), numbers
    and booleans give exactly the brute-force top-k (they are searched exactly), and
    filters on indexed keys find the same top-k."""
    store = QdrantEdgeVectorStore(path=tmp_path, indexing_threshold_kb=1)
    points = random_points(3000, 16)
    try:
        await store.ensure_collection("c", dimension=16, indexed=["project_id"])
        await store.upsert("c", points)
        [report] = await store.optimize("c")
        assert report.indexed == report.points == 3000

        rng = np.random.default_rng(5)
        filters: list[tuple[dict[str, object], Callable[[Mapping[str, Any]], bool]]] = [
            ({"bucket": 3}, lambda p: p["bucket"] == 3),
            ({"team": "t3"}, lambda p: p["team"] == "t3"),
            ({"flag": True}, lambda p: p["flag"] is True),
            ({"i": [7, 8.0, 2999]}, lambda p: p["i"] in (7, 8, 2999)),
            ({"project_id": "p3", "bucket": [3, 4]}, lambda p: p["project_id"] == "p3"),
        ]
        for query in rng.normal(size=(5, 16)):
            for where, keep in filters:
                hits = await store.search("c", query.tolist(), limit=10, filter=where)
                assert [h.id for h in hits] == exact_ids(points, query, 10, keep), where
            hits = await store.search("c", query.tolist(), limit=10, filter={"project_id": "p1"})
            expected = exact_ids(points, query, 10, lambda p: p["project_id"] == "p1")
            assert len(set(expected) & {h.id for h in hits}) >= 9
    finally:
        await store.aclose()


async def test_boolean_filters_match_booleans_only(store: QdrantEdgeVectorStore) -> None:
    """True matches the boolean and lists holding it, never the integer 1; 1 matches 1 and
    1.0, never True; False never matches 0."""
    labelled: dict[str, dict[str, object]] = {
        "true": {"v": True},
        "in-list": {"v": [True, "x"]},
        "one": {"v": 1},
        "one-float": {"v": 1.0},
        "false": {"v": False},
        "zero": {"v": 0},
    }
    points = {label: VectorPoint(uuid.uuid4(), (1.0, 0.0), p) for label, p in labelled.items()}
    await store.ensure_collection("b", dimension=2, distance=Distance.DOT)
    await store.upsert("b", list(points.values()))
    label = {p.id: name for name, p in points.items()}

    async def matching(value: Any) -> set[str]:
        return {label[p.id] for p in await store.scroll("b", filter={"v": value})}

    assert await matching(True) == {"true", "in-list"}
    assert await matching(1) == {"one", "one-float"}
    assert await matching(False) == {"false"}
    assert await matching(0) == {"zero"}
    assert await matching([True, 0]) == {"true", "in-list", "zero"}


# --------------------------------------------------------------------------- the index build


async def build_child(directory: Path) -> psutil.Process:
    """The child process building the index of ``directory``, once it runs; polls the
    event loop's own process, so finding it also shows the loop kept running."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while loop.time() < deadline:
        for child in psutil.Process().children():
            with contextlib.suppress(psutil.Error):
                if (
                    "adapters.qdrant.edge_optimize" in child.cmdline()
                    and str(directory) in child.cmdline()
                ):
                    return child
        await asyncio.sleep(0.01)
    pytest.fail(f"no index build of {directory} started")


async def test_the_index_build_runs_outside_the_process(tmp_path: Path) -> None:
    """The index build runs in a child process while the event loop goes on; other
    collections answer meanwhile, and calls on the collection being built wait for it and
    then see every point."""
    store = QdrantEdgeVectorStore(path=tmp_path, indexing_threshold_kb=1)
    try:
        await store.ensure_collection("big", dimension=32)
        await store.upsert("big", random_points(5000, 32))
        await store.ensure_collection("small", dimension=2)
        await store.upsert("small", [VectorPoint(uuid.uuid4(), (1.0, 0.0), {})])

        build = asyncio.create_task(store.optimize("big"))
        child = await build_child(tmp_path / "collections" / "big")
        assert child.pid != os.getpid()
        assert await store.count("small") == 1
        assert await store.count("big") == 5000  # waits for the build
        assert build.done()
        [report] = await build
    finally:
        await store.aclose()

    assert (report.collection, report.points, report.indexed) == ("big", 5000, 5000)
    assert report.indexed_before == 0 and report.segments >= 1


async def test_a_cancelled_build_leaves_the_collection_usable(tmp_path: Path) -> None:
    """Cancelling optimize while its child builds kills the child and reopens the
    collection as it was, without what the build had begun."""
    store = QdrantEdgeVectorStore(path=tmp_path, indexing_threshold_kb=1)
    points = random_points(3000, 32)
    directory = tmp_path / "collections" / "c"
    try:
        await store.ensure_collection("c", dimension=32)
        await store.upsert("c", points)
        build = asyncio.create_task(store.optimize("c"))
        child = await build_child(directory)
        build.cancel()
        with pytest.raises(asyncio.CancelledError):
            await build

        assert not psutil.pid_exists(child.pid)
        assert await store.count("c") == 3000
        [hit] = await store.search("c", points[0].vector, limit=1)
        assert hit.id == points[0].id
        assert not list((directory / "temp_segments").glob("*"))
        [report] = await store.optimize("c")  # and it can be built afterwards
        assert report.indexed == 3000
    finally:
        await store.aclose()


async def test_optimize_every_collection_and_unknown_ones(store: QdrantEdgeVectorStore) -> None:
    """optimize() without a name builds every collection; an unknown name is NotFound."""
    for name in ("a", "b"):
        await store.ensure_collection(name, dimension=2)

    reports = await store.optimize()

    assert [r.collection for r in reports] == ["a", "b"]
    with pytest.raises(NotFoundError):
        await store.optimize("missing")


# --------------------------------------------------------------------------- leftovers


async def test_leftovers_of_interrupted_operations_are_removed_on_open(
    store: QdrantEdgeVectorStore,
) -> None:
    """Opening removes what an interrupted index build (temp_segments), creation or drop
    left behind, and keeps the collection's points."""
    await store.ensure_collection("c", dimension=2)
    await store.upsert("c", [VectorPoint(uuid.uuid4(), (1.0, 0.0), {})])
    await store.aclose()
    collections = store.path / "collections"
    builder = collections / "c" / "temp_segments" / "segment_builder_x" / "vector_storage"
    builder.mkdir(parents=True)
    (builder / "matrix.dat").write_bytes(b"\0" * 1024)
    (collections / ".new-0123").mkdir()
    (collections / ".drop-4567" / "segments").mkdir(parents=True)

    assert await store.count("c") == 1

    assert not list((collections / "c" / "temp_segments").iterdir())
    assert sorted(p.name for p in collections.iterdir()) == ["c"]


# --------------------------------------------------------------------------- writes


async def test_reserved_and_non_json_payloads_are_refused(store: QdrantEdgeVectorStore) -> None:
    """A payload using the reserved key, holding a value that is not JSON, a number the
    engine cannot keep, or a non-string key is refused, and nothing of the batch is
    written."""
    await store.ensure_collection("c", dimension=2)
    good = VectorPoint(uuid.uuid4(), (1.0, 0.0), {"ok": True})
    bad_payloads: list[dict[Any, Any]] = [
        {NORM_KEY: 2.0},
        {"when": object()},
        {"nested": {"set": {1, 2}}},
        {"bytes": b"x"},
        {"huge": 2**70},
        {"nan": float("nan")},
        {1: "x"},
    ]
    for payload in bad_payloads:
        with pytest.raises(ValidationError, match="payload"):
            await store.upsert("c", [good, VectorPoint(uuid.uuid4(), (0.0, 1.0), payload)])

    assert await store.count("c") == 0


async def test_vectors_of_every_accepted_shape_are_stored(store: QdrantEdgeVectorStore) -> None:
    """Vectors as lists, of ints, numpy arrays and numpy floats are stored like tuples of
    floats, as are components at the edge of the 32-bit range; an id given twice keeps its
    last point."""
    await store.ensure_collection("c", dimension=2, distance=Distance.EUCLIDEAN)
    shapes: list[Any] = [[1.0, 2.0], (1, 2), np.array([1.0, 2.0]), (np.float32(1), 2.0)]
    points = [VectorPoint(uuid.uuid4(), vector, {}) for vector in shapes]
    huge = VectorPoint(uuid.uuid4(), (3e38, -3e38), {})
    twice = uuid.uuid4()
    await store.upsert("c", [*points, huge, VectorPoint(twice, (0.0, 0.0), {"v": 1}),
                             VectorPoint(twice, (3.0, 4.0), {"v": 2})])  # fmt: skip

    found = {p.id: p for p in await store.scroll("c")}
    for point in points:
        assert found[point.id].vector == pytest.approx((1.0, 2.0))
    assert found[huge.id].vector == pytest.approx((3e38, -3e38), rel=1e-6)
    assert (found[twice].vector, dict(found[twice].payload)) == ((3.0, 4.0), {"v": 2})


@pytest.mark.parametrize(
    "vector",
    [(True, 1.0), (float("nan"), 1.0), (float("inf"), 1.0), ("1", 1.0), (1.0,),
     (1e39, 1.0), [1.0, -1e300]],
    ids=["bool", "nan", "inf", "str", "short", "beyond-float32", "beyond-float32-list"],
)  # fmt: skip
async def test_bad_vectors_are_refused_before_anything_is_written(
    store: QdrantEdgeVectorStore, vector: Any
) -> None:
    """A bad component or length anywhere in a batch fails the whole batch with
    ValidationError naming the vector (a component beyond the 32-bit range too, as the
    engine would keep it as infinity); a query alike."""
    await store.ensure_collection("c", dimension=2)
    batch = [VectorPoint(uuid.uuid4(), (1.0, 0.0), {}), VectorPoint(uuid.uuid4(), vector, {})]

    with pytest.raises(ValidationError, match="vector"):
        await store.upsert("c", batch)
    with pytest.raises(ValidationError, match="vector"):
        await store.search("c", vector)
    assert await store.count("c") == 0


async def test_tuples_in_payloads_come_back_as_lists(store: QdrantEdgeVectorStore) -> None:
    """Tuples are kept as lists, as JSON has them."""
    stored = VectorPoint(uuid.uuid4(), (1.0, 0.0), {"pair": (1, "a"), "deep": {"t": (True,)}})
    await store.ensure_collection("c", dimension=2)
    await store.upsert("c", [stored])

    [found] = await store.retrieve("c", [stored.id])

    assert dict(found.payload) == {"pair": [1, "a"], "deep": {"t": [True]}}


async def test_cosine_vectors_come_back_with_their_length(store: QdrantEdgeVectorStore) -> None:
    """The engine keeps COSINE vectors normalized; retrieve and scroll give them back as
    they were upserted."""
    stored = VectorPoint(uuid.uuid4(), (3.0, 4.0), {})
    await store.ensure_collection("c", dimension=2)
    await store.upsert("c", [stored])

    [found] = await store.retrieve("c", [stored.id])
    [scrolled] = await store.scroll("c")

    assert found.vector == pytest.approx((3.0, 4.0))
    assert scrolled.vector == pytest.approx((3.0, 4.0))


async def test_large_upserts_are_written_in_engine_batches(store: QdrantEdgeVectorStore) -> None:
    """An upsert of more points than one engine update holds writes all of them."""
    points = random_points(2500, 4)
    await store.ensure_collection("c", dimension=4)

    await store.upsert("c", points)

    assert await store.count("c") == 2500
    assert len(await store.scroll("c", limit=5000)) == 2500


# --------------------------------------------------------------------------- health


async def test_health_lists_collections_and_indexed_vectors(store: QdrantEdgeVectorStore) -> None:
    """The health check is HEALTHY and lists each collection, the directory and how many
    vectors HNSW indexes hold."""
    await store.ensure_collection("code_module", dimension=3, distance=Distance.EUCLIDEAN)
    await store.upsert("code_module", [VectorPoint(uuid.uuid4(), (1.0, 2.0, 3.0), {})])

    report = await VectorStoreHealthCheck(store, backend="qdrant-edge").check()

    assert report.status is HealthStatus.HEALTHY
    assert report.details == {
        "backend": "qdrant-edge",
        "collections": [
            {"name": "code_module", "dimension": 3, "distance": "euclidean", "points": 1}
        ],
        "points": 1,
        "storage": str(store.path),
        "indexed_vectors": 0,
    }


async def test_health_of_a_directory_in_use_is_unhealthy(
    tmp_path: Path, store: QdrantEdgeVectorStore
) -> None:
    """A directory another store holds makes the health check UNHEALTHY with the reason."""
    await store.ensure_collection("c", dimension=2)
    other = QdrantEdgeVectorStore(path=store.path)

    report = await VectorStoreHealthCheck(other, backend="qdrant-edge").check()

    assert report.status is HealthStatus.UNHEALTHY
    assert report.error is not None and "open in another process" in report.error
    await other.aclose()


async def test_snapshots_say_what_to_do_instead(store: QdrantEdgeVectorStore) -> None:
    """Qdrant Edge takes no snapshots: UnavailableError says how to save the data."""
    with pytest.raises(UnavailableError, match=r"takes no snapshots.*codeant vectors rebuild"):
        await store.snapshot()


def test_the_build_process_reports_a_directory_that_is_no_collection(tmp_path: Path) -> None:
    """The build helper refuses a directory that holds no collection, naming it."""
    done = subprocess.run(
        [sys.executable, "-m", "adapters.qdrant.edge_optimize", str(tmp_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 1
    assert str(tmp_path) in done.stderr and not done.stdout


def test_the_build_process_prints_its_figures(tmp_path: Path) -> None:
    """The build helper builds the index of a collection and prints its figures as JSON."""
    directory = tmp_path / "c"
    shard = qe.EdgeShard.create(
        str(directory),
        qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(8, qe.Distance.Cosine),
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=1),
        ),
    )
    rng = np.random.default_rng(2)
    shard.update(
        qe.UpdateOperation.upsert_points(
            [qe.Point(i, rng.normal(size=8).tolist(), {}) for i in range(500)]
        )
    )
    shard.close()

    done = subprocess.run(
        [sys.executable, "-m", "adapters.qdrant.edge_optimize", str(directory)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert (figures["optimized"], figures["points"], figures["indexed"]) == (True, 500, 500)
