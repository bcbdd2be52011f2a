"""Contract of the results and metrics half of AnalysisRepository: bulk writes, parents that
must exist, paged and filtered reads, deletion by job and the metric upsert."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Iterable
from typing import Any

import attrs
import pytest

from domain.analysis import AnalysisJob, AnalysisResult, CodeMetric
from domain.enums import Category, Severity
from domain.files import FileHistoryEntry, FileIndex
from domain.ids import FileId, JobId, new_id
from domain.values import SourceLocation
from ports.errors import NotFoundError
from ports.pagination import Page, PageRequest
from ports.repositories import RESULT_SORTS
from ports.unit_of_work import UnitOfWork
from tests.contract.builders import (
    analysed,
    analysis_job,
    analysis_result,
    at,
    code_metric,
    file_index,
    read,
    scaffold,
    store,
)
from tests.contract.conftest import Backend
from tests.contract.paging import assert_keyset_pagination, assert_rejects_bad_requests


def as_dicts(items: Iterable[AnalysisResult | CodeMetric]) -> dict[uuid.UUID, dict[str, Any]]:
    return {item.id: attrs.asdict(item) for item in items}


async def job_with_files(backend: Backend, count: int = 2) -> tuple[AnalysisJob, list[FileIndex]]:
    """A stored job and ``count`` stored files of the same project."""
    base = await scaffold(backend)
    job = analysis_job(base.project.id)
    files = [file_index(base.repository.id) for _ in range(count)]
    await store(backend, job, *files)
    return job, files


async def results_of_job(backend: Backend, job_id: JobId, **filters: Any) -> list[AnalysisResult]:
    page = await read(
        backend,
        lambda uow: uow.analysis.find_results_by_job(job_id, PageRequest(limit=1000), **filters),
    )
    return list(page)


def location_path(result: AnalysisResult) -> str:
    """The file path of ``result``'s location, which it must have."""
    assert result.location is not None
    return result.location.file_path


async def test_create_results_writes_in_bulk_and_round_trips_every_field(backend: Backend) -> None:
    """create_results returns how many it wrote; each reads back with every field."""
    job, (source, _) = await job_with_files(backend)
    located = analysis_result(
        job.id,
        file_id=source.id,
        rule_id="sql-injection",
        severity="critical",
        category="security",
        title="Query built from user input",
        description="String formatting in a SQL query.",
        location=SourceLocation(
            file_path=source.relative_path, line_start=3, line_end=4, column_start=8, column_end=30
        ),
        suggestion="Use bound parameters.",
        confidence=0.85,
        metadata={"cwe": 89, "tags": ["owasp"], "snippet": {"before": "f'...'"}},
        created_at=at(0),
    )
    loose = analysis_result(job.id, confidence=0.5, created_at=at(1))

    async with backend.uow() as uow:
        await analysed(uow, job.id, source.id)
        assert await uow.analysis.create_results([located, loose]) == 2
        await uow.commit()

    assert as_dicts(await results_of_job(backend, job.id)) == as_dicts([located, loose])
    by_file = await read(backend, lambda uow: uow.analysis.find_results_by_file(source.id))
    assert as_dicts(by_file) == as_dicts([located])


async def test_results_of_an_unknown_job_or_file_raise_not_found(backend: Backend) -> None:
    """Results need their job, and their file when they name one; a failed batch writes
    nothing."""
    job, (source, _) = await job_with_files(backend)
    good = analysis_result(job.id, file_id=source.id)

    for orphan in (
        analysis_result(JobId(new_id())),
        analysis_result(job.id, file_id=FileId(new_id())),
    ):
        with pytest.raises(NotFoundError):
            async with backend.uow() as uow:
                await uow.analysis.create_results([good, orphan])
                await uow.commit()

    assert await results_of_job(backend, job.id) == []


async def test_find_results_by_job_pages_by_created_at(backend: Backend) -> None:
    """A job's results page in (created_at, id) order; other jobs' results never appear."""
    job, _ = await job_with_files(backend)
    other = analysis_job(job.project_id)
    results = [analysis_result(job.id, created_at=at(m)) for m in (2, 0, 0, 1, 3, 3, 1)]
    await store(backend, other, *results, analysis_result(other.id))

    def fetch(uow: UnitOfWork, request: PageRequest) -> Awaitable[Page[AnalysisResult]]:
        return uow.analysis.find_results_by_job(job.id, request)

    await assert_keyset_pagination(
        backend, fetch, results, {"created_at": lambda r: r.created_at}, offered=RESULT_SORTS
    )
    await assert_rejects_bad_requests(backend, fetch, offered=RESULT_SORTS)


async def test_find_results_by_job_filters_by_minimum_severity_and_category(
    backend: Backend,
) -> None:
    """min_severity keeps results at least that severe; category keeps that category."""
    job, _ = await job_with_files(backend)
    shape = [
        ("critical", "security"),
        ("high", "bug"),
        ("high", "security"),
        ("medium", "security"),
        ("low", "style"),
        ("info", "security"),
    ]
    results = [analysis_result(job.id, severity=s, category=c) for s, c in shape]
    await store(backend, *results)

    def pairs(found: Iterable[AnalysisResult]) -> list[tuple[str, str]]:
        return sorted((r.severity.value, r.category.value) for r in found)

    high_up = await results_of_job(backend, job.id, min_severity=Severity.HIGH)
    assert pairs(high_up) == sorted(shape[:3])
    security = await results_of_job(backend, job.id, category=Category.SECURITY)
    assert pairs(security) == sorted(p for p in shape if p[1] == "security")
    both = await results_of_job(
        backend, job.id, min_severity=Severity.MEDIUM, category=Category.SECURITY
    )
    assert pairs(both) == sorted([shape[0], shape[2], shape[3]])


async def test_delete_results_by_job_counts_and_spares_other_jobs(backend: Backend) -> None:
    """delete_results_by_job removes the job's results, returns how many, and keeps the
    results of other jobs."""
    job, _ = await job_with_files(backend)
    other = analysis_job(job.project_id)
    kept = analysis_result(other.id)
    await store(backend, other, *(analysis_result(job.id) for _ in range(3)), kept)

    async with backend.uow() as uow:
        assert await uow.analysis.delete_results_by_job(job.id) == 3
        await uow.commit()

    assert await results_of_job(backend, job.id) == []
    assert [r.id for r in await results_of_job(backend, other.id)] == [kept.id]


async def test_create_metrics_writes_in_bulk_and_round_trips_every_field(backend: Backend) -> None:
    """create_metrics returns how many it wrote; each reads back with every field, and the
    job filter narrows a file's metrics."""
    job, (source, _) = await job_with_files(backend)
    later = analysis_job(job.project_id)
    await store(backend, later)
    metrics = [
        code_metric(
            source.id,
            job.id,
            metric_name="cyclomatic",
            value=12.5,
            threshold_min=1,
            threshold_max=10.25,
            metadata={"function": "parse", "lines": [20, 60]},
            created_at=at(0),
        ),
        code_metric(source.id, job.id, metric_type="size", metric_name="nloc", value=120),
    ]
    again = code_metric(source.id, later.id)

    async with backend.uow() as uow:
        assert await uow.analysis.create_metrics(metrics) == 2
        assert await uow.analysis.create_metrics([again]) == 1
        await uow.commit()

    all_of_file = await read(backend, lambda uow: uow.analysis.find_metrics_by_file(source.id))
    assert as_dicts(all_of_file) == as_dicts([*metrics, again])
    of_job = await read(
        backend, lambda uow: uow.analysis.find_metrics_by_file(source.id, job_id=job.id)
    )
    assert as_dicts(of_job) == as_dicts(metrics)


async def test_create_metrics_upserts_on_file_job_type_and_name(backend: Backend) -> None:
    """Writing a metric with the natural key of a stored one replaces its value instead of
    failing."""
    job, (source, _) = await job_with_files(backend)
    await store(backend, code_metric(source.id, job.id, value=3, threshold_max=10))
    replacement = code_metric(source.id, job.id, value=15, threshold_max=10)

    async with backend.uow() as uow:
        assert await uow.analysis.create_metrics([replacement]) == 1
        await uow.commit()

    stored = await read(backend, lambda uow: uow.analysis.find_metrics_by_file(source.id))
    assert [(m.metric_name, m.value, m.is_violation) for m in stored] == [("cyclomatic", 15, True)]


async def test_metrics_of_an_unknown_file_or_job_raise_not_found(backend: Backend) -> None:
    """Metrics need their file and their job; a failed batch writes nothing."""
    job, (source, _) = await job_with_files(backend)
    good = code_metric(source.id, job.id, metric_name="good")

    for orphan in (code_metric(FileId(new_id()), job.id), code_metric(source.id, JobId(new_id()))):
        with pytest.raises(NotFoundError):
            async with backend.uow() as uow:
                await uow.analysis.create_metrics([good, orphan])
                await uow.commit()

    assert await read(backend, lambda uow: uow.analysis.find_metrics_by_file(source.id)) == []


def completed(job: AnalysisJob, minutes: float) -> AnalysisJob:
    """``job`` created, started and completed ``minutes`` from the test's origin."""
    job = attrs.evolve(job, created_at=at(minutes))
    job.start(at=at(minutes))
    job.complete(at=at(minutes + 0.5))
    return job


def seen(
    job: AnalysisJob, file: FileIndex, change: str = "analysed", **overrides: Any
) -> FileHistoryEntry:
    """A history entry: ``job`` analysed ``file`` (or saw it ``change``)."""
    values = {"relative_path": file.relative_path, "previous_path": None, **overrides}
    return FileHistoryEntry(file_id=file.id, job_id=job.id, change=change, **values)


async def test_a_job_holds_the_latest_analysis_of_each_file_up_to_it(backend: Backend) -> None:
    """A job holds, per file, the results and metrics of the latest completed analysis of
    that file up to it: its own for the files it analysed, an earlier job's for the others,
    none for a file it saw removed; later jobs never change what an earlier one holds."""
    base = await scaffold(backend)
    kept, changed, removed = (file_index(base.repository.id) for _ in range(3))
    first = completed(analysis_job(base.project.id), 0)
    second = completed(analysis_job(base.project.id), 10)
    await store(
        backend, kept, changed, removed, first, second,
        seen(first, kept), seen(first, changed), seen(first, removed),
        analysis_result(first.id, file_id=kept.id, title="kept issue"),
        analysis_result(first.id, file_id=changed.id, title="old issue"),
        analysis_result(first.id, file_id=removed.id, title="removed issue"),
        code_metric(kept.id, first.id, value=1), code_metric(changed.id, first.id, value=2),
        code_metric(removed.id, first.id, value=3),
        seen(second, changed, change="modified"), seen(second, removed, change="deleted"),
        analysis_result(second.id, file_id=changed.id, title="new issue"),
        code_metric(changed.id, second.id, value=20),
    )  # fmt: skip

    def titles(results: Iterable[AnalysisResult]) -> list[str]:
        return sorted(r.title for r in results)

    assert titles(await results_of_job(backend, second.id)) == ["kept issue", "new issue"]
    assert titles(await results_of_job(backend, first.id)) == [
        "kept issue", "old issue", "removed issue",
    ]  # fmt: skip
    held = await read(
        backend, lambda uow: uow.analysis.find_metrics_by_job(second.id, PageRequest())
    )
    assert sorted((m.job_id == second.id, m.value) for m in held.items) == [
        (False, 1.0), (True, 20.0),
    ]  # fmt: skip
    earlier = await read(
        backend, lambda uow: uow.analysis.find_metrics_by_job(first.id, PageRequest())
    )
    assert sorted(m.value for m in earlier.items) == [1.0, 2.0, 3.0]


async def test_only_completed_jobs_pass_their_analyses_on(backend: Backend) -> None:
    """An analysis by a job that did not complete is held by that job alone: a later job
    holds the file's last completed analysis instead."""
    base = await scaffold(backend)
    file = file_index(base.repository.id)
    done = completed(analysis_job(base.project.id), 0)
    failed = attrs.evolve(analysis_job(base.project.id), created_at=at(5))
    failed.start(at=at(5))
    failed.fail("broken", at=at(6))
    later = completed(analysis_job(base.project.id), 10)
    await store(
        backend, file, done, failed, later,
        seen(done, file), analysis_result(done.id, file_id=file.id, title="done"),
        seen(failed, file), analysis_result(failed.id, file_id=file.id, title="failed"),
    )  # fmt: skip

    assert [r.title for r in await results_of_job(backend, later.id)] == ["done"]
    assert [r.title for r in await results_of_job(backend, failed.id)] == ["failed"]


async def test_a_result_carries_the_path_its_file_had_in_its_job(backend: Backend) -> None:
    """After a rename, the results of the analysis before it keep the former path."""
    base = await scaffold(backend)
    file = file_index(base.repository.id, relative_path="src/old.py")
    before = completed(analysis_job(base.project.id), 0)
    after = completed(analysis_job(base.project.id), 10)
    location = SourceLocation(file_path="", line_start=1, line_end=1)
    await store(
        backend, file, before, after,
        seen(before, file), analysis_result(before.id, file_id=file.id, location=location),
        seen(after, file, change="renamed", relative_path="src/new.py",
             previous_path="src/old.py"),
        analysis_result(after.id, file_id=file.id, location=location),
    )  # fmt: skip
    async with backend.uow() as uow:
        stored = await uow.files.find_by_id(file.id)
        assert stored is not None
        await uow.files.update(attrs.evolve(stored, relative_path="src/new.py"))
        await uow.commit()

    [old] = await results_of_job(backend, before.id)
    [new] = await results_of_job(backend, after.id)
    assert (location_path(old), location_path(new)) == ("src/old.py", "src/new.py")
    of_file = await read(backend, lambda uow: uow.analysis.find_results_by_file(file.id))
    assert [location_path(r) for r in of_file] == ["src/old.py", "src/new.py"]


async def test_search_results_matches_words_of_the_latest_completed_job(backend: Backend) -> None:
    """search_results finds the latest completed job's results whose title or description
    hold every word, and nothing of older or unfinished jobs."""
    base = await scaffold(backend)
    older = analysis_job(base.project.id, created_at=at(0))
    latest = analysis_job(base.project.id, created_at=at(10))
    running = analysis_job(base.project.id, created_at=at(20))
    for job in (older, latest):
        job.start(at=at(1))
        job.complete(at=at(2))
    running.start(at=at(21))
    await store(
        backend, older, latest, running,
        analysis_result(older.id, title="parser recursion depth"),
        analysis_result(latest.id, title="parser recursion depth"),
        analysis_result(latest.id, title="unused import", description="module logging unused"),
        analysis_result(running.id, title="parser recursion depth"),
    )  # fmt: skip

    hits = await read(
        backend, lambda uow: uow.analysis.search_results(base.project.id, "recursion parser")
    )
    assert [(h.job_id, h.title) for h in hits] == [(latest.id, "parser recursion depth")]
    described = await read(
        backend, lambda uow: uow.analysis.search_results(base.project.id, "logging")
    )
    assert [h.title for h in described] == ["unused import"]
