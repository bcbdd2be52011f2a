"""The Qdrant store beyond the contract: local-mode storage across reopening, the payload
indexes a server collection gets, the errors of an unreachable server or a locked local
storage, and its health check.

The server tests take ``CODEANT_TEST_QDRANT_URL``, else a container when a Docker daemon
answers, else skip with the reason (the ``qdrant_server_url`` fixture of the contract
suite).
"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import AsyncQdrantClient

from adapters.qdrant import NORM_KEY, QdrantVectorStore
from adapters.vector_health import VectorStoreHealthCheck
from ports.errors import UnavailableError, ValidationError
from ports.health import HealthStatus
from ports.vectors import CollectionInfo, Distance, VectorPoint
from tests.contract.test_vector_store_contract import qdrant_server_url

__all__ = ["qdrant_server_url"]  # the session fixture, shared with the contract suite


def unused_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_local_storage_survives_reopening(tmp_path: Path) -> None:
    """Points written in local mode are there, vectors and payloads intact, after the store
    is closed and the same directory opened again."""
    stored = VectorPoint(uuid.uuid4(), (3.0, 4.0, 0.0), {"symbol": "total", "line": 3})
    first = QdrantVectorStore(path=tmp_path)
    await first.ensure_collection("code_function", dimension=3)
    await first.upsert("code_function", [stored])
    await first.aclose()

    again = QdrantVectorStore(path=tmp_path)
    try:
        [found] = await again.retrieve("code_function", [stored.id])
        infos = await again.collections()
    finally:
        await again.aclose()

    assert found.vector == pytest.approx(stored.vector)
    assert dict(found.payload) == {"symbol": "total", "line": 3}
    assert infos == [CollectionInfo("code_function", 3, Distance.COSINE, 1)]


async def test_local_storage_in_use_is_unavailable(tmp_path: Path) -> None:
    """A second store on a local directory another store holds open gets UnavailableError
    naming the directory."""
    holder = QdrantVectorStore(path=tmp_path)
    await holder.ensure_collection("code_class", dimension=3)
    try:
        with pytest.raises(UnavailableError, match=str(tmp_path)):
            await QdrantVectorStore(path=tmp_path).collections()
    finally:
        await holder.aclose()


async def test_the_reserved_payload_key_is_refused() -> None:
    """A payload using the key that keeps COSINE vector lengths is refused."""
    store = QdrantVectorStore(path=":memory:")
    await store.ensure_collection("code_function", dimension=3)
    point = VectorPoint(uuid.uuid4(), (1.0, 0.0, 0.0), {NORM_KEY: 2.0})

    with pytest.raises(ValidationError, match=NORM_KEY):
        await store.upsert("code_function", [point])
    assert await store.count("code_function") == 0


async def test_unreachable_server_is_unavailable_and_unhealthy() -> None:
    """Against a port nothing listens on, operations raise UnavailableError naming the URL
    and the health check reports UNHEALTHY with that error."""
    url = f"http://127.0.0.1:{unused_port()}"
    store = QdrantVectorStore(url=url, timeout=2)
    try:
        with pytest.raises(UnavailableError, match=url):
            await store.ensure_collection("code_function", dimension=3)
        report = await VectorStoreHealthCheck(store, backend="qdrant").check()
    finally:
        await store.aclose()

    assert report.status is HealthStatus.UNHEALTHY
    assert report.error is not None and url in report.error


async def test_health_lists_the_collections() -> None:
    """The health check of a reachable store is HEALTHY and lists each collection with its
    dimension, distance and point count."""
    store = QdrantVectorStore(path=":memory:")
    await store.ensure_collection("code_module", dimension=3, distance=Distance.EUCLIDEAN)
    await store.upsert("code_module", [VectorPoint(uuid.uuid4(), (1.0, 2.0, 3.0), {})])

    report = await VectorStoreHealthCheck(store, backend="qdrant").check()

    assert report.status is HealthStatus.HEALTHY
    assert report.details == {
        "backend": "qdrant",
        "collections": [
            {"name": "code_module", "dimension": 3, "distance": "euclidean", "points": 1}
        ],
        "points": 1,
    }


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"url": "ftp://example.test"},
        {"url": "http://h", "path": "/tmp/x"},
        {"path": "/x", "api_key": "k"},
    ],
    ids=["neither", "bad-scheme", "both", "key-without-server"],
)
def test_bad_configuration_is_refused(config: dict[str, Any]) -> None:
    """A store needs exactly one of an http(s) server URL or a local path."""
    with pytest.raises(ValueError):
        QdrantVectorStore(**config)


async def test_server_collections_get_keyword_payload_indexes(qdrant_server_url: str) -> None:
    """A collection created on a server gets a keyword index on each key it is given;
    ensured again with another key, it gains that one."""
    store = QdrantVectorStore(url=qdrant_server_url)
    name = f"contract_{uuid.uuid4().hex[:12]}_indexes"
    client = AsyncQdrantClient(url=qdrant_server_url, check_compatibility=False)
    try:
        await store.ensure_collection(name, dimension=4, indexed=["project_id"])
        first = set((await client.get_collection(name)).payload_schema)
        again = QdrantVectorStore(url=qdrant_server_url)
        await again.ensure_collection(name, dimension=4, indexed=["project_id", "language"])
        await again.aclose()
        schema = (await client.get_collection(name)).payload_schema
    finally:
        await store.drop_collection(name)
        await store.aclose()
        await client.close()

    assert first == {"project_id"}
    assert {field: str(s.data_type) for field, s in schema.items()} == {
        "project_id": "keyword", "language": "keyword",
    }  # fmt: skip


async def test_local_mode_refuses_snapshots(tmp_path: Path) -> None:
    """Snapshots need a server: local mode says so and how to save its data instead."""
    store = QdrantVectorStore(path=tmp_path / "q")
    try:
        with pytest.raises(UnavailableError, match="local mode, which takes no snapshots"):
            await store.snapshot()
    finally:
        await store.aclose()


async def test_server_snapshots_every_collection(qdrant_server_url: str) -> None:
    """On a server, snapshot() returns one named, non-empty snapshot per collection."""
    store = QdrantVectorStore(url=qdrant_server_url)
    name = f"contract_{uuid.uuid4().hex[:12]}_snapshot"
    try:
        await store.ensure_collection(name, dimension=4)
        await store.upsert(name, [VectorPoint(uuid.uuid4(), (1.0, 0.0, 0.0, 0.0), {})])
        taken = {collection: (snap, size) for collection, snap, size in await store.snapshot()}
    finally:
        await store.drop_collection(name)
        await store.aclose()
    assert name in taken and taken[name][0] and taken[name][1] > 0
