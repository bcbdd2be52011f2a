"""Contract of the job half of AnalysisRepository: round trips, a parent project, optimistic
concurrency, paged lists and the latest job."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import attrs
import pytest

from domain.analysis import AnalysisJob
from domain.enums import JobStatus
from domain.ids import JobId, ProjectId, new_id
from ports.errors import ConcurrencyError, NotFoundError
from ports.pagination import Page, PageRequest
from ports.repositories import JOB_SORTS
from ports.unit_of_work import UnitOfWork
from tests.contract.builders import analysis_job, at, fields_of, read, scaffold, store
from tests.contract.conftest import Backend
from tests.contract.paging import assert_keyset_pagination, assert_rejects_bad_requests


async def test_create_job_then_find_round_trips_every_field(backend: Backend) -> None:
    """A job reads back by id with every field, config and metadata included."""
    proj = (await scaffold(backend)).project
    job = analysis_job(
        proj.id,
        job_type="incremental",
        status="running",
        priority=9,
        config={"categories": ["security"], "depth": 3, "nested": {"strict": True}},
        progress=40,
        started_at=at(1),
        metadata={"trigger": "push", "commit": "abc"},
        created_at=at(0),
        updated_at=at(1),
    )
    await store(backend, job)

    found = await read(backend, lambda uow: uow.analysis.find_job_by_id(job.id))
    assert found is not None

    assert attrs.asdict(found) == attrs.asdict(job)
    assert await read(backend, lambda uow: uow.analysis.find_job_by_id(JobId(new_id()))) is None


async def test_job_of_an_unknown_project_raises_not_found(backend: Backend) -> None:
    """Creating a job needs its project to exist."""
    orphan = analysis_job(ProjectId(new_id()))

    with pytest.raises(NotFoundError):
        await store(backend, orphan)

    assert await read(backend, lambda uow: uow.analysis.find_job_by_id(orphan.id)) is None


async def test_update_job_returns_the_stored_job_with_a_newer_updated_at(backend: Backend) -> None:
    """update_job stores a status change and returns it with a later updated_at."""
    proj = (await scaffold(backend)).project
    job = analysis_job(proj.id, created_at=at(0), updated_at=at(0))
    await store(backend, job)
    running = attrs.evolve(job)
    running.start(at=at(1))
    running.report_progress(25)

    async with backend.uow() as uow:
        updated = await uow.analysis.update_job(running)
        await uow.commit()

    assert updated.updated_at > job.updated_at
    assert fields_of(updated, "updated_at") == fields_of(running, "updated_at")
    found = await read(backend, lambda uow: uow.analysis.find_job_by_id(job.id))
    assert found is not None
    assert attrs.asdict(found) == attrs.asdict(updated)


async def test_update_job_with_a_stale_job_raises_concurrency_error(backend: Backend) -> None:
    """Updating from a copy read before another update raises ConcurrencyError."""
    proj = (await scaffold(backend)).project
    job = analysis_job(proj.id)
    await store(backend, job)
    cancelled, started = attrs.evolve(job), attrs.evolve(job)
    cancelled.cancel()
    started.start()
    async with backend.uow() as uow:
        await uow.analysis.update_job(started)
        await uow.commit()

    with pytest.raises(ConcurrencyError):
        async with backend.uow() as uow:
            await uow.analysis.update_job(cancelled)
            await uow.commit()

    found = await read(backend, lambda uow: uow.analysis.find_job_by_id(job.id))
    assert found is not None
    assert found.status is JobStatus.RUNNING


async def test_update_job_of_an_unknown_id_raises_not_found(backend: Backend) -> None:
    """Updating a job that was never stored raises NotFoundError."""
    proj = (await scaffold(backend)).project

    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.analysis.update_job(analysis_job(proj.id))


async def test_list_jobs_pages_through_every_sort_in_keyset_order(backend: Backend) -> None:
    """Listing yields each of the project's jobs once, in (sort field, id) order, for each
    sort."""
    proj, other = (await scaffold(backend)).project, (await scaffold(backend)).project
    shape = [(0, 5), (0, 1), (1, 9), (2, 5), (2, 5), (4, 1), (3, 7)]
    jobs = [analysis_job(proj.id, created_at=at(m), updated_at=at(m), priority=p) for m, p in shape]
    await store(backend, *jobs, analysis_job(other.id))

    def fetch(uow: UnitOfWork, request: PageRequest) -> Awaitable[Page[AnalysisJob]]:
        return uow.analysis.list_jobs(proj.id, request)

    await assert_keyset_pagination(
        backend,
        fetch,
        jobs,
        {"created_at": lambda j: j.created_at, "priority": lambda j: j.priority},
        offered=JOB_SORTS,
    )
    await assert_rejects_bad_requests(backend, fetch, offered=JOB_SORTS)


async def test_list_jobs_filters_by_status(backend: Backend) -> None:
    """Listing with a status returns only the project's jobs in that status."""
    proj = (await scaffold(backend)).project
    done = [analysis_job(proj.id, status="completed") for _ in range(2)]
    await store(backend, *done, analysis_job(proj.id), analysis_job(proj.id, status="failed"))

    listed = await read(
        backend,
        lambda uow: uow.analysis.list_jobs(proj.id, PageRequest(), status=JobStatus.COMPLETED),
    )

    assert {j.id for j in listed} == {j.id for j in done}


async def test_latest_job_is_the_most_recently_created_with_the_status(backend: Backend) -> None:
    """latest_job picks the newest completed job by default, the newest of any status with
    status=None, and None when nothing matches."""
    proj, empty = (await scaffold(backend)).project, (await scaffold(backend)).project
    old_done = analysis_job(proj.id, status="completed", created_at=at(0))
    new_done = analysis_job(proj.id, status="completed", created_at=at(2))
    failed = analysis_job(proj.id, status="failed", created_at=at(1))
    newest = analysis_job(proj.id, status="running", created_at=at(3))
    await store(backend, new_done, newest, old_done, failed)

    async def latest(project_id: ProjectId, **status: Any) -> JobId | None:
        job = await read(backend, lambda uow: uow.analysis.latest_job(project_id, **status))
        return None if job is None else job.id

    assert await latest(proj.id) == new_done.id
    assert await latest(proj.id, status=None) == newest.id
    assert await latest(proj.id, status=JobStatus.FAILED) == failed.id
    assert await latest(proj.id, status=JobStatus.CANCELLED) is None
    assert await latest(empty.id) is None
