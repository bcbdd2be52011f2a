"""A job always ends: JobRun and the recovery of abandoned jobs, on the in-memory store."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import attrs
import pytest

from adapters.memory.unit_of_work import MemoryUnitOfWork
from application import (
    FileSnapshot,
    JobOutput,
    JobRun,
    begin_analysis,
    recent_jobs,
    recover_abandoned_jobs,
    register_repository,
)
from domain.analysis import AnalysisJob, AnalysisResult
from domain.enums import Category, FileChange, JobStatus, Severity
from domain.errors import AnalysisInProgressError
from domain.files import FileIndex
from domain.ids import RuleId
from domain.projects import Project, Repository
from ports.errors import UnavailableError
from ports.pagination import PageRequest

ME = "this-host/boot/100/1"
GONE = "this-host/boot/200/1"


def alive(owner: str) -> bool | None:
    """This process is alive; GONE is not; anything else cannot be told."""
    return {ME: True, GONE: False}.get(owner)


def run(uow: MemoryUnitOfWork, project: Project, **options: Any) -> JobRun:
    return JobRun(lambda: uow, project.id, owner=ME, owner_alive=alive, **options)


async def jobs_of(uow: MemoryUnitOfWork, project: Project) -> list[AnalysisJob]:
    async with uow:
        return list(await uow.analysis.list_jobs(project.id, PageRequest(limit=100)))


@pytest.fixture
async def repository(uow: MemoryUnitOfWork, project: Project) -> Repository:
    return await register_repository(
        uow, project.id, local_path="/srv/billing", remote_url="", default_branch="main"
    )


def source(
    repository: Repository, path: str = "billing/invoice.py", digest: str = "a"
) -> FileIndex:
    return FileIndex(
        repository_id=repository.id,
        relative_path=path,
        absolute_path=f"/srv/billing/{path}",
        size_bytes=10,
        file_hash=digest * 64,
        last_modified=dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
    )


async def test_a_run_that_ends_normally_completes_with_its_output(
    uow: MemoryUnitOfWork, project: Project, repository: Repository
) -> None:
    """The job runs while the block runs and completes with what the block found: the
    snapshot, the history of the analysed files, the results, and the stage timings."""
    file = source(repository)
    async with run(uow, project, branch="main", commit_hash="c" * 40, dirty=True) as job_run:
        assert job_run.job.status is JobStatus.RUNNING
        assert job_run.job.owner == ME
        async with job_run.stage("rules", progress=20):
            result = AnalysisResult(
                job_id=job_run.job.id,
                file_id=file.id,
                rule_id=RuleId("r"),
                severity=Severity.LOW,
                category=Category.STYLE,
                title="t",
                description="d",
            )
        job_run.finish(
            JobOutput(
                results=[result],
                snapshot=FileSnapshot(repository.id, [file]),
                analysed=[file.id],
            )
        )

    job = job_run.job
    assert job.status is JobStatus.COMPLETED
    assert (job.branch, job.commit_hash, job.dirty) == ("main", "c" * 40, True)
    assert job.lease_expires_at is None
    assert set(job.metadata["stages"]) == {"rules"}
    async with uow:
        history = await uow.files.history(file.id)
        held = await uow.analysis.find_results_by_job(job.id, PageRequest())
    assert [(e.job_id, e.change) for e in history] == [(job.id, FileChange.ADDED)]
    assert [r.id for r in held] == [result.id]


async def test_an_error_fails_the_job_with_it(uow: MemoryUnitOfWork, project: Project) -> None:
    """Any exception in the block fails the job, with the error as its message, and goes
    on to the caller."""
    with pytest.raises(RuntimeError, match="disk on fire"):
        async with run(uow, project):
            raise RuntimeError("disk on fire")

    [job] = await jobs_of(uow, project)
    assert job.status is JobStatus.FAILED
    assert job.error_message == "RuntimeError: disk on fire"


@pytest.mark.parametrize("interruption", [asyncio.CancelledError, KeyboardInterrupt])
async def test_an_interruption_cancels_the_job(
    uow: MemoryUnitOfWork, project: Project, interruption: type[BaseException]
) -> None:
    """A cancelled task, Ctrl-C (KeyboardInterrupt) or a terminated process (cancelled
    task) cancels the job."""
    with pytest.raises(interruption):
        async with run(uow, project):
            raise interruption()

    [job] = await jobs_of(uow, project)
    assert job.status is JobStatus.CANCELLED


async def test_a_task_cancelled_mid_run_cancels_its_job(
    uow: MemoryUnitOfWork, project: Project
) -> None:
    """Cancelling the task that runs the block cancels the job, even while it waits."""
    started = asyncio.Event()

    async def work() -> None:
        async with run(uow, project):
            started.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(work())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    [job] = await jobs_of(uow, project)
    assert job.status is JobStatus.CANCELLED


async def test_a_completion_that_fails_fails_the_job(
    uow: MemoryUnitOfWork, project: Project, repository: Repository
) -> None:
    """If writing the output fails (here: a result of another job), the job fails with
    that error and nothing of the output is written."""
    other = AnalysisJob(project_id=project.id)
    with pytest.raises(Exception, match="must be the completed job"):
        async with run(uow, project) as job_run:
            result = AnalysisResult(
                job_id=other.id,
                rule_id=RuleId("r"),
                severity=Severity.LOW,
                category=Category.STYLE,
                title="t",
                description="d",
            )
            job_run.finish(JobOutput(results=[result]))

    [job] = await jobs_of(uow, project)
    assert job.status is JobStatus.FAILED
    assert job.error_message is not None
    assert "must be the completed job" in job.error_message


async def test_a_live_job_of_the_project_refuses_a_second_run(
    uow: MemoryUnitOfWork, project: Project
) -> None:
    """While a job whose owner is alive and whose lease holds runs, another run of the
    same type refuses to start and writes nothing."""
    async with run(uow, project):
        with pytest.raises(AnalysisInProgressError, match="billing is being analysed"):
            async with run(uow, project):
                pass
        assert len(await jobs_of(uow, project)) == 1


async def abandoned(
    uow: MemoryUnitOfWork,
    project: Project,
    *,
    owner: str = GONE,
    lease_until: dt.datetime | None = None,
    at: dt.datetime | None = None,
) -> AnalysisJob:
    """A running job left by ``owner``."""
    now = at or dt.datetime.now(dt.UTC)
    job = AnalysisJob(project_id=project.id, job_type="full")
    job.start(at=now, owner=owner)
    if lease_until is not None:
        job = attrs.evolve(job, lease_expires_at=lease_until)
    async with uow:
        await uow.analysis.create_job(job)
        await uow.commit()
    return job


async def test_a_job_whose_owner_is_gone_is_failed_before_the_next_starts(
    uow: MemoryUnitOfWork, project: Project
) -> None:
    """A running job whose process is gone is failed, naming why, and the new run goes on."""
    left = await abandoned(uow, project, owner=GONE)

    async with run(uow, project) as job_run:
        pass

    jobs = {j.id: j for j in await jobs_of(uow, project)}
    assert jobs[left.id].status is JobStatus.FAILED
    assert jobs[left.id].error_message == f"abandoned: its process ({GONE}) is gone"
    assert jobs[job_run.job.id].status is JobStatus.COMPLETED


async def test_a_job_whose_lease_expired_is_failed(uow: MemoryUnitOfWork, project: Project) -> None:
    """A job of an owner that cannot be checked (another machine) is failed once its
    lease expired, and blocks the next run while it holds."""
    now = dt.datetime.now(dt.UTC)
    holding = await abandoned(uow, project, owner="elsewhere/b/1/1")
    with pytest.raises(AnalysisInProgressError):
        await begin_analysis(uow, project.id, owner=ME, owner_alive=alive)

    failed = await recover_abandoned_jobs(
        uow, project.id, owner_alive=alive, now=now + dt.timedelta(hours=1)
    )

    assert [j.id for j in failed] == [holding.id]
    assert failed[0].status is JobStatus.FAILED
    assert failed[0].error_message is not None
    assert "its lease expired at" in failed[0].error_message


async def test_a_job_left_without_a_lease_is_failed(
    uow: MemoryUnitOfWork, project: Project
) -> None:
    """A running job recorded without a lease (by an earlier version) is abandoned."""
    legacy = AnalysisJob(project_id=project.id, status=JobStatus.RUNNING)
    async with uow:
        await uow.analysis.create_job(legacy)
        await uow.commit()

    [failed] = await recover_abandoned_jobs(uow, project.id, owner_alive=alive)

    assert failed.id == legacy.id
    assert failed.error_message == "abandoned: it was left running without a lease"


async def test_heartbeats_renew_the_lease_while_stages_report_progress(
    uow: MemoryUnitOfWork, project: Project
) -> None:
    """The lease is renewed in the background while the block runs, and the heartbeats
    never conflict with the stages' own writes of the job."""
    async with run(uow, project, heartbeat_every=0.001, lease=dt.timedelta(seconds=30)) as r:
        first = r.job.lease_expires_at
        for progress in range(10, 60, 10):
            async with r.stage("work", progress=progress):
                await asyncio.sleep(0.005)
        async with uow:
            stored = await uow.analysis.find_job_by_id(r.job.id)
        assert stored is not None
        renewed = stored.lease_expires_at
        assert renewed is not None and first is not None
        assert renewed > first

    assert r.job.status is JobStatus.COMPLETED


class FailingUnits:
    """Units of work over a store that goes down when ``down`` is set."""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self.uow = uow
        self.down = False

    def __call__(self) -> MemoryUnitOfWork:
        if self.down:
            raise UnavailableError("database unavailable: connection refused")
        return self.uow


async def test_a_job_that_cannot_be_ended_is_failed_by_the_next_run(
    uow: MemoryUnitOfWork, project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    """If the store is down when the job should end, the error goes on, a warning says
    what happened, the job stays running, and the next run (its owner gone) fails it."""
    units = FailingUnits(uow)
    with pytest.raises(RuntimeError, match="analyser crashed"):
        async with JobRun(units, project.id, owner=GONE, owner_alive=alive):
            units.down = True
            raise RuntimeError("analyser crashed")
    assert "next run will find it abandoned" in caplog.text
    [left] = await jobs_of(uow, project)
    assert left.status is JobStatus.RUNNING

    async with run(uow, project):
        pass

    statuses = {j.id: j.status for j in await jobs_of(uow, project)}
    assert statuses[left.id] is JobStatus.FAILED


async def test_recent_jobs_lists_newest_first_and_fails_abandoned_ones(
    uow: MemoryUnitOfWork, project: Project
) -> None:
    """recent_jobs gives the newest jobs first, filters by status, and shows no job as
    running whose runner is gone."""
    async with run(uow, project):
        pass
    left = await abandoned(uow, project, owner=GONE)

    overviews = await recent_jobs(uow, owner_alive=alive)

    assert overviews[0].job.id == left.id
    assert overviews[0].job.status is JobStatus.FAILED
    assert overviews[0].project.slug == "billing"
    completed = await recent_jobs(uow, status=JobStatus.COMPLETED, owner_alive=alive)
    assert [o.job.status for o in completed] == [JobStatus.COMPLETED]
    assert len(await recent_jobs(uow, limit=1)) == 1
