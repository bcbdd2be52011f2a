"""The embedded default: ``codeant`` with no database configured, as separate processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil

from adapters.postgres.migrations import MigrationRunner


def codeant(*args: str, data_dir: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEANT_")} | {
        "CODEANT_DATA_DIR": str(data_dir),
        "HOME": str(data_dir),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "adapters.cli.main", *args],
        env=env,
        cwd=data_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.info.get("name") == "postgres" and str(data_dir) in " ".join(cmdline):
            found.append(proc)
    return found


def test_two_processes_share_one_embedded_server_and_it_stops_after(tmp_path: Path) -> None:
    """Two codeant processes started at once on a fresh data directory both get a
    migrated, healthy database; when both have exited no server is left running."""
    procs = [codeant("health", "--json", data_dir=tmp_path) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        body = json.loads(out)
        database = next(c for c in body["checks"] if c["component"] == "database")
        assert database["status"] in ("healthy", "degraded"), database
        assert database["details"]["embedded"] is True
    status = codeant("db", "status", "--json", data_dir=tmp_path)
    out, err = status.communicate(timeout=120)
    assert status.returncode == 0, err
    assert json.loads(out)["current_version"] == MigrationRunner("postgresql:///x").latest_version
    assert postgres_processes(tmp_path / "postgres") == []
