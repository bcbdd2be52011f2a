"""The ``codeant`` command line, run as a subprocess against a scratch database.

:class:`Cli` runs ``python -m adapters.cli.main`` with an environment of its own: a
scratch database on the session's PostgreSQL server (``CODEANT_DATABASE_URL``), data
directory and home in temporary directories, an empty configuration file, and no other
``CODEANT_*`` variable of the caller's environment. Vectors go to pgvector beside the data
when the server offers the extension, else to a Qdrant Edge directory, so that they
persist from one process to the next either way. Tests check what the commands stored with
raw SQL (:meth:`Cli.rows`), never through the adapters.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import psycopg
from psycopg.rows import dict_row

from tests.e2e.sample_repo import SampleRepo
from tests.servers import scratch_database

__all__ = ["Cli", "Indexed", "cli_for", "index"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 600
"""Seconds after which a hung command is killed (a guard, not a timed assertion)."""

HAS_PGVECTOR = "SELECT count(*) AS n FROM pg_available_extensions WHERE name = 'vector'"


@attrs.frozen
class Cli:
    """``codeant`` with a scratch database and directories of its own."""

    env: dict[str, str] = attrs.field(repr=False)
    database_url: str
    vector_backend: str
    workdir: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``codeant ARGS``, run to its end; its exit status and output, unchecked."""
        return subprocess.run(
            [sys.executable, "-m", "adapters.cli.main", *args],
            cwd=self.workdir, env=self.env, capture_output=True, text=True,
            stdin=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT, check=False,
        )  # fmt: skip

    def json(self, *args: str, quiet: bool = False) -> Any:
        """The JSON ``codeant ARGS --json`` prints; fails the test, showing the command's
        output, unless it exits 0 (and, ``quiet``, wrote nothing to stderr)."""
        done = self.run(*args, "--json")
        assert done.returncode == 0 and not (quiet and done.stderr), (
            f"codeant {' '.join(args)} --json exited {done.returncode}\n"
            f"stdout: {done.stdout}\nstderr: {done.stderr}"
        )
        return json.loads(done.stdout)

    def rows(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The rows of a raw SQL ``query`` on the scratch database, as dicts."""
        with psycopg.connect(self.database_url, row_factory=dict_row) as conn:
            return conn.execute(query, params).fetchall()

    def value(self, query: str, params: dict[str, Any] | None = None) -> Any:
        """The first column of the only row of ``query``."""
        [row] = self.rows(query, params)
        return next(iter(row.values()))


@contextlib.contextmanager
def cli_for(server_url: str, directory: Path) -> Iterator[Cli]:
    """A :class:`Cli` on a new scratch database of ``server_url`` (dropped after the
    block), its home, data directory and configuration file under ``directory``."""
    home = directory / "home"
    data = directory / "data"
    for path in (home, data):
        path.mkdir(parents=True, exist_ok=True)
    config = directory / "empty.toml"
    config.write_text("")
    with scratch_database(server_url, prefix="codeant_e2e") as url:
        with psycopg.connect(url) as conn:
            row = conn.execute(HAS_PGVECTOR).fetchone()
        pgvector = row is not None and row[0] > 0
        env = {key: value for key, value in os.environ.items() if not key.startswith("CODEANT_")}
        env |= {
            "HOME": str(home),
            "CODEANT_DATA_DIR": str(data),
            "CODEANT_CONFIG": str(config),
            "CODEANT_DATABASE_URL": url,
        }
        if not pgvector:
            env |= {
                "CODEANT_VECTOR_BACKEND": "qdrant",
                "CODEANT_QDRANT_PATH": str(directory / "qdrant"),
            }
        yield Cli(
            env=env,
            database_url=url,
            vector_backend="pgvector" if pgvector else "qdrant",
            workdir=PROJECT_ROOT,
        )


@attrs.frozen
class Indexed:
    """A sample repository indexed once: the repository, the command line and database it
    was indexed with, and the summary ``codeant index --json`` printed."""

    repo: SampleRepo
    cli: Cli
    summary: dict[str, Any]


def index(cli: Cli, repo: SampleRepo, *args: str) -> dict[str, Any]:
    """The summary of ``codeant index REPO ARGS --json`` (its timing printed, for -s);
    fails the test if the run (its worker processes included) wrote to stderr."""
    summary: dict[str, Any] = cli.json("index", str(repo.root), *args, quiet=True)
    print(f"codeant index {repo.root.name}: {summary['seconds']} s")
    return summary
