"""Building the HNSW index of one Qdrant Edge collection, in a process of its own.

The engine holds the GIL for the whole build (minutes at 100k points), so a process that
builds in one of its own threads stops running Python meanwhile: its event loop, its
requests, its progress output. :meth:`QdrantEdgeVectorStore.optimize
<adapters.qdrant.edge.QdrantEdgeVectorStore.optimize>` therefore closes the collection and
runs ``python -m adapters.qdrant.edge_optimize DIRECTORY``, which opens it, builds (at a
lower CPU priority), flushes, closes, prints one JSON object and exits 0; on failure it
prints the reason on stderr and exits 1, or 3 when another process holds the collection.

This module imports only the standard library and the engine, so the child starts fast.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import qdrant_edge as qe

__all__ = [
    "EXIT_IN_USE",
    "TEMP_SEGMENTS",
    "clear_temp_segments",
    "in_use",
    "main",
    "optimize_directory",
]

log = logging.getLogger(__name__)

TEMP_SEGMENTS = "temp_segments"
"""Where the engine builds new segments; what an interrupted build leaves there is never
used again and nothing else removes it."""

EXIT_IN_USE = 3
NICENESS = 10


def in_use(exc: BaseException) -> bool:
    """Whether an engine error says that another opener holds the directory (its WAL is
    locked)."""
    return "WouldBlock" in str(exc)


def clear_temp_segments(directory: Path) -> int:
    """Remove what interrupted index builds left in ``directory/temp_segments``; how many
    entries went. Call it only while holding the collection open (its WAL lock), so that no
    build can be running. Symbolic links are removed, never followed."""
    temp = directory / TEMP_SEGMENTS
    if temp.is_symlink() or not temp.is_dir():
        return 0
    removed = 0
    for entry in temp.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        removed += 1
    if removed:
        log.warning("removed %d unfinished index builds from %s", removed, temp)
    return removed


def optimize_directory(directory: Path) -> dict[str, object]:
    """Open the collection at ``directory``, build its indexes, flush and close it; the
    figures of the build."""
    shard = qe.EdgeShard.load(str(directory))
    try:
        clear_temp_segments(directory)
        before = shard.info()
        started = time.perf_counter()
        changed = shard.optimize()
        shard.flush()
        seconds = time.perf_counter() - started
        after = shard.info()
    finally:
        shard.close()
    return {
        "optimized": bool(changed),
        "points": after.points_count,
        "indexed_before": before.indexed_vectors_count,
        "indexed": after.indexed_vectors_count,
        "segments": after.segments_count,
        "seconds": seconds,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m adapters.qdrant.edge_optimize",
        description="Build the HNSW index of one Qdrant Edge collection directory.",
    )
    parser.add_argument("directory", type=Path, help="the collection's directory")
    args = parser.parse_args(argv)
    directory: Path = args.directory
    if not (directory / "edge_config.json").is_file():
        print(f"{directory} is not a Qdrant Edge collection", file=sys.stderr)
        return 1
    with contextlib.suppress(OSError):  # a maintenance build yields the CPU to serving
        os.nice(NICENESS)
    try:
        figures = optimize_directory(directory)
    except Exception as exc:  # the engine raises plain Exceptions with a message
        print(f"{directory}: {exc}", file=sys.stderr)
        return EXIT_IN_USE if in_use(exc) else 1
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
