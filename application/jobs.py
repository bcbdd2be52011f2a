"""Running one analysis job: a context that always ends it.

``async with JobRun(...) as run:`` begins a running job held by this process (the
project's abandoned jobs are failed first; a live job of the same type raises
AnalysisInProgressError), renews its lease in the background while the block runs, and
ends it when the block ends, whatever ends it:

- the block returns: the job completes, in one unit of work, with what the block handed
  to :meth:`JobRun.finish` (file snapshot, analysed files, results, metrics) and the time
  of each stage; if completing fails, the job fails with that error;
- the block is cancelled (task cancellation, Ctrl-C, SIGTERM turned into a cancellation,
  SystemExit): the job is cancelled;
- anything else goes wrong: the job fails, with the error as its message.

Ending is not interrupted by a further cancellation. If ending cannot be written (the
database is down), the job stays running until its owner is found gone or its lease
expires: the next run fails it then (:func:`~application.analysis.recover_abandoned_jobs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial
from types import TracebackType
from typing import Any, Self, TypeVar

import attrs

from application._boundary import service
from application._walk import every_organization, every_project
from application.analysis import (
    OwnerAlive,
    begin_analysis,
    cancel_analysis,
    cannot_tell,
    complete_analysis,
    fail_analysis,
    heartbeat,
    recover_abandoned_jobs,
    report_progress,
)
from application.file_index import FileSnapshot
from application.retry import with_retry
from domain.analysis import DEFAULT_LEASE, AnalysisJob, AnalysisResult, CodeMetric
from domain.enums import JobStatus
from domain.ids import FileId, ProjectId
from domain.organizations import Organization
from domain.projects import Project
from domain.validation import check_int
from ports.errors import NotFoundError
from ports.pagination import PageRequest
from ports.unit_of_work import UnitOfWork

__all__ = ["DEFAULT_HEARTBEAT", "JobOutput", "JobOverview", "JobRun", "recent_jobs"]

log = logging.getLogger(__name__)

DEFAULT_HEARTBEAT = 30.0
"""Seconds between two renewals of a running job's lease."""

_MESSAGE_LIMIT = 2000
_INTERRUPTIONS = (asyncio.CancelledError, KeyboardInterrupt, SystemExit, GeneratorExit)

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class JobOutput:
    """What a job found: it is written when the job completes."""

    results: Sequence[AnalysisResult] = ()
    metrics: Sequence[CodeMetric] = ()
    snapshot: FileSnapshot | None = None
    analysed: Sequence[FileId] = ()
    before_commit: Callable[[], Awaitable[object]] | None = None
    """Awaited as the completion's last step, before it commits (its error fails the job
    with nothing of its output written)."""


class JobRun:
    """One running job of ``project_id`` (see the module docstring). ``uow`` makes a
    fresh unit of work per call; ``owner`` names this process and ``owner_alive`` tells
    whether another job's owner still runs (see :class:`ports.runtime.Liveness`)."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        project_id: ProjectId,
        *,
        owner: str,
        owner_alive: OwnerAlive,
        lease: dt.timedelta = DEFAULT_LEASE,
        heartbeat_every: float = DEFAULT_HEARTBEAT,
        job_type: str = "full",
        config: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        branch: str | None = None,
        commit_hash: str | None = None,
        dirty: bool = False,
    ) -> None:
        if not heartbeat_every > 0:
            raise ValueError(f"heartbeat_every must be above 0 (got {heartbeat_every!r})")
        self._uow = uow
        self._begin = lambda: begin_analysis(
            uow(),
            project_id,
            owner=owner,
            owner_alive=owner_alive,
            lease=lease,
            job_type=job_type,
            config=config,
            metadata=metadata,
            branch=branch,
            commit_hash=commit_hash,
            dirty=dirty,
        )
        self._lease = lease
        self._every = heartbeat_every
        self._output = JobOutput()
        self._beating: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()  # one write of the job at a time: stages, heartbeats
        self._job: AnalysisJob | None = None
        self.timings: dict[str, float] = {}

    @property
    def job(self) -> AnalysisJob:
        """The job as last written."""
        if self._job is None:
            raise RuntimeError("the job has not begun: use the run inside 'async with'")
        return self._job

    async def __aenter__(self) -> Self:
        self._job = await with_retry(self._begin)
        self._beating = asyncio.create_task(self._heartbeats())
        return self

    def finish(self, output: JobOutput) -> None:
        """What the job found, written when the block ends normally."""
        self._output = output

    @contextlib.asynccontextmanager
    async def stage(self, name: str, *, progress: int | None = None) -> AsyncIterator[None]:
        """Time the block as stage ``name`` (its times add up if it runs again); with
        ``progress``, report that progress (0-100) as the stage begins."""
        if progress is not None:
            job_id = self.job.id
            async with self._writing:
                self._job = await with_retry(
                    lambda: report_progress(self._uow(), job_id, progress, lease=self._lease)
                )
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.monotonic() - started

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop_heartbeats()
        if exc is None:
            try:
                self._job = await _uninterrupted(self._complete())
                return
            except BaseException as failure:
                await self._end(failure)
                raise
        await self._end(exc)

    async def _complete(self) -> AnalysisJob:
        out = self._output
        timings = {name: round(seconds, 3) for name, seconds in self.timings.items()}
        return await complete_analysis(
            self._uow(),
            self.job.id,
            results=out.results,
            metrics=out.metrics,
            snapshot=out.snapshot,
            analysed=out.analysed,
            metadata={"stages": timings},
            before_commit=out.before_commit,
        )

    async def _end(self, exc: BaseException) -> None:
        """Cancel or fail the job for ``exc``; a failure to do so is logged, not raised (the
        job is then found abandoned by the next run)."""
        job_id = self.job.id
        interrupted = isinstance(exc, _INTERRUPTIONS)
        message = f"{type(exc).__name__}: {exc}"
        if len(message) > _MESSAGE_LIMIT:
            message = message[: _MESSAGE_LIMIT - 3] + "..."

        async def end() -> AnalysisJob:
            if interrupted:
                return await cancel_analysis(self._uow(), job_id)
            return await fail_analysis(self._uow(), job_id, message)

        try:
            self._job = await _uninterrupted(end())
        except Exception as error:
            log.warning(
                "could not record the end of job %s (%s); the next run will find it abandoned",
                job_id,
                error,
            )

    async def _heartbeats(self) -> None:
        job_id = self.job.id
        while True:
            await asyncio.sleep(self._every)
            try:
                async with self._writing:
                    await with_retry(lambda: heartbeat(self._uow(), job_id, lease=self._lease))
            except Exception as error:  # the run goes on; its lease may lapse
                log.warning("could not renew the lease of job %s: %s", self.job.id, error)

    async def _stop_heartbeats(self) -> None:
        beating, self._beating = self._beating, None
        if beating is None:
            return

        async def stop(beating: asyncio.Task[None]) -> None:
            async with self._writing:  # never cut a heartbeat's write in half
                beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

        await _uninterrupted(stop(beating))


@attrs.frozen(kw_only=True)
class JobOverview:
    """A job with the organization and project it analysed."""

    organization: Organization
    project: Project
    job: AnalysisJob


@service
async def recent_jobs(
    uow: UnitOfWork,
    *,
    project_slug: str | None = None,
    organization_slug: str | None = None,
    status: JobStatus | None = None,
    limit: int = 20,
    owner_alive: OwnerAlive = cannot_tell,
) -> list[JobOverview]:
    """The ``limit`` most recent jobs (with ``status`` only, if given) of the project
    ``project_slug`` (of every project without one; of one organization if given), newest
    first. Jobs found abandoned are failed first (see
    :func:`~application.analysis.recover_abandoned_jobs`), so none shows as running whose
    runner is gone. NotFoundError for an unknown organization or project."""
    check_int("limit", limit, 1, 1000)
    async with uow:
        targets = [
            (organization, project)
            for organization in await every_organization(uow, organization_slug)
            for project in await every_project(uow, organization)
            if project_slug is None or project.slug == project_slug
        ]
        running = []
        for _, project in targets:
            page = await uow.analysis.list_jobs(
                project.id, PageRequest(limit=1), status=JobStatus.RUNNING
            )
            if page.items:
                running.append(project.id)
    if project_slug is not None and not targets:
        raise NotFoundError("project", project_slug)
    for project_id in running:
        await with_retry(partial(recover_abandoned_jobs, uow, project_id, owner_alive=owner_alive))
    found: list[JobOverview] = []
    async with uow:
        for organization, project in targets:
            page = await uow.analysis.list_jobs(
                project.id, PageRequest(limit=limit, descending=True), status=status
            )
            found += [JobOverview(organization=organization, project=project, job=j) for j in page]
    found.sort(key=lambda o: (o.job.created_at, o.job.id), reverse=True)
    return found[:limit]


async def _uninterrupted(work: Awaitable[T]) -> T:
    """Await ``work`` to its end even if the awaiting task is cancelled meanwhile: ending
    a job is short and must not be cut in half. A cancellation that arrives meanwhile is
    absorbed (the job ends as it was going to: completed, or cancelled or failed for the
    exception already on its way)."""
    task = asyncio.ensure_future(work)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():  # the work itself was cancelled
                raise
