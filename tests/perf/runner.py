"""One benchmark run: its servers and scratch database, every row, the report."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.pool import PoolSettings
from tests.perf.context import Context
from tests.perf.data import seed_fixture
from tests.perf.harness import Result, Sizes, report
from tests.perf.mainjob import main_job_rows
from tests.perf.relational import relational_rows
from tests.perf.services import cache_rows, concurrency_rows
from tests.perf.storage import storage_rows
from tests.perf.tracking import tracking_rows
from tests.perf.vectors import vector_rows
from tests.servers import postgres_server, redis_server, scratch_database

__all__ = ["GROUPS", "POOL", "run"]

# as the application works: as its role, under row-level security
POOL = PoolSettings(min_size=2, max_size=10, role="codeant_app")
PROJECTS = 200  # the projects the cache and concurrency rows read


def machine() -> dict[str, Any]:
    """The machine the figures were measured on."""
    cpu = "unknown"
    memory = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    blas: Any = None
    try:
        from threadpoolctl import threadpool_info

        blas = [
            {k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for i in threadpool_info()
        ]
    except ImportError:
        pass
    return {
        "cores": os.cpu_count(), "cpu": cpu, "memory": memory, "python": sys.version.split()[0],
        "platform": platform.platform(), "blas": blas,
        "openblas_env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
    }  # fmt: skip


def _server_versions(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        vector = conn.execute(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
        ).fetchone()
    return {
        "postgresql": version[0] if version else None,
        "pgvector": vector[0] if vector else None,
    }


GROUPS = ("relational", "vectors", "cache", "concurrency", "main", "tracking", "storage")
"""The groups of rows a run may be limited to (``--only``)."""


async def run(
    sizes: Sizes,
    *,
    database_url: str | None = None,
    command: str = "",
    only: tuple[str, ...] = GROUPS,
) -> tuple[list[Result], dict[str, Any]]:
    """Run every row at ``sizes`` on a scratch database of ``database_url``'s server (else
    the test server: CODEANT_TEST_DATABASE_URL or an embedded PostgreSQL 18); returns the
    rows and the JSON report. ``only`` limits the run to some groups of rows."""
    stop_server: Callable[[], None]
    if database_url:
        server_url, stop_server = database_url, _nothing
    else:
        server_url, stop_server = postgres_server()
    try:
        with scratch_database(server_url, prefix="codeant_perf") as url:
            return await _run_on(sizes, url, command, server_url, only)
    finally:
        stop_server()


def _nothing() -> None:
    """Stop nothing: the server was given, not started."""


async def _run_on(
    sizes: Sizes, url: str, command: str, server_url: str, only: tuple[str, ...]
) -> tuple[list[Result], dict[str, Any]]:
    # every session, ours and the peers', in the system scope of row-level security, so
    # that the raw baselines on the application's role see the rows the units see
    url = make_conninfo(url, options="-c codeant.scope=system")
    database = PostgresDatabase(url=url, pool=POOL)
    ctx = Context(sizes=sizes, url=url, database=database, server_url=server_url)
    await database.pool()  # migrates the scratch database first
    try:
        from tests.perf.peer import OrmPeer

        ctx.peer = OrmPeer(url)
    except ImportError as exc:
        ctx.peer_missing = f"SQLAlchemy 2 is not installed ({exc}): pip install 'sqlalchemy>=2'"
    stop_redis = None
    try:
        ctx.redis_url, stop_redis = redis_server()
    except Exception as exc:  # no Redis to be had: the cache row says why
        ctx.redis_missing = f"no Redis server: {exc}"
    try:
        fixture = await seed_fixture(ctx.uow, PROJECTS)
        ctx.details["organization_id"] = fixture.organization_id
        ctx.details["project_slugs"] = list(fixture.slugs)
        projects = list(fixture.project_ids)
        results: list[Result] = []
        if "relational" in only:
            results += await relational_rows(ctx, projects)
        if "vectors" in only:
            results += await vector_rows(ctx)
        if "cache" in only:
            results += await cache_rows(ctx, projects)
        if "concurrency" in only:
            results += await concurrency_rows(ctx, projects)
        if "main" in only:
            results += await main_job_rows(ctx)
        if "tracking" in only:
            results += await tracking_rows(ctx)
        if "storage" in only:
            results += await storage_rows(ctx)
        results.sort(key=lambda r: r.row)
    finally:
        await database.close()
        if ctx.peer is not None:
            ctx.peer.close()
        if stop_redis is not None:
            stop_redis()
    details = {k: v for k, v in ctx.details.items() if k not in ("project_slugs",)}
    meta = {
        "command": command, "size": sizes.name, "sizes": {
            "files": sizes.files, "results": sizes.results, "vectors": sizes.vectors,
            "qdrant_max": sizes.qdrant_max, "queries": sizes.queries,
            "main_files": sizes.main_files, "main_rounds": sizes.main_rounds,
        },
        "machine": machine(), "server": _server_versions(url), "pool": {
            "min_size": POOL.min_size, "max_size": POOL.max_size}, "details": details,
    }  # fmt: skip
    return results, report(results, meta)
