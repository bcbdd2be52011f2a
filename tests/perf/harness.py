"""What every benchmark row shares: sizes, latency statistics, the result rows, the
table and the JSON report."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

__all__ = [
    "SIZES",
    "Result",
    "Sizes",
    "Spread",
    "latencies",
    "percentiles",
    "render_table",
    "report",
    "rounds",
    "write_json",
]


@attrs.frozen(kw_only=True)
class Sizes:
    """How much data and how many iterations a run uses."""

    name: str
    files: int  # file_index rows of the bulk and search rows
    results: int  # analysis results behind the complex queries
    vectors: int  # code embeddings indexed
    qdrant_max: int  # Qdrant local mode is brute force in Python: at most this many
    queries: int  # timed iterations of each query row (and held-out vector queries)
    inserts: int  # records inserted one per unit of work
    cache_reads: int  # Zipf-distributed cached reads
    operations: int  # concurrent mixed operations
    semantic: int = 0  # vectors embedded with the sentence-transformers model (0: none)
    main_files: int = 450  # files of the repository the main job (row 7) indexes
    main_rounds: int = 3  # rounds of the main job against lizard, interleaved
    ef_search_sweep: tuple[int, ...] = (10, 20, 40, 80, 160, 320)

    def scaled(
        self, *, rows: int | None = None, vectors: int | None = None, files: int | None = None
    ) -> Sizes:
        """These sizes with ``--rows`` (files and results), ``--vectors`` and ``--files``
        (the main job's) applied."""
        changed: dict[str, Any] = {}
        if files is not None:
            changed["main_files"] = _positive("files", files)
        if rows is not None:
            changed.update(files=_positive("rows", rows), results=rows)
        if vectors is not None:
            changed["vectors"] = _positive("vectors", vectors)
        return attrs.evolve(self, **changed)


def _positive(name: str, value: int) -> int:
    if value < 1:
        raise ValueError(f"--{name} must be a positive integer, got {value}")
    return value


SIZES = {
    "tiny": Sizes(
        name="tiny", files=300, results=1_000, vectors=300, qdrant_max=300, queries=5,
        inserts=10, cache_reads=200, operations=1_000, ef_search_sweep=(10, 40),
        main_files=12, main_rounds=1,
    ),
    "quick": Sizes(
        name="quick", files=20_000, results=100_000, vectors=20_000, qdrant_max=20_000,
        queries=200, inserts=300, cache_reads=10_000, operations=1_000, semantic=2_000,
    ),
    "full": Sizes(
        name="full", files=1_000_000, results=1_000_000, vectors=1_000_000, qdrant_max=20_000,
        queries=500, inserts=1_000, cache_reads=100_000, operations=5_000, semantic=20_000,
        main_files=2_000,
    ),
}  # fmt: skip
"""``tiny`` is the smoke test's; ``quick`` (the default) takes minutes on 2 cores."""


@attrs.define(kw_only=True)
class Result:
    """One row of the report: our figure, the peer's (same run), and the seed's target.

    ``target`` is ``("<", 10.0)``-like (None: informative only), on our figure, or on
    the ratio of ours to the peer's with ``on_ratio``; ``skipped`` says why a figure
    could not be measured (the figure is then None).
    """

    row: str
    name: str
    unit: str
    ours: float | None
    peer: float | None = None
    peer_name: str | None = None
    target: tuple[str, float] | None = None
    notes: str = ""
    skipped: str | None = None
    on_ratio: bool = False

    @property
    def ratio(self) -> float | None:
        """Ours over the peer's."""
        if self.ours is None or not self.peer:
            return None
        return self.ours / self.peer

    @property
    def met(self) -> bool | None:
        figure = self.ratio if self.on_ratio else self.ours
        if self.target is None or figure is None:
            return None
        op, value = self.target
        return {"<": figure < value, "<=": figure <= value, ">": figure > value,
                ">=": figure >= value}[op]  # fmt: skip

    @property
    def target_text(self) -> str | None:
        if self.target is None:
            return None
        return ("ratio " if self.on_ratio else "") + f"{self.target[0]} {self.target[1]:g}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "name": self.name,
            "unit": self.unit,
            "ours": self.ours,
            "peer_name": self.peer_name,
            "peer": self.peer,
            "ratio": self.ratio,
            "target": self.target_text,
            "met": self.met,
            "notes": self.notes,
            "skipped": self.skipped,
        }


def percentiles(samples_ms: Sequence[float]) -> tuple[float, float]:
    """p50 and p95 of ``samples_ms``."""
    if not samples_ms:
        raise ValueError("no samples")
    p50, p95 = np.percentile(np.asarray(samples_ms, dtype=float), [50, 95])
    return float(p50), float(p95)


async def latencies(call: Callable[[int], Awaitable[object]], count: int) -> list[float]:
    """Milliseconds of each of ``count`` sequential awaits of ``call(i)``."""
    out = []
    for i in range(count):
        start = time.perf_counter()
        await call(i)
        out.append((time.perf_counter() - start) * 1000.0)
    return out


@attrs.frozen
class Spread:
    """The median of one figure over several rounds, with its lowest and highest round."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("no rounds")
        return cls(float(np.median(values)), float(min(values)), float(max(values)))

    def __str__(self) -> str:
        return f"{self.median:.3g} ({self.low:.3g}-{self.high:.3g})"


Contender = Callable[[range], Awaitable[Sequence[float]]]
"""Runs the iterations of one round (their indexes) and returns their milliseconds."""


async def rounds(
    contenders: dict[str, Contender], count: int, *, runs: int = 5
) -> dict[str, tuple[Spread, Spread]]:
    """p50 and p95 of each contender over ``count`` iterations split into ``runs``
    rounds. The contenders take turns inside every round, in an order that rotates from
    round to round, so that a machine busier in one stretch of time weighs on all of them
    alike; each figure is the median of its rounds with their spread."""
    names = list(contenders)
    runs = max(1, min(runs, count))
    per_round: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    bounds = np.linspace(0, count, runs + 1).astype(int)
    for r in range(runs):
        span = range(int(bounds[r]), int(bounds[r + 1]))
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            per_round[name].append(percentiles(await contenders[name](span)))
    return {
        name: (Spread.of([p[0] for p in got]), Spread.of([p[1] for p in got]))
        for name, got in per_round.items()
    }


def _figure(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0 or math.isnan(value):
        return f"{value:g}"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if magnitude < 1 else f"{value:.2f}"


def render_table(results: Sequence[Result]) -> str:
    """The report as an aligned text table (a markdown table, pipes included)."""
    header = ("row", "measure", "unit", "ours", "peer", "peer figure", "ratio", "target", "met")
    lines = []
    for r in results:
        met = {True: "yes", False: "NO", None: "-"}[r.met]
        if r.skipped and r.ours is None:
            met = "skipped"
        lines.append((
            r.row, r.name, r.unit, _figure(r.ours), r.peer_name or "-", _figure(r.peer),
            "-" if r.ratio is None else f"{r.ratio:.2f}",
            r.target_text or "-", met,
        ))  # fmt: skip
    widths = [max(len(str(c)) for c in col) for col in zip(header, *lines, strict=True)]

    def fmt(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [fmt(header), rule, *(fmt(line) for line in lines)]
    notes = [f"- {r.row} {r.name}: {r.skipped or r.notes}" for r in results if r.skipped or r.notes]
    return "\n".join(body + (["", *notes] if notes else []))


def report(results: Sequence[Result], meta: dict[str, Any]) -> dict[str, Any]:
    """The JSON document of a run."""
    return {**meta, "rows": [r.as_dict() for r in results]}


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
