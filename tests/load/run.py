"""The load test: many concurrent operations through the application services on a real
PostgreSQL, checked for errors and lost updates, with latency and pool utilisation.

    python -m tests.load.run --operations 10000 --concurrency 1000 --pool-size 20

The server is ``--database-url``, else ``$CODEANT_TEST_DATABASE_URL``, else an embedded
PostgreSQL started for the run; the test works in a scratch database dropped afterwards.
The mix, by operation number modulo 10: create a project (0); increment one of
``--counters`` shared counters, read and written in one unit of work and retried on
ConcurrencyError (1, 2); rename one of those same few projects with ``update_project``
under ``with_retry`` (3); record a file snapshot of the repository of one of them under
``with_retry`` (4); read a project (5, 6, 7); build its report (8); list projects (9).
A counter ends at exactly the number of its increments, or updates were lost. The exit
status is 1 on any error or lost update.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypedDict

import attrs

from adapters.postgres import MigrationRunner, PostgresUnitOfWork
from adapters.postgres.pool import PoolSettings, open_pool
from application import (
    create_project,
    get_project,
    list_projects,
    project_report,
    record_file_snapshot,
    register_organization,
    register_repository,
    update_project,
    with_retry,
)
from domain.files import FileIndex
from domain.ids import ProjectId, RepositoryId
from domain.projects import Project
from tests.servers import postgres_server, scratch_database

__all__ = ["LoadReport", "main", "run_load"]

_SUMMARY = "Concurrent operations through the application services; errors, lost updates."


class _RetrySettings(TypedDict):
    """The keyword arguments of :func:`with_retry` the load gives."""

    attempts: int
    base_delay: float
    max_delay: float


_RETRY: _RetrySettings = {"attempts": 50, "base_delay": 0.005, "max_delay": 0.2}


@attrs.define(kw_only=True)
class LoadReport:
    """The figures of one run."""

    operations: int
    concurrency: int
    pool_size: int
    errors: int = 0
    error_samples: list[str] = attrs.Factory(list)
    lost_updates: int = 0
    retries: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    throughput_per_s: float = 0.0
    seconds: float = 0.0
    max_pool_in_use: int = 0
    max_pool_waiting: int = 0
    by_kind: dict[str, int] = attrs.Factory(dict)

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.lost_updates == 0

    def table(self) -> str:
        rows = [
            ("operations", self.operations),
            ("concurrency", self.concurrency),
            ("pool size", self.pool_size),
            ("errors", self.errors),
            ("lost updates", self.lost_updates),
            ("retries (ConcurrencyError)", self.retries),
            ("latency p50 (ms)", f"{self.p50_ms:.1f}"),
            ("latency p95 (ms)", f"{self.p95_ms:.1f}"),
            ("throughput (ops/s)", f"{self.throughput_per_s:.0f}"),
            ("wall time (s)", f"{self.seconds:.1f}"),
            ("max pool connections in use", f"{self.max_pool_in_use} of {self.pool_size}"),
            ("max requests waiting for the pool", self.max_pool_waiting),
        ]
        rows += [(f"  {kind}", count) for kind, count in sorted(self.by_kind.items())]
        return "\n".join(f"{name:<36} {value}" for name, value in rows)


def _files(repository_id: RepositoryId, generation: int) -> list[FileIndex]:
    now = dt.datetime.now(dt.UTC)
    return [
        FileIndex(
            repository_id=repository_id,
            relative_path=f"src/module_{n}.py",
            absolute_path=f"/srv/load/src/module_{n}.py",
            size_bytes=100 + n,
            file_hash=hashlib.sha256(f"{n}:{generation}".encode()).hexdigest(),
            last_modified=now,
        )
        for n in range(5)
    ]


async def _increment(uow: PostgresUnitOfWork, project_id: ProjectId) -> Project:
    """Add one to the project's ``metadata.total_files``: read and written in one unit, so a
    concurrent increment makes the optimistic update fail (and the caller retry)."""
    async with uow:
        project = await _read_counter(uow, project_id)
        metadata = attrs.evolve(project.metadata, total_files=project.metadata.total_files + 1)
        updated = await uow.projects.update(attrs.evolve(project, metadata=metadata))
        await uow.commit()
    return updated


async def _read_counter(uow: PostgresUnitOfWork, project_id: ProjectId) -> Project:
    """The counter project, read inside the caller's unit of work."""
    project = await uow.projects.find_by_id(project_id)
    if project is None:
        raise LookupError(f"counter project {project_id} vanished")
    return project


async def run_load(
    url: str, *, operations: int, concurrency: int, pool_size: int, counters: int = 5
) -> LoadReport:
    """Run the load against the migrated database at ``url`` and return its figures."""
    report = LoadReport(operations=operations, concurrency=concurrency, pool_size=pool_size)
    settings = PoolSettings(min_size=pool_size, max_size=pool_size, timeout=300.0)
    async with open_pool(url, settings) as pool:

        def uow() -> PostgresUnitOfWork:
            return PostgresUnitOfWork(pool, system=True)

        org = await register_organization(uow(), name="Load", slug="load-org")
        shared = [
            await create_project(
                uow(),
                org.id,
                name=f"Counter {k}",
                slug=f"counter-{k}",
                repository_url=f"https://example.invalid/counter-{k}.git",
            )
            for k in range(counters)
        ]
        repositories = [
            await register_repository(
                uow(),
                project.id,
                local_path=f"/srv/load/{project.slug}",
                remote_url=f"https://example.invalid/{project.slug}.git",
                default_branch="main",
            )
            for project in shared
        ]
        expected = [0] * counters
        latencies: list[float] = []
        attempts = 0

        def counted(operation: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
            async def attempt() -> Any:
                nonlocal attempts
                attempts += 1
                return await operation()

            return attempt

        async def one(i: int) -> str:
            slot = (i // 10) % counters  # spread each kind over all the shared projects
            target = shared[slot]
            kind = i % 10
            if kind == 0:
                await create_project(
                    uow(),
                    org.id,
                    name=f"Project {i}",
                    slug=f"project-{i}",
                    repository_url=f"https://example.invalid/p{i}.git",
                )
                return "create project"
            if kind in (1, 2):
                await with_retry(counted(lambda: _increment(uow(), target.id)), **_RETRY)
                expected[slot] += 1
                return "increment counter (retried)"
            if kind == 3:
                await with_retry(
                    counted(lambda: update_project(uow(), target.id, description=f"rev {i}")),
                    **_RETRY,
                )
                return "update_project (retried)"
            if kind == 4:
                repository = repositories[slot]
                files = _files(repository.id, i)
                await with_retry(
                    counted(lambda: record_file_snapshot(uow(), repository.id, files)), **_RETRY
                )
                return "record_file_snapshot (retried)"
            if kind == 8:
                await project_report(uow(), target.id)
                return "project_report"
            if kind == 9:
                await list_projects(uow(), org.id)
                return "list_projects"
            await get_project(uow(), target.id)
            return "get_project"

        pending = iter(range(operations))

        async def worker() -> None:
            for i in pending:
                started = time.perf_counter()
                try:
                    kind = await one(i)
                except Exception as exc:
                    report.errors += 1
                    if len(report.error_samples) < 10:
                        report.error_samples.append(f"operation {i}: {type(exc).__name__}: {exc}")
                    continue
                latencies.append(time.perf_counter() - started)
                report.by_kind[kind] = report.by_kind.get(kind, 0) + 1

        done = asyncio.Event()

        async def sample() -> None:
            while not done.is_set():
                stats = pool.get_stats()
                in_use = stats.get("pool_size", 0) - stats.get("pool_available", 0)
                report.max_pool_in_use = max(report.max_pool_in_use, in_use)
                waiting = stats.get("requests_waiting", 0)
                report.max_pool_waiting = max(report.max_pool_waiting, waiting)
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(sample())
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        report.seconds = time.perf_counter() - started
        done.set()
        await sampler

        for k, project in enumerate(shared):
            final = await get_project(uow(), project.id)
            if final.metadata.total_files != expected[k]:
                report.lost_updates += expected[k] - final.metadata.total_files
    increments = sum(report.by_kind.get(k, 0) for k in report.by_kind if "retried" in k)
    report.retries = attempts - increments
    if latencies:
        ordered = sorted(latencies)
        report.p50_ms = statistics.median(ordered) * 1000
        report.p95_ms = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000
    report.throughput_per_s = operations / report.seconds if report.seconds else 0.0
    return report


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.load.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--operations", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=1_000)
    parser.add_argument("--pool-size", type=int, default=20)
    parser.add_argument("--counters", type=int, default=5, help="shared counter projects")
    parser.add_argument("--database-url", help="server (default: $CODEANT_TEST_DATABASE_URL)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures as JSON")
    args = parser.parse_args(argv)
    for name in ("operations", "concurrency", "pool_size", "counters"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the load test; exit status 0 when there was no error and no lost update."""
    args = _arguments(argv)
    if args.database_url:
        os.environ["CODEANT_TEST_DATABASE_URL"] = args.database_url
    server_url, stop = postgres_server()
    try:
        with scratch_database(server_url, prefix="codeant_load") as url:
            MigrationRunner(url).upgrade()
            report = asyncio.run(
                run_load(
                    url,
                    operations=args.operations,
                    concurrency=args.concurrency,
                    pool_size=args.pool_size,
                    counters=args.counters,
                )
            )
    finally:
        stop()
    print(report.table())
    for sample in report.error_samples:
        print(sample, file=sys.stderr)
    if args.json:
        body = {**attrs.asdict(report), "ok": report.ok}
        args.json.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
