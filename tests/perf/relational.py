"""Rows 1 to 3: inserts and bulk ingest, simple and complex queries, full-text search."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

import attrs
import psycopg

from adapters.postgres.files import FILE_COLUMNS, _copy_row
from domain.enums import MetricType
from domain.ids import FileId, RepositoryId
from tests.perf import data
from tests.perf.context import Context
from tests.perf.harness import Result, latencies, percentiles

__all__ = ["relational_rows"]

COPY_FILES = f"COPY file_index ({', '.join(FILE_COLUMNS)}) FROM STDIN"
COPY_RESULTS_RAW = (
    "COPY analysis_results (id, job_id, file_id, rule_id, severity, category, title,"
    " description, line_start, line_end, column_start, column_end, suggestion, confidence,"
    " metadata, created_at) FROM STDIN"
)
SEARCH_TERMS = ("parser", "http client", "json", "test", "async", "module", "tokenize", "xml")
PEER = "SQLAlchemy 2 ORM"


async def _repository(ctx: Context, project_id: Any, name: str) -> RepositoryId:
    async with ctx.uow() as uow:
        repo = await uow.repositories.create(data.new_repository(project_id, name))
        await uow.commit()
    return repo.id


async def relational_rows(ctx: Context, project_ids: list[Any]) -> list[Result]:
    sizes = ctx.sizes
    out: list[Result] = []
    main_project = project_ids[0]

    # ---- 1a: one record per unit of work
    single_repo = await _repository(ctx, main_project, "single")
    singles = data.file_entities(single_repo, sizes.inserts)

    async def insert(i: int) -> None:
        async with ctx.uow() as uow:
            await uow.files.create(singles[i])
            await uow.commit()

    ours = percentiles(await latencies(insert, sizes.inserts))
    peer: tuple[float, float] | None = None
    if ctx.peer is not None:
        peer = percentiles(
            await asyncio.to_thread(ctx.peer.insert_latencies, singles, uuid.uuid4())
        )
    for index, label, row in ((0, "p50", "1a"), (1, "p95", "1b")):
        out.append(Result(
            row=row, name=f"insert one file per unit of work, {label}", unit="ms",
            ours=ours[index], peer=None if peer is None else peer[index], peer_name=PEER,
            target=("<", 10.0), skipped=None if peer else ctx.peer_missing,
        ))  # fmt: skip

    # ---- 1c/1d: bulk ingest
    bulk_repo = await _repository(ctx, main_project, "bulk")
    files = data.file_entities(bulk_repo, sizes.files)
    start = time.perf_counter()
    async with ctx.uow() as uow:
        await uow.files.upsert_snapshot(bulk_repo, files)
        await uow.commit()
    ours_rate = len(files) / (time.perf_counter() - start)
    peer_rate = None
    if ctx.peer is not None:
        peer_rate = len(files) / await asyncio.to_thread(ctx.peer.bulk_ingest, files, bulk_repo)
    out.append(Result(
        row="1c", name="bulk ingest of file rows (upsert_snapshot)", unit="rows/s",
        ours=ours_rate, peer=peer_rate, peer_name=PEER,
        skipped=None if ctx.peer else ctx.peer_missing,
    ))  # fmt: skip
    limit_repo = await _repository(ctx, main_project, "limit")
    raw = [
        _copy_row(attrs.evolve(f, id=FileId(uuid.uuid4()), repository_id=limit_repo)) for f in files
    ]
    async with await psycopg.AsyncConnection.connect(ctx.url) as conn:
        start = time.perf_counter()
        async with conn.cursor() as cur, cur.copy(COPY_FILES) as copy:
            for record in raw:
                await copy.write_row(record)
        await conn.commit()
        copy_rate = len(raw) / (time.perf_counter() - start)
    out.append(Result(
        row="1d", name="bulk ingest of file rows (upsert_snapshot)", unit="rows/s",
        ours=ours_rate, peer=copy_rate, peer_name="raw psycopg COPY (the limit)",
    ))  # fmt: skip

    # ---- data for the queries: completed jobs, results and metrics of the main project
    file_ids = [f.id for f in files]
    jobs = await data.completed_jobs(ctx.uow, main_project, 10)
    results = data.result_rows(jobs, file_ids, sizes.results)
    async with await psycopg.AsyncConnection.connect(ctx.url) as conn:
        start = time.perf_counter()
        async with conn.cursor() as cur, cur.copy(COPY_RESULTS_RAW) as copy:
            for record in results:
                await copy.write_row(record)
        await conn.commit()
        results_rate = len(results) / (time.perf_counter() - start)
        metric_files = file_ids[: max(1, sizes.results // len(data.METRIC_NAMES))]
        await data.copy_metrics(conn, jobs[-1].id, metric_files)
        analysed = [(r[1], r[2]) for r in results] + [(jobs[-1].id, f) for f in metric_files]
        await data.copy_history(conn, analysed, "bench/file.py")
        await conn.execute("ANALYZE")
        await conn.commit()
    ctx.details["results_copy_rows_per_s"] = results_rate

    # ---- 2: simple queries, a unit of work each (what a service does)
    rng = random.Random(5)
    picks = [rng.randrange(len(files)) for _ in range(sizes.queries)]
    fixture_slugs = ctx.details["project_slugs"]
    organization_id = ctx.details["organization_id"]

    async def by_id(i: int) -> None:
        async with ctx.uow() as uow:
            assert await uow.projects.find_by_id(project_ids[i % len(project_ids)]) is not None

    async def by_slug(i: int) -> None:
        async with ctx.uow() as uow:
            slug = fixture_slugs[i % len(fixture_slugs)]
            assert await uow.projects.find_by_slug(organization_id, slug) is not None

    async def by_path(i: int) -> None:
        async with ctx.uow() as uow:
            assert await uow.files.find_by_path(bulk_repo, files[picks[i]].relative_path)

    peer_path = None
    if ctx.peer is not None:
        peer_path = percentiles(await asyncio.to_thread(
            ctx.peer.path_latencies, bulk_repo, [files[p].relative_path for p in picks]
        ))  # fmt: skip
    for row, name, call, peer_figures in (
        ("2a", "project find_by_id", by_id, None),
        ("2b", "project find_by_slug", by_slug, None),
        ("2c", "file find_by_path", by_path, peer_path),
    ):
        p50, p95 = percentiles(await latencies(call, sizes.queries))
        out.append(Result(
            row=row, name=f"{name} p95 (p50 {p50:.2f} ms)", unit="ms", ours=p95,
            peer=None if peer_figures is None else peer_figures[1],
            peer_name=PEER if peer_figures is not None else None, target=("<", 50.0),
        ))  # fmt: skip

    async def summary(i: int) -> None:
        async with ctx.uow() as uow:
            assert (await uow.analysis.issues_summary(main_project)).rows

    async def aggregate(i: int) -> None:
        async with ctx.uow() as uow:
            assert await uow.analysis.aggregate_metrics(main_project, MetricType.COMPLEXITY)

    complex_runs = max(3, sizes.queries // 10)
    for row, name, call in (("2d", "issues_summary (30 days)", summary),
                            ("2e", "aggregate_metrics", aggregate)):  # fmt: skip
        p50, p95 = percentiles(await latencies(call, complex_runs))
        out.append(Result(
            row=row, name=f"{name} over {sizes.results:,} results, p95 (p50 {p50:.1f} ms)",
            unit="ms", ours=p95, target=("<", 200.0),
        ))  # fmt: skip

    # ---- 3: full-text search
    async def search(i: int) -> None:
        async with ctx.uow() as uow:
            await uow.files.search([bulk_repo], SEARCH_TERMS[i % len(SEARCH_TERMS)])

    p50, p95 = percentiles(await latencies(search, sizes.queries))
    out.append(Result(
        row="3", name=f"file search over {sizes.files:,} rows, p95 (p50 {p50:.1f} ms)",
        unit="ms", ours=p95, target=("<", 100.0),
    ))  # fmt: skip
    return out
