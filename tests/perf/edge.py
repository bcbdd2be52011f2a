"""Qdrant Edge (``QdrantEdgeVectorStore``) measured on embeddings of real code.

``python -m tests.perf.edge [--points 10000 100000] [--queries 200] [--json PATH]``

For each size: the functions of this repository, then of the standard library and the
installed packages (distinct sources, in a fixed order), embedded by the hashing embedder
(384 dimensions), shuffled; ``--queries`` of them are held out as queries. Every point
carries ``project_id`` (an indexed key) and ``group`` (the same value, without an index):
the tenth of the corpus, in file order, it comes from, so that, as for a real project, a
filter on it selects code alike; and ``bucket`` (no index), a tenth at random. Each filter
selects 10% of the points. It reports:

- upserts per second through the store (batches of 1000, WAL on, its periodic flushes);
- top-10 latency p50/p95 and recall@10 against exact numpy (float64 cosine), before the
  index build (plain segments, scanned exactly) and after it (HNSW, the shipped
  ``hnsw_ef``, and 256);
- 10%-filtered top-10 with recall: on the indexed key (HNSW with the payload index), and
  on the keys without an index, which the store searches exactly; for the record, the
  engine's own HNSW search filtered on those keys;
- the index build: its wall time in the child process, and the longest stall of the
  event loop meanwhile; at the smallest size also the same build run in a worker thread of
  this process, whose stall shows that the engine holds the GIL;
- the directory's size on disk.

No timing is asserted anywhere; the figures are printed as a table and written as JSON.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

from adapters.embedders.hashing import HashingEmbedder
from adapters.qdrant.edge import DEFAULT_HNSW_EF, QdrantEdgeVectorStore
from ports.vectors import VectorPoint

__all__ = ["main", "measure"]

ROOT = Path(__file__).resolve().parents[2]
DIMENSION = 384
K = 10
BATCH = 1000
COLLECTION = "perf_code"
SKIPPED = frozenset({"__pycache__", "test", "tests", "idlelib", ".venv", ".git"})


# --------------------------------------------------------------------------- data


def _python_files() -> Iterator[Path]:
    """This repository's Python files, then those of every directory on sys.path."""
    roots = [ROOT] + [Path(p) for p in sys.path if p and Path(p).is_dir()]
    seen: set[Path] = set()
    for root in roots:
        root = root.resolve()
        if root in seen:
            continue
        seen.add(root)
        for directory, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED and not d.startswith("."))
            if root != ROOT and Path(directory).resolve() == ROOT:
                dirs[:] = []
                continue
            for name in sorted(files):
                if name.endswith(".py"):
                    yield Path(directory) / name


def functions(count: int) -> list[str]:
    """The sources of ``count`` distinct functions (fewer if there are not that many)."""
    seen: set[str] = set()
    out: list[str] = []
    for path in _python_files():
        try:
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        lines = text.splitlines()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
                source = "\n".join(lines[node.lineno - 1 : node.end_lineno])
                if source not in seen:
                    seen.add(source)
                    out.append(source)
                    if len(out) >= count:
                        return out
    return out


# --------------------------------------------------------------------------- measures


def _percentiles(samples: Sequence[float]) -> tuple[float, float]:
    p50, p95 = np.percentile(np.asarray(samples, dtype=float), [50, 95])
    return float(p50), float(p95)


def _exact_top(unit: np.ndarray, query: np.ndarray, rows: np.ndarray | None = None) -> list[int]:
    """The K rows of highest cosine similarity (``unit`` holds normalized rows)."""
    q = query / (np.linalg.norm(query) or 1.0)
    subset = unit if rows is None else unit[rows]
    scores = subset @ q
    top = np.argsort(-scores, kind="stable")[:K]
    chosen: list[int] = (top if rows is None else rows[top]).tolist()
    return chosen


def _recall(found: Sequence[Sequence[int]], truth: Sequence[Sequence[int]]) -> float:
    return float(
        np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)])
    )


async def _searches(
    search: Callable[[np.ndarray], Awaitable[list[int]]], queries: np.ndarray
) -> tuple[list[float], list[list[int]]]:
    times, found = [], []
    for query in queries:
        start = time.perf_counter()
        hits = await search(query)
        times.append((time.perf_counter() - start) * 1000.0)
        found.append(hits)
    return times, found


class _StallMeter:
    """The longest gap between ticks of the event loop while it runs."""

    def __init__(self, tick: float = 0.005) -> None:
        self._tick = tick
        self.longest = 0.0
        self._last = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._tick)
            now = time.perf_counter()
            self.longest = max(self.longest, now - self._last - self._tick)
            self._last = now

    def __enter__(self) -> _StallMeter:
        self._last = time.perf_counter()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        # the gap up to now, which the ticker may not have woken to record
        self.longest = max(self.longest, time.perf_counter() - self._last - self._tick)


def _size_on_disk(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


async def measure(
    points: int, queries: int, texts: list[str], workdir: Path, *, thread_build: bool = False
) -> dict[str, Any]:
    """Every figure of one size (``points`` indexed, ``queries`` held out); with
    ``thread_build``, also the build in a worker thread of this process."""
    chosen = texts[: points + queries]
    order = list(range(len(chosen)))
    random.Random(3).shuffle(order)
    embedder = HashingEmbedder(DIMENSION)
    started = time.perf_counter()
    vectors = np.asarray(await embedder.embed([chosen[i] for i in order]), dtype=np.float64)
    embed_seconds = time.perf_counter() - started
    query_vectors, matrix = vectors[:queries], vectors[queries:]
    n = len(matrix)
    # a tenth of the corpus in file order, like a project: filters on it select similar code
    part = np.asarray(order[queries:]) * 10 // len(chosen)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit = matrix / np.where(norms == 0, 1.0, norms)
    ids = [uuid.uuid4() for _ in range(n)]
    index_of = {point_id: i for i, point_id in enumerate(ids)}
    in_part = np.flatnonzero(part == 3)
    in_bucket = np.flatnonzero(np.arange(n) % 10 == 3)
    truth = [_exact_top(unit, q) for q in query_vectors]
    truth_part = [_exact_top(unit, q, in_part) for q in query_vectors]
    truth_bucket = [_exact_top(unit, q, in_bucket) for q in query_vectors]

    directory = workdir / f"edge-{n}"
    store = QdrantEdgeVectorStore(path=directory)
    figures: dict[str, Any] = {
        "points": n,
        "queries": len(query_vectors),
        "dimension": DIMENSION,
        "embed_seconds": embed_seconds,
    }

    async def top(query: np.ndarray, **options: Any) -> list[int]:
        hits = await store.search(COLLECTION, query.tolist(), limit=K, **options)
        return [index_of[h.id] for h in hits]

    async def run(label: str, search: Callable[[np.ndarray], Awaitable[list[int]]],
                  expected: list[list[int]]) -> None:  # fmt: skip
        times, found = await _searches(search, query_vectors)
        p50, p95 = _percentiles(times)
        figures[label] = {"p50_ms": p50, "p95_ms": p95, "recall_at_10": _recall(found, expected)}

    try:
        await store.ensure_collection(COLLECTION, dimension=DIMENSION)
        started = time.perf_counter()
        for lo in range(0, n, BATCH):
            await store.upsert(COLLECTION, [
                VectorPoint(ids[i], tuple(matrix[i].tolist()),
                            {"project_id": f"p{part[i]}", "group": f"g{part[i]}",
                             "bucket": i % 10, "language": "python"})
                for i in range(lo, min(lo + BATCH, n))
            ])  # fmt: skip
        figures["upserts_per_s"] = n / (time.perf_counter() - started)
        await run("plain_top10", top, truth)
        await run("plain_filtered_indexed_key", lambda q: top(q, filter={"project_id": "p3"}),
                  truth_part)  # fmt: skip

        if thread_build:  # on a copy of the collection as loaded
            await store.aclose()
            copy = workdir / f"thread-build-{n}"
            shutil.copytree(directory / "collections" / COLLECTION, copy)
            figures["gil_demo"] = await _thread_build(copy)
        with _StallMeter() as stall:
            started = time.perf_counter()
            [report] = await store.optimize(COLLECTION)
            figures["build_wall_s"] = time.perf_counter() - started
        figures["build"] = {
            "seconds_in_child": report.seconds,
            "indexed": report.indexed,
            "segments": report.segments,
            "longest_loop_stall_s": stall.longest,
        }
        await run("hnsw_top10", top, truth)
        await run("hnsw_filtered_indexed_key", lambda q: top(q, filter={"project_id": "p3"}),
                  truth_part)  # fmt: skip
        await run("exact_filtered_unindexed_key", lambda q: top(q, filter={"group": "g3"}),
                  truth_part)  # fmt: skip
        await run("exact_filtered_uncorrelated_key", lambda q: top(q, filter={"bucket": 3}),
                  truth_bucket)  # fmt: skip
        wide = QdrantEdgeVectorStore(path=directory, hnsw_ef=256)
        await store.aclose()
        try:

            async def top_wide(query: np.ndarray) -> list[int]:
                hits = await wide.search(COLLECTION, query.tolist(), limit=K)
                return [index_of[h.id] for h in hits]

            await run("hnsw_top10_ef256", top_wide, truth)
        finally:
            await wide.aclose()
    finally:
        await store.aclose()

    # the engine itself, filtering an HNSW search on keys without an index
    shard = qe.EdgeShard.load(str(directory / "collections" / COLLECTION))
    try:
        for label, condition, expected in (
            ("engine_hnsw_filtered_unindexed_key",
             qe.FieldCondition(key="group", match=qe.MatchValue("g3")), truth_part),
            ("engine_hnsw_filtered_uncorrelated_key",
             qe.FieldCondition(key="bucket", range=qe.RangeFloat(gte=3, lte=3)), truth_bucket),
        ):  # fmt: skip

            async def raw(query: np.ndarray, condition: Any = condition) -> list[int]:
                request = qe.QueryRequest(
                    limit=K, query=qe.Query.Nearest(query.tolist()),
                    filter=qe.Filter(must=[condition]),
                    params=qe.SearchParams(hnsw_ef=DEFAULT_HNSW_EF),
                )  # fmt: skip
                return [index_of[_uuid(hit.id)] for hit in shard.query(request)]

            await run(label, raw, expected)
    finally:
        shard.close()
    figures["disk_bytes"] = _size_on_disk(directory)
    return figures


async def _thread_build(directory: Path) -> dict[str, float]:
    """The index build of ``directory`` in a worker thread of this process: its time and
    the event loop's longest stall meanwhile."""
    shard = qe.EdgeShard.load(str(directory))
    try:
        with _StallMeter() as stall:
            started = time.perf_counter()
            await asyncio.get_running_loop().run_in_executor(None, shard.optimize)
            seconds = time.perf_counter() - started
    finally:
        shard.close()
    shutil.rmtree(directory)
    return {"thread_build_s": seconds, "longest_loop_stall_s": stall.longest}


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


# --------------------------------------------------------------------------- report


def render(results: list[dict[str, Any]]) -> str:
    lines = [
        "| points | measure | p50 ms | p95 ms | recall@10 |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for r in results:
        for label in (
            "plain_top10", "plain_filtered_indexed_key", "hnsw_top10", "hnsw_top10_ef256",
            "hnsw_filtered_indexed_key", "exact_filtered_unindexed_key",
            "engine_hnsw_filtered_unindexed_key", "exact_filtered_uncorrelated_key",
            "engine_hnsw_filtered_uncorrelated_key",
        ):  # fmt: skip
            m = r[label]
            lines.append(
                f"| {r['points']:,} | {label} | {m['p50_ms']:.2f} | {m['p95_ms']:.2f} |"
                f" {m['recall_at_10']:.3f} |"
            )
    lines.append("")
    for r in results:
        b = r["build"]
        lines.append(
            f"{r['points']:,} points: {r['upserts_per_s']:,.0f} upserts/s;"
            f" index build {b['seconds_in_child']:.1f} s in the child"
            f" ({r['build_wall_s']:.1f} s wall), longest event-loop stall meanwhile"
            f" {b['longest_loop_stall_s'] * 1000:.0f} ms; {r['disk_bytes'] / 2**20:.0f} MiB on"
            " disk"
        )
        if "gil_demo" in r:
            g = r["gil_demo"]
            lines.append(
                f"  the same build in a worker thread: {g['thread_build_s']:.1f} s, longest"
                f" event-loop stall {g['longest_loop_stall_s']:.1f} s"
            )
    return "\n".join(lines)


async def _main_async(sizes: list[int], queries: int) -> dict[str, Any]:
    texts = functions(max(sizes) + queries)
    results = []
    with tempfile.TemporaryDirectory(prefix="codeant-perf-edge-") as tmp:
        workdir = Path(tmp)
        for points in sorted(sizes):
            figures = await measure(
                points, queries, texts, workdir, thread_build=points == min(sizes)
            )
            results.append(figures)
            print(f"measured {figures['points']:,} points", file=sys.stderr)
    return {
        "machine": {
            "cores": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "engine": "qdrant-edge-py 0.9.0",
        "vectors": "HashingEmbedder(384) over distinct functions of this repository, the"
        " standard library and the installed packages",
        "functions_available": len(texts),
        "hnsw_ef": DEFAULT_HNSW_EF,
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.edge", description=__doc__)
    parser.add_argument("--points", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", type=Path, help="where to write the JSON report")
    args = parser.parse_args(argv)
    if any(p < K for p in args.points) or args.queries < 1:
        parser.error(f"--points must be at least {K} and --queries at least 1")
    document = asyncio.run(_main_async(args.points, args.queries))
    print(render(document["results"]))
    path = args.json or Path(tempfile.gettempdir()) / "codeant-benchmark-edge.json"
    path.write_text(json.dumps(document, indent=2))
    print(f"\nJSON report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
