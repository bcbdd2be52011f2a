"""Qdrant Edge processes killed with SIGKILL: a writer killed in a stream of upserts, whose
every returned upsert is found again from the WAL, and an index build killed half-way,
whose leftovers go and whose collection keeps its points."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from adapters.qdrant import QdrantEdgeVectorStore
from ports.vectors import VectorPoint

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 120.0
"""Seconds a helper process may take to reach the point of the test (a guard only)."""
ACKED_BATCHES = 30

_WRITER = """
import asyncio, random, sys, uuid
from adapters.qdrant.edge import QdrantEdgeVectorStore
from ports.vectors import VectorPoint

async def main():
    store = QdrantEdgeVectorStore(path=sys.argv[1])
    await store.ensure_collection("stream", dimension=16)
    rng = random.Random(7)
    while True:
        batch = [
            VectorPoint(uuid.uuid4(), tuple(rng.gauss(0, 1) for _ in range(16)),
                        {"project_id": "p", "n": rng.randrange(1000)})
            for _ in range(40)
        ]
        await store.upsert("stream", batch)
        print(" ".join(str(p.id) for p in batch), flush=True)

asyncio.run(main())
"""


def kill_writer_mid_stream(directory: Path) -> list[uuid.UUID]:
    """Run the writer on ``directory``, SIGKILL it once it acknowledged ACKED_BATCHES
    upserts; the ids of every upsert that returned before the kill."""
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(directory)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stderr is not None
    acked: list[uuid.UUID] = []
    try:
        for _ in range(ACKED_BATCHES):
            line = writer.stdout.readline()
            assert line.endswith("\n"), f"the writer stopped: {writer.stderr.read()}"
            acked += [uuid.UUID(text) for text in line.split()]
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        rest, _ = writer.communicate(timeout=DEADLINE)
    assert writer.returncode == -signal.SIGKILL
    for line in rest.splitlines(keepends=True):  # upserts that returned before the kill
        if line.endswith("\n"):
            acked += [uuid.UUID(text) for text in line.split()]
    return acked


async def test_a_writer_killed_mid_stream_loses_no_returned_upsert(tmp_path: Path) -> None:
    """SIGKILL during a stream of upserts: on the next open (replaying the WAL) every
    upsert that had returned is there, the directory is free, and the store works."""
    directory = tmp_path / "edge"
    acked = kill_writer_mid_stream(directory)

    store = QdrantEdgeVectorStore(path=directory)
    try:
        found = await store.retrieve("stream", acked)
        assert {p.id for p in found} == set(acked)
        assert await store.count("stream") >= len(acked)
        extra = VectorPoint(uuid.uuid4(), tuple([1.0] * 16), {"project_id": "p"})
        await store.upsert("stream", [extra])
        [hit] = await store.search("stream", extra.vector, limit=1)
        assert hit.id == extra.id
        assert len(await store.scroll("stream", filter={"project_id": "p"})) >= len(acked)
    finally:
        await store.aclose()


def kill_build_half_way(directory: Path) -> Path:
    """Start the index build of ``directory``, SIGKILL it once it has begun writing its new
    segment; the build's temporary directory."""
    build = subprocess.Popen(
        [sys.executable, "-m", "adapters.qdrant.edge_optimize", str(directory)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    temp = directory / "temp_segments"
    try:
        deadline = time.monotonic() + DEADLINE
        while not (temp.is_dir() and any(temp.iterdir())):
            if build.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the build ended before it wrote anything: {build.returncode}")
            time.sleep(0.005)
    finally:
        build.kill()
        build.wait(timeout=DEADLINE)
    return temp


async def test_an_index_build_killed_half_way_leaves_the_collection_whole(
    tmp_path: Path,
) -> None:
    """SIGKILL of the index build while it writes its new segment: the next open removes
    what it left in temp_segments, the collection keeps every point, and a new build
    completes."""
    store = QdrantEdgeVectorStore(path=tmp_path, indexing_threshold_kb=1)
    rng = np.random.default_rng(3)
    points = [
        VectorPoint(uuid.uuid4(), tuple(rng.normal(size=64).tolist()), {"i": i})
        for i in range(20_000)
    ]
    directory = tmp_path / "collections" / "c"
    try:
        await store.ensure_collection("c", dimension=64)
        for start in range(0, len(points), 5000):
            await store.upsert("c", points[start : start + 5000])
    finally:
        await store.aclose()

    temp = kill_build_half_way(directory)
    assert any(temp.iterdir())  # what the killed build left

    store = QdrantEdgeVectorStore(path=tmp_path, indexing_threshold_kb=1)
    try:
        assert await store.count("c") == len(points)
        assert not any(temp.iterdir())
        [hit] = await store.search("c", points[123].vector, limit=1)
        assert hit.id == points[123].id
        [report] = await store.optimize("c")
        assert report.indexed == len(points)
    finally:
        await store.aclose()
