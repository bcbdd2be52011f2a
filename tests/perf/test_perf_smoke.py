"""The benchmark at a tiny size, so that it never rots (no timing is asserted)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.perf.__main__ import main

ALWAYS = {"1a", "1b", "1c", "1d", "2a", "2b", "2c", "2d", "2e", "3", "6a", "6b", "6c", "6d"}
MAIN_JOB_ROWS = {"7a", "7b", "7c", "7d"}  # codeant index against lizard at 12 files; help, rerun
VECTOR_ROWS = {"4a", "4b", "4c", "4d", "4e", "4f", "4g", "4h", "4i", "4j", "4k", "4l", "4m",
               "4n", "4o", "4p", "4q"}  # fmt: skip
CACHE_ROWS = {"5a", "5b"}


def test_tiny_run_prints_and_writes_every_row(
    postgres_server_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tiny run prints the table and writes a JSON report with every row, each holding
    a finite figure or the reason it could not be measured."""
    report = tmp_path / "bench.json"
    argv = ["--size", "tiny", "--database-url", postgres_server_url, "--json", str(report)]

    assert main(argv) == 0

    printed = capsys.readouterr().out
    document = json.loads(report.read_text())
    rows = {r["row"]: r for r in document["rows"]}
    assert rows.keys() >= ALWAYS | MAIN_JOB_ROWS
    assert rows.keys() >= VECTOR_ROWS or rows["4"]["skipped"]  # pgvector missing: says so
    assert rows.keys() >= CACHE_ROWS or rows["5"]["skipped"]  # no Redis: says so
    for row in rows.values():
        assert f"| {row['row']} " in printed
        if row["ours"] is None:
            assert row["skipped"], row
        else:
            assert math.isfinite(row["ours"]) and row["ours"] >= 0, row
        if row["peer_name"] == "SQLAlchemy 2 ORM" and row["peer"] is None:
            assert "SQLAlchemy" in row["skipped"], row  # the peer is an optional extra
    assert document["size"] == "tiny"
    assert document["machine"]["cores"] >= 1
