"""``codeant`` with ``CODEANT_QDRANT_PATH``: the main job, similarity, health and the
``vectors`` actions on Qdrant Edge, each command a process of its own, and a directory that
another process holds refused with the reason."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from tests.e2e.cli import Cli, cli_for, index
from tests.e2e.sample_repo import (
    CLEANUP_B,
    DUPLICATED_FUNCTION,
    EXPECTED_RESULTS,
    build_sample_repo,
    line_of,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]

_HOLDER = """
import asyncio, sys
from adapters.qdrant.edge import QdrantEdgeVectorStore

async def main():
    store = QdrantEdgeVectorStore(path=sys.argv[1], idle_release=None)
    await store.collections()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await store.aclose()

asyncio.run(main())
"""


@pytest.fixture
def edge_cli(postgres_server_url: str, tmp_path: Path) -> Iterator[Cli]:
    """``codeant`` on a fresh scratch database, its vectors in Qdrant Edge."""
    with cli_for(postgres_server_url, tmp_path / "cli") as cli:
        env = cli.env | {
            "CODEANT_VECTOR_BACKEND": "qdrant",
            "CODEANT_QDRANT_PATH": str(tmp_path / "edge"),
            "CODEANT_QDRANT_TIMEOUT": "1",  # how long a command waits for the directory
        }
        yield attrs.evolve(cli, env=env, vector_backend="qdrant")


def test_the_commands_work_on_qdrant_edge(edge_cli: Cli, tmp_path: Path) -> None:
    """Indexing fills Qdrant Edge (finding the duplicated functions), similar finds the
    other copy, health names it, optimize builds its indexes, rebuild covers every unit, and
    snapshot says what to do instead."""
    repo = build_sample_repo(tmp_path / "orders-service", tmp_path / "git-home")
    summary = index(edge_cli, repo)
    assert summary["job_status"] == "completed" and summary["embedded"] > 0
    stored = edge_cli.rows(
        "SELECT r.rule_id, f.relative_path FROM analysis_results r"
        " JOIN file_index f ON f.id = r.file_id WHERE r.rule_id = 'near-duplicate-function'"
    )
    assert sorted((r["rule_id"], r["relative_path"]) for r in stored) == [
        (rule, path) for rule, path, _ in EXPECTED_RESULTS if rule == "near-duplicate-function"
    ]

    status = edge_cli.json("vectors", "status")
    functions = {c["name"]: c for c in status["collections"]}["code_function"]
    assert functions["points"] > 0 and functions["dimension"] == 384

    target = f"{repo.root / 'orders' / 'cleanup_a.py'}:{DUPLICATED_FUNCTION}"
    best = edge_cli.json("similar", target, "--limit", "3")["hits"][0]
    assert (best["path"], best["symbol"]) == ("orders/cleanup_b.py", DUPLICATED_FUNCTION)
    assert best["lines"][0] == line_of(CLEANUP_B, f"def {DUPLICATED_FUNCTION}(")

    health = edge_cli.json("health")
    [vectors] = [c for c in health["checks"] if c["component"] == "vector_store"]
    assert vectors["status"] == "healthy"
    assert vectors["details"]["backend"] == "qdrant-edge"
    assert vectors["details"]["points"] == sum(c["points"] for c in status["collections"])

    builds = edge_cli.json("vectors", "optimize")
    assert {b["collection"] for b in builds} == {c["name"] for c in status["collections"]}
    assert all(b["points"] == {c["name"]: c for c in status["collections"]}[b["collection"]][
        "points"] for b in builds)  # fmt: skip

    rebuilt = edge_cli.json("vectors", "rebuild")
    assert rebuilt["units"] == functions["points"]
    assert "indexed" in rebuilt

    snapshot = edge_cli.run("vectors", "snapshot")
    assert snapshot.returncode == 2
    assert "snapshots are taken by a Qdrant server" in snapshot.stderr
    assert "codeant vectors rebuild" in snapshot.stderr


def test_a_directory_another_process_holds_is_refused(edge_cli: Cli) -> None:
    """While another process has the Qdrant Edge directory open, a command that needs it
    exits 1 naming the directory and that process, and works once it is closed."""
    directory = edge_cli.env["CODEANT_QDRANT_PATH"]
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, directory],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "ready", holder.stderr
        refused = edge_cli.run("vectors", "status")
        assert refused.returncode == 1
        assert directory in refused.stderr
        assert f"open in another process (pid {holder.pid}) (waited 1 s)" in refused.stderr
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=120)
    finally:
        if holder.poll() is None:
            holder.kill()

    assert edge_cli.json("vectors", "status")["collections"] == []
