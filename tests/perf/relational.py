"""Rows 1 to 3: inserts and bulk ingest, point and complex queries, full-text search."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import shutil
import subprocess
import tempfile
import time
import uuid
from typing import Any

import attrs
import psycopg
from psycopg.types.json import Jsonb

from adapters.postgres.files import FILE_COLUMNS, _copy_row
from domain.enums import MetricType
from domain.ids import FileId, RepositoryId
from tests.perf import data
from tests.perf.context import Context
from tests.perf.harness import Result, latencies, percentiles
from tests.perf.points import point_rows

__all__ = ["relational_rows"]

COPY_FILES = f"COPY file_index ({', '.join(FILE_COLUMNS)}) FROM STDIN"
COPY_RESULTS_RAW = (
    "COPY analysis_results (id, job_id, file_id, rule_id, severity, category, title,"
    " description, line_start, line_end, column_start, column_end, suggestion, confidence,"
    " metadata, created_at) FROM STDIN"
)
# the same row as ours, its organization included (as our merge writes it)
PSQL_COPY = f"\\copy file_index ({', '.join(FILE_COLUMNS)}, organization_id) FROM '{{path}}'"
SEARCH_TERMS = ("parser", "http client", "json", "test", "async", "module", "tokenize", "xml")
PEER = "SQLAlchemy 2 ORM"


def _text_field(value: object) -> str:
    """``value`` in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, Jsonb):
        value = json.dumps(value.obj)
    elif isinstance(value, dt.datetime):
        value = value.isoformat()
    text = str(value)
    for char, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        text = text.replace(char, escaped)
    return text


def psql_copy(url: str, rows: list[tuple[object, ...]]) -> tuple[float | None, str | None]:
    """Seconds that ``psql``'s ``\\copy`` takes to load ``rows`` into file_index from a
    file, or None and why it could not run."""
    psql = shutil.which("psql")
    if psql is None:
        return None, "psql is not installed: no \\copy limit to compare with"
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", encoding="utf-8") as out:
        for row in rows:
            out.write("\t".join(_text_field(v) for v in row) + "\n")
        out.flush()
        command = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url,
                   "-c", PSQL_COPY.format(path=out.name)]  # fmt: skip
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        return None, f"psql \\copy failed: {done.stderr.strip()}"
    return seconds, None


async def _repository(ctx: Context, project_id: Any, name: str) -> RepositoryId:
    async with ctx.uow() as uow:
        repo = await uow.repositories.create(data.new_repository(project_id, name))
        await uow.commit()
    return repo.id


async def relational_rows(ctx: Context, project_ids: list[Any]) -> list[Result]:
    sizes = ctx.sizes
    out: list[Result] = []
    main_project = project_ids[0]

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
    async with ctx.uow() as uow:
        project = await uow.projects.find_by_id(main_project)
    assert project is not None
    raw = [
        (
            *_copy_row(attrs.evolve(f, id=FileId(uuid.uuid4()), repository_id=limit_repo)),
            project.organization_id,
        )
        for f in files
    ]
    copy_seconds, why = await asyncio.to_thread(psql_copy, ctx.url, raw)
    out.append(Result(
        row="1d", name="bulk ingest of file rows (upsert_snapshot)", unit="rows/s",
        ours=ours_rate, peer=None if copy_seconds is None else len(raw) / copy_seconds,
        peer_name="psql \\copy of the same rows (the limit)", skipped=why,
        notes="psql's time includes its start and connection",
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

    # ---- 1a/1b, 2a-2c: point operations beside raw psycopg and the ORM
    rng = random.Random(5)
    picks = [rng.randrange(len(files)) for _ in range(sizes.queries)]
    single_repo = await _repository(ctx, main_project, "single")
    out += await point_rows(
        ctx, project_ids, ctx.details["project_slugs"], ctx.details["organization_id"],
        bulk_repo, [files[p].relative_path for p in picks],
        data.file_entities(single_repo, 3 * sizes.inserts),
    )  # fmt: skip

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
