"""Rows 9a/9b: storage grows with change, not with runs. A generated git repository of
459 Python files (quick; 40 tiny, 2,000 full), ten issues each (TODO, FIXME, HACK and XXX
markers, a function of too many parameters and too high a complexity) and some
near-duplicate functions between them, is indexed once
(:func:`application.indexing.index_repository`, with the ports ``codeant index`` wires:
the git reader, the file analyzer, the hashing embedder, pgvector (else Qdrant Edge, as
the main job's row falls back to), exact neighbours) into a database of its own; then
100 incremental runs (quick; 5 tiny, 300 full) each edit one line of one file, commit,
and index again. In turn a run edits a line that holds no issue, removes the marker of a
TODO line (an issue closed), or adds a TODO to a line (an issue found).

The rows of every table (each counted by the database's owner in the system scope, so
that row-level security hides none) are counted after the first index and after every
run: 9a is the rows all tables gained per run, 9b those of ``analysis_results``, each
against the copy-everything model (its peer) where every run stores one row per issue of
the repository; the ratio is the share of that model's growth ours takes. The notes give
each table's rows per run (mean, most in one run); the JSON's details give every table's
counts. Each run is checked to have analysed exactly the file it changed, and the issues
to be those the edits leave, so that a figure of a run that did nothing is never shown.
"""

from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from adapters.code_index import VectorCodeIndex
from adapters.embedders.hashing import HashingEmbedder
from adapters.exact_neighbours import ExactNeighbours
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.pool import PoolSettings
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from adapters.postgres.vectors import PgVectorStore
from adapters.runtime import LocalLiveness
from adapters.source import FileAnalyzer, GitSourceReader
from application.indexing import IndexReport, index_repository
from ports.vectors import VectorStore
from tests.perf.context import Context
from tests.perf.harness import Result
from tests.servers import scratch_database

if TYPE_CHECKING:
    from adapters.qdrant.edge import QdrantEdgeVectorStore

__all__ = ["COUNTED", "Growth", "Repository", "count_rows", "storage_rows"]

FILES = {"tiny": 40, "quick": 459, "full": 2_000}
"""Files of the repository, per size (the quick size's unless named here)."""
RUNS = {"tiny": 5, "quick": 100, "full": 300}
"""Incremental runs, each changing one file, per size."""
SHORT_FUNCTIONS = 6  # each with one marker (TODO or FIXME), too short to be a duplicate
STEP = 37  # run i edits file (i * STEP) % files: prime, so the runs touch distinct files
DIMENSION = 384  # the configuration's default embedding dimension
POOL = PoolSettings(min_size=1, max_size=4, role="codeant_app")
PEER = "copy-everything: one row per issue per run"
COUNTED = (
    "analysis_results", "code_metrics", "file_history", "issues", "issue_changes",
    "analysis_measures", "analysis_gates", "audit_log", "analysis_jobs",
)  # fmt: skip
"""The tables the notes name (every table of the schema is counted)."""
COMMIT_DATE = "2024-03-04T05:06:07+00:00"
_GIT = ["git", "-c", "user.name=Benchmark", "-c", "user.email=bench@example.com"]
AUDIT_SINCE = """
SELECT entity, action, count(*) FROM audit_log WHERE id > %s
GROUP BY entity, action ORDER BY count(*) DESC, entity, action
"""
_TABLES = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'
ORDER BY n.nspname, c.relname
"""


def _module(n: int) -> list[str]:
    """The lines of generated module ``n``: ten issues (six short functions with a marker
    each, one function of seven parameters and complexity 13 with two markers)."""
    lines = [
        f'"""Generated module {n}: the ledger of shard {n}."""',
        "",
        "VERSION = 1",
        f'NAME = "module_{n}"',
        "",
    ]
    for f in range(SHORT_FUNCTIONS):
        marker = "TODO" if f % 2 == 0 else "FIXME"
        lines += [
            "",
            f"def step_{n}_{f}(value, limit):",
            f"    # {marker}: check the limit of step {n}.{f} before use",
            f"    return min(value + {n * 10 + f}, limit)",
            "",
        ]
    lines += ["", f"def dispatch_{n}(a, b, c, d, e, f, g):", "    # HACK: one branch per code"]
    lines += ["    result = 0"]
    for k in range(12):
        lines += [f"    if a == {k + n}:", f"        result += b * {k + 1}"]
    lines += ["    # XXX: the fallback ignores g", "    return result + c + d + e + f + g", ""]
    return lines


class Repository:
    """A generated git repository of ``files`` modules, committed once, and the one-line
    edits of the runs that follow."""

    def __init__(self, root: Path, files: int) -> None:
        self.root = root
        self.files = files
        self.modules = [_module(n) for n in range(files)]
        self._env = {
            **os.environ, "GIT_AUTHOR_DATE": COMMIT_DATE, "GIT_COMMITTER_DATE": COMMIT_DATE,
            "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
        }  # fmt: skip
        root.mkdir(parents=True)
        for n in range(files):
            self._write(n)
        self._git("init", "--quiet", "--initial-branch", "main")
        self._git("add", "--all")
        self._git("commit", "--quiet", "--message", "generated")

    def path(self, n: int) -> str:
        return f"pkg{n % 20:02d}/module_{n}.py"

    def _write(self, n: int) -> None:
        target = self.root / self.path(n)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(self.modules[n]) + "\n", encoding="utf-8")

    def _git(self, *args: str) -> None:
        subprocess.run([*_GIT, *args], cwd=self.root, env=self._env, check=True,
                       capture_output=True)  # fmt: skip

    def edit(self, run: int) -> tuple[str, int]:
        """Edit one line of one file for run ``run`` (from 0) and commit it; returns the
        file's path and what the edit does to the open issues (-1, 0 or +1)."""
        n = (run * STEP) % self.files
        lines = self.modules[n]
        kind = run % 3
        if kind == 0:  # a line with no issue: the version bumped
            at, text, delta = 2, f"VERSION = {run + 2}", 0
        elif kind == 1:  # the first TODO done: its marker gone, its issue closed
            at = next(i for i, line in enumerate(lines) if "# TODO:" in line)
            text, delta = lines[at].replace("# TODO:", "# done:"), -1
        else:  # a new TODO on the name's line: an issue found
            at, text, delta = 3, f'NAME = "module_{n}"  # TODO: a better name', +1
        if lines[at] == text:
            raise RuntimeError(f"run {run} would not change {self.path(n)}")
        lines[at] = text
        self._write(n)
        self._git("commit", "--quiet", "--all", "--message", f"run {run}")
        return self.path(n), delta


def count_rows(url: str) -> dict[str, int]:
    """The rows of every table of the database (partitions counted in their parent), as
    the connection of ``url`` sees them: give the owner's, in the system scope."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(_TABLES).fetchall()
        counts: dict[str, int] = {}
        for schema, table in tables:
            name = table if schema == "public" else f"{schema}.{table}"
            query = sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            row = conn.execute(query).fetchone()
            counts[name] = int(row[0]) if row else 0
    return counts


def _has_pgvector(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'"
        ).fetchone()
    return row is not None and row[0] > 0


def _per_run(counts: Sequence[dict[str, int]]) -> dict[str, list[int]]:
    """Each table's rows added by each run (counts[0] is the state after the first index)."""
    tables = sorted(set().union(*counts))
    return {
        t: [after.get(t, 0) - before.get(t, 0) for before, after in itertools.pairwise(counts)]
        for t in tables
    }


@attrs.frozen(kw_only=True)
class Growth:
    """What the first index and the runs stored: the rows of every table after the first
    index and after the runs, the rows each run added to each table, the audit entries the
    runs wrote (per entity and action, a mean per run), and the timings."""

    files: int
    runs: int
    issues: int  # the issues of the repository after the first index
    open_after: int  # open issues after the runs (checked against the edits)
    vectors: str = ""
    after_first: dict[str, int]
    after_runs: dict[str, int]
    added: dict[str, list[int]]
    audit_per_run: dict[str, float]
    build_s: float
    first_index_s: float
    run_s: list[float]

    def mean(self) -> dict[str, float]:
        """Each table's rows added per run, on average."""
        return {t: sum(v) / self.runs for t, v in self.added.items()}

    def details(self) -> dict[str, object]:
        """The JSON report's details: every figure, the tables that did not grow left out
        of the per-run lists."""
        mean = self.mean()
        return {
            "files": self.files, "runs": self.runs, "issues": self.issues,
            "open_after": self.open_after, "vectors": self.vectors,
            "rows_after_first_index": self.after_first, "rows_after_runs": self.after_runs,
            "rows_per_run": mean, "rows_per_run_total": sum(mean.values()),
            "rows_per_run_max": {t: max(v) for t, v in self.added.items()},
            "rows_added_by_run": {t: v for t, v in self.added.items() if any(v)},
            "audit_entries_per_run": self.audit_per_run, "build_s": self.build_s,
            "first_index_s": self.first_index_s, "run_s": self.run_s,
            "run_s_median": statistics.median(self.run_s),
        }  # fmt: skip


async def _measure(url: str, files: int, runs: int) -> Growth:
    """Index a generated repository once, then ``runs`` times after a one-line edit, in
    the scratch database of ``url``."""
    system = make_conninfo(url, options="-c codeant.scope=system")
    database = PostgresDatabase(url=system, pool=POOL)
    await database.pool()  # migrates the scratch database
    try:
        with tempfile.TemporaryDirectory(prefix="codeant-storage-") as scratch:
            edge: QdrantEdgeVectorStore | None = None
            store: VectorStore
            if _has_pgvector(system):
                store, vectors = PgVectorStore(database), "pgvector (counted)"
            else:  # as ``codeant index`` runs where the server lacks pgvector
                from adapters.qdrant.edge import QdrantEdgeVectorStore

                store = edge = QdrantEdgeVectorStore(path=Path(scratch) / "qdrant")
                vectors = "qdrant-edge (outside PostgreSQL: not counted)"
            try:
                got = await _index_runs(
                    database, system, store, Path(scratch) / "ledger", files, runs
                )
            finally:
                if edge is not None:
                    await edge.aclose()
    finally:
        await database.close()
    return attrs.evolve(got, vectors=vectors)


async def _index_runs(
    database: PostgresDatabase, system: str, store: VectorStore, root: Path, files: int, runs: int
) -> Growth:
    """The first index and the runs (see :func:`_measure`); ``system`` is the database's
    URL in the system scope, where the rows are counted."""
    reader, analyzer = GitSourceReader(), FileAnalyzer()
    embedder, neighbours = HashingEmbedder(dimension=DIMENSION), ExactNeighbours()
    liveness, code_index = LocalLiveness(), VectorCodeIndex(store)
    started = time.perf_counter()
    repo = Repository(root, files)
    built = time.perf_counter() - started

    async def index() -> tuple[IndexReport, float]:
        began = time.perf_counter()
        report = await index_repository(
            PostgresUnitOfWork(database, system=True), reader, analyzer, embedder, code_index,
            str(repo.root), organization_slug="bench", liveness=liveness,
            neighbours=neighbours, workers=os.cpu_count() or 1,
        )  # fmt: skip
        return report, time.perf_counter() - began

    first, first_s = await index()
    if first.analyzed != files or first.job_id is None:
        raise RuntimeError(f"the first index analysed {first.analyzed} of {files} files")
    counts = [count_rows(system)]
    with psycopg.connect(system, autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()
    audit_mark = int(row[0]) if row else 0
    expected_open = first.issues_new
    run_s: list[float] = []
    for run in range(runs):
        path, delta = repo.edit(run)
        report, seconds = await index()
        run_s.append(seconds)
        expected_open += delta
        if report.job_id is None or (report.analyzed, report.modified) != (1, 1):
            raise RuntimeError(
                f"run {run} (one line of {path} edited) analysed {report.analyzed} files,"
                f" {report.modified} modified; expected 1 and 1"
            )
        if (report.issues_new, report.issues_closed) != (max(delta, 0), max(-delta, 0)):
            raise RuntimeError(
                f"run {run} on {path}: {report.issues_new} new and {report.issues_closed}"
                f" closed issues; the edit makes {delta:+d}"
            )
        counts.append(count_rows(system))
    with psycopg.connect(system, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM issues WHERE closed_at IS NULL").fetchone()
        audit = conn.execute(AUDIT_SINCE, (audit_mark,)).fetchall()
    still_open = int(row[0]) if row else 0
    if still_open != expected_open:
        raise RuntimeError(f"{still_open} open issues, the edits leave {expected_open}")
    return Growth(
        files=files, runs=runs, issues=counts[0]["issues"], open_after=still_open,
        after_first=counts[0], after_runs=counts[-1], added=_per_run(counts),
        audit_per_run={f"{entity} {action}": n / runs for entity, action, n in audit},
        build_s=built, first_index_s=first_s, run_s=run_s,
    )  # fmt: skip


async def storage_rows(ctx: Context) -> list[Result]:
    """9a (every table) and 9b (analysis_results): rows added per incremental run against
    the copy-everything model's one row per issue."""
    name = ctx.sizes.name
    files = FILES.get(name, FILES["quick"])
    runs = RUNS.get(name, RUNS["quick"])
    title = f"storage: rows added per incremental run (1 of {files} files changed, {runs} runs)"
    if not ctx.server_url:
        return [Result(row="9a", name=title, unit="rows/run", ours=None, skipped="no server URL")]
    with scratch_database(ctx.server_url, prefix="codeant_storage") as url:
        got = await _measure(url, files, runs)
    ctx.details["storage"] = got.details()
    mean = got.mean()
    shown = ", ".join(
        f"{t} {mean.get(t, 0.0):.2f} (max {max(got.added.get(t, [0]))})" for t in COUNTED
    )
    others = ", ".join(f"{t} {m:.2f}" for t, m in mean.items() if m and t not in COUNTED)
    audited = ", ".join(f"{what} {n:.2f}" for what, n in got.audit_per_run.items())
    common = (
        f"{files} files, {got.issues:,} issues after the first index"
        f" ({got.first_index_s:.1f} s); {runs} runs of one edited line each, median"
        f" {statistics.median(got.run_s):.2f} s a run"
    )
    return [
        Result(
            row="9a", name=f"{title}, every table", unit="rows/run", ours=sum(mean.values()),
            peer=float(got.issues), peer_name=PEER,
            notes=f"{common}; rows per run (mean, most in a run): {shown}; other tables"
                  f" that grew: {others or 'none'}; audit entries per run: {audited};"
                  f" vectors: {got.vectors}",
        ),
        Result(
            row="9b", name=f"{title}, analysis_results", unit="rows/run",
            ours=mean.get("analysis_results", 0.0), peer=float(got.issues), peer_name=PEER,
            notes=f"{common}; a run stores the results of the file it changed:"
                  f" {got.issues / files:.1f} issues a file on average",
        ),
    ]  # fmt: skip
