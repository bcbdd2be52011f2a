"""Storage grows with change, not with runs: on both adapters, a repository of 30 files
(four issues each) is indexed, then five incremental runs each edit one line of one file;
each run adds the results, metrics and history of that file alone, the issues and
changelog entries its edit made, and one row of measures, gate and job, whatever the
repository holds besides."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest
from psycopg import sql

from adapters.code_index import VectorCodeIndex
from adapters.embedders.hashing import HashingEmbedder
from adapters.memory.vectors import MemoryVectorStore
from adapters.source import FileAnalyzer, GitSourceReader
from application.indexing import IndexReport, index_repository
from tests.contract.conftest import (
    Backend,
    MemoryBackend,
    contract_fixture,
    memory_backend,
    postgres_backend,
)

FILES = 30
RUNS = 5
STEP = 7  # run i edits file (i * STEP) % FILES: distinct files
ISSUES_PER_FILE = 4  # three markers and a function of seven parameters
PER_RUN = (
    "analysis_jobs", "analysis_results", "code_metrics", "file_history", "issues",
    "issue_changes", "analysis_measures", "analysis_gates", "audit_log",
)  # fmt: skip
TABLES = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = 'public'
"""


@attrs.frozen
class Store:
    """A backend and the rows of each of its tables, counted past row-level security."""

    backend: Backend
    rows: Callable[[], Awaitable[dict[str, int]]]


@contextlib.asynccontextmanager
async def memory_store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    async with memory_backend(request) as backend:
        assert isinstance(backend, MemoryBackend)
        database = backend.database

        async def rows() -> dict[str, int]:
            return {**database.row_count(), "audit_log": len(database.audit.entries)}

        yield Store(backend, rows)


@contextlib.asynccontextmanager
async def postgres_store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    url = request.getfixturevalue("migrated_database_url")
    async with postgres_backend(request) as backend:

        async def rows() -> dict[str, int]:
            # the database's owner, in the system scope: no row hidden
            async with await psycopg.AsyncConnection.connect(
                url, autocommit=True, options="-c codeant.scope=system"
            ) as owner:
                tables = await (await owner.execute(TABLES)).fetchall()
                counts = {}
                for schema, table in tables:
                    query = sql.SQL("SELECT count(*) FROM {}.{}").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    )
                    row = await (await owner.execute(query)).fetchone()
                    counts[table] = int(row[0]) if row else 0
                return counts

        yield Store(backend, rows)


store = contract_fixture({"memory": memory_store, "postgres": postgres_store}, name="store")


def _module(n: int) -> list[str]:
    """Module ``n``: four issues (TODO, FIXME and XXX markers, seven parameters), its
    functions too short to be near-duplicates."""
    return [
        f'"""Module {n}."""',
        "",
        "VERSION = 1",
        f'NAME = "module_{n}"',
        "",
        "",
        f"def first_{n}(value):",
        f"    # TODO: validate value {n}",
        f"    return value + {n}",
        "",
        "",
        f"def second_{n}(value):",
        f"    # FIXME: off by one in {n}",
        f"    return value - {n}",
        "",
        "",
        f"def wide_{n}(a, b, c, d, e, f, g):",
        f"    # XXX: too many inputs for {n}",
        "    return a + b + c + d + e + f + g",
    ]


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules = [_module(n) for n in range(FILES)]
        root.mkdir()
        for n in range(FILES):
            self._write(n)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "dev@example.com")
        self.git("config", "user.name", "Dev")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "first")

    def git(self, *args: str) -> None:
        subprocess.run(["git", *args], cwd=self.root, check=True, capture_output=True)

    def _write(self, n: int) -> None:
        path = self.root / f"pkg{n % 3}" / f"module_{n}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text("\n".join(self.modules[n]) + "\n")

    def edit(self, run: int) -> tuple[int, int]:
        """Edit one line of one file and commit: a line of no issue, a TODO done, or a
        TODO added, in turn; returns the issues the file holds after the edit and the
        edit's effect on them (0, -1, +1)."""
        n = (run * STEP) % FILES
        lines = self.modules[n]
        kind = run % 3
        if kind == 0:
            lines[2], delta = f"VERSION = {run + 2}", 0
        elif kind == 1:
            lines[7], delta = lines[7].replace("# TODO:", "# done:"), -1
        else:
            lines[3], delta = f'NAME = "module_{n}"  # TODO: a better name', +1
        self._write(n)
        self.git("commit", "-q", "-a", "-m", f"run {run}")
        return ISSUES_PER_FILE + delta, delta


async def test_each_run_adds_rows_for_the_file_it_changed_not_for_every_issue(
    store: Store, tmp_path: Path
) -> None:
    """Each incremental run adds the changed file's results, metrics and history entry,
    only the issues and changelog entries its edit made, and one row each of job,
    measures and gate; nothing grows with the repository's other issues."""
    repo = Repo(tmp_path / "ledger")
    vectors, embedder = VectorCodeIndex(MemoryVectorStore()), HashingEmbedder(64)

    async def index() -> IndexReport:
        return await index_repository(
            store.backend.uow(actor="ci"), GitSourceReader(), FileAnalyzer(), embedder,
            vectors, str(repo.root), organization_slug="acme",
        )  # fmt: skip

    first = await index()
    assert first.analyzed == FILES
    assert first.issues_new == first.results == FILES * ISSUES_PER_FILE
    metrics_per_file, leftover = divmod(first.metrics, FILES)
    assert leftover == 0 and metrics_per_file > 0
    before = await store.rows()
    assert before["issues"] == FILES * ISSUES_PER_FILE

    added: list[dict[str, Any]] = []
    for run in range(RUNS):
        holds, delta = repo.edit(run)
        report = await index()
        assert (report.analyzed, report.modified, report.results) == (1, 1, holds)
        after = await store.rows()
        grew = {t: after[t] - before[t] for t in PER_RUN}
        added.append(grew)
        before = after

        # the history of the changed file, and nothing of the others
        assert grew["analysis_results"] == holds  # its results, not the repository's 120
        assert grew["code_metrics"] == metrics_per_file
        assert grew["file_history"] == 1
        # issue rows are the current state: a row for a new issue only, updated in place
        assert grew["issues"] == max(delta, 0)
        assert grew["issue_changes"] == abs(delta)
        # one of each per analysis
        assert grew["analysis_jobs"] == grew["analysis_measures"] == grew["analysis_gates"] == 1
        # the trail records statements and moves, not every issue seen again
        assert grew["audit_log"] < FILES * ISSUES_PER_FILE // 4, grew

    total = {t: sum(g[t] for g in added) for t in PER_RUN}
    assert total["analysis_results"] == sum(ISSUES_PER_FILE + d for d in (0, -1, 1, 0, -1))
    assert before["issues"] == FILES * ISSUES_PER_FILE + 1  # one TODO added, none copied
