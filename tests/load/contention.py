"""Counters under contention: the two ways to change a project from what it holds, side
by side, on a real PostgreSQL.

    python -m tests.load.contention --increments 1000 --projects 5 --pool-size 20

Every increment adds one to ``metadata.total_files`` of one of ``--projects`` projects,
all of them at once, each under ``with_retry`` with its default attempts:

* ``read-then-update``: ``get_project``, then ``update_project(...,
  expected_updated_at=...)`` in a second unit of work (optimistic: a change in between
  is a ConcurrencyError, and the retry reads again);
* ``modify_project``: one unit that reads the project under its row lock and writes the
  change computed from it.

For each it prints the calls that succeeded, the attempts they took, the counters' stored
total against the successes (a difference is a lost update) and the wall time. The server
is ``--database-url``, else ``$CODEANT_TEST_DATABASE_URL``, else an embedded PostgreSQL
started for the run; it works in a scratch database dropped afterwards. The exit status is
1 if an update was lost, or if fewer than 99 % of the ``modify_project`` calls succeeded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from adapters.postgres import MigrationRunner, PostgresUnitOfWork
from adapters.postgres.pool import PoolSettings, open_pool
from application import (
    ProjectChanges,
    create_project,
    get_project,
    modify_project,
    register_organization,
    update_project,
    with_retry,
)
from domain.ids import ProjectId, new_id
from domain.projects import Project
from tests.servers import postgres_server, scratch_database

__all__ = ["PATTERNS", "ContentionReport", "main", "run_contention"]


@attrs.frozen(kw_only=True)
class ContentionReport:
    """The figures of one pattern."""

    pattern: str
    calls: int
    succeeded: int
    attempts: int
    stored_total: int
    seconds: float

    @property
    def lost_updates(self) -> int:
        return self.succeeded - self.stored_total

    def row(self) -> str:
        return (
            f"{self.pattern:<18} {self.succeeded:>6} of {self.calls:<6} {self.attempts:>8}"
            f" {self.stored_total:>8} {self.lost_updates:>5} {self.seconds:>8.1f}"
        )


HEADER = (
    f"{'PATTERN':<18} {'SUCCEEDED':>16} {'ATTEMPTS':>8} {'STORED':>8} {'LOST':>5} {'SECONDS':>8}"
)


def _count_one(project: Project) -> ProjectChanges:
    metadata = project.metadata
    return ProjectChanges(metadata=attrs.evolve(metadata, total_files=metadata.total_files + 1))


Unit = Callable[[], PostgresUnitOfWork]


async def _read_then_update(unit: Unit, project_id: ProjectId) -> Project:
    read = await get_project(unit(), project_id)
    metadata = _count_one(read).metadata
    return await update_project(
        unit(), project_id, metadata=metadata, expected_updated_at=read.updated_at
    )


async def _modify(unit: Unit, project_id: ProjectId) -> Project:
    return await modify_project(unit(), project_id, _count_one)


PATTERNS: dict[str, Callable[[Unit, ProjectId], Awaitable[Project]]] = {
    "read-then-update": _read_then_update,
    "modify_project": _modify,
}


async def run_contention(
    url: str, pattern: str, *, increments: int, projects: int, pool_size: int
) -> ContentionReport:
    """Run ``increments`` concurrent increments with ``pattern`` on fresh projects."""
    operation = PATTERNS[pattern]
    settings = PoolSettings(min_size=pool_size, max_size=pool_size, timeout=300.0)
    async with open_pool(url, settings) as pool:

        def unit() -> PostgresUnitOfWork:
            return PostgresUnitOfWork(pool, system=True)

        org = await register_organization(
            unit(), name="Contention", slug=f"contention-{new_id().hex[:12]}"
        )
        targets = [
            (
                await create_project(
                    unit(), org.id, name=f"Counter {k}", slug=f"counter-{k}", repository_url="x"
                )
            ).id
            for k in range(projects)
        ]
        attempts = 0

        def counted(project_id: ProjectId) -> Callable[[], Awaitable[Any]]:
            async def attempt() -> Project:
                nonlocal attempts
                attempts += 1
                return await operation(unit, project_id)

            return attempt

        started = time.perf_counter()
        outcomes = await asyncio.gather(
            *(with_retry(counted(targets[i % projects])) for i in range(increments)),
            return_exceptions=True,
        )
        seconds = time.perf_counter() - started
        stored = [await get_project(unit(), t) for t in targets]
    return ContentionReport(
        pattern=pattern,
        calls=increments,
        succeeded=sum(1 for o in outcomes if isinstance(o, Project)),
        attempts=attempts,
        stored_total=sum(p.metadata.total_files for p in stored),
        seconds=seconds,
    )


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.load.contention", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--increments", type=int, default=1_000)
    parser.add_argument("--projects", type=int, default=5)
    parser.add_argument("--pool-size", type=int, default=20)
    parser.add_argument("--database-url", help="server (default: $CODEANT_TEST_DATABASE_URL)")
    args = parser.parse_args(argv)
    for name in ("increments", "projects", "pool_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run both patterns; exit status 0 when nothing was lost and modify_project met 99 %."""
    args = _arguments(argv)
    if args.database_url:
        os.environ["CODEANT_TEST_DATABASE_URL"] = args.database_url
    server_url, stop = postgres_server()
    reports = []
    try:
        with scratch_database(server_url, prefix="codeant_contention") as url:
            MigrationRunner(url).upgrade()
            print(HEADER)
            for pattern in PATTERNS:
                report = asyncio.run(
                    run_contention(
                        url,
                        pattern,
                        increments=args.increments,
                        projects=args.projects,
                        pool_size=args.pool_size,
                    )
                )
                print(report.row(), flush=True)
                reports.append(report)
    finally:
        stop()
    atomic = next(r for r in reports if r.pattern == "modify_project")
    lost = any(r.lost_updates for r in reports)
    return 1 if lost or atomic.succeeded * 100 < atomic.calls * 99 else 0


if __name__ == "__main__":
    sys.exit(main())
