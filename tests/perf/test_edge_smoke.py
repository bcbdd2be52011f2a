"""The Qdrant Edge benchmark at a tiny size, so that it never rots (no timing is asserted)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.perf.edge import main

SEARCHES = {
    "plain_top10",
    "plain_filtered_indexed_key",
    "hnsw_top10",
    "hnsw_top10_ef256",
    "hnsw_filtered_indexed_key",
    "exact_filtered_unindexed_key",
    "exact_filtered_uncorrelated_key",
    "engine_hnsw_filtered_unindexed_key",
    "engine_hnsw_filtered_uncorrelated_key",
}


def test_tiny_run_prints_and_writes_every_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tiny run prints its table and writes every figure, finite, with recalls in [0, 1]
    and the exact searches finding (ties at the tenth place aside) the true top 10."""
    report = tmp_path / "edge.json"

    assert main(["--points", "300", "--queries", "5", "--json", str(report)]) == 0

    printed = capsys.readouterr().out
    [result] = json.loads(report.read_text())["results"]
    assert result["points"] == 300 and result["queries"] == 5
    for label in SEARCHES:
        figures = result[label]
        assert all(math.isfinite(v) and v >= 0 for v in figures.values()), label
        assert 0 <= figures["recall_at_10"] <= 1, label
        assert f"| 300 | {label} |" in printed
    assert result["exact_filtered_unindexed_key"]["recall_at_10"] >= 0.9
    assert result["exact_filtered_uncorrelated_key"]["recall_at_10"] >= 0.9
    assert result["upserts_per_s"] > 0 and result["build"]["indexed"] >= 0
    assert result["gil_demo"]["thread_build_s"] >= 0
