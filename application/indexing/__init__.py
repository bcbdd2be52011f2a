"""The main job: index a repository, analyse what changed, embed its functions.

:func:`index_repository` runs in stages, each timed:

1. ``snapshot``: the repository as the SourceReader sees it (tracked files, branches,
   HEAD, whether the working tree has uncommitted changes);
2. the records: organization, project, repository and branches (found or created);
3. ``read``: every tracked file read and hashed, and compared with the index
   (:mod:`application.indexing.reading`): files unchanged since the last completed
   analysis are not analysed again, unless the rules (or this code) changed since;
   renames keep a file's identity, removed files are marked removed;

and if anything is to be analysed, one analysis job (:class:`~application.jobs.JobRun`,
which always ends it) runs the rest:

4. ``parse``: the changed files' language, lines, functions and classes;
5. ``rules``: the built-in rules and metrics (see ``embed``);
6. ``embed``: the functions of the changed files embedded (those whose code did not
   change since they were stored are not), begun before the rules, so that the
   embedder's workers run while this process evaluates them (in a thread);
7. ``duplicates``: the embeddings' write to the code index begun and, meanwhile,
   near-duplicate functions found among the project's functions, each pair reported
   once;
8. ``record``: in one unit of work, the file snapshot, the files' history, the results
   and metrics, the branch's issues tracked (:mod:`application.tracking`: ids kept across
   analyses, new code, measures, quality gate), and the job completed, committed once
   the embeddings are written (a failed write fails the job with none of it recorded);
9. ``housekeeping``: the project's analyses the retention policy no longer keeps are
   deleted (:mod:`application.housekeeping`).

Nothing of an analysis reaches the database before its last stage, so a run killed at
any point leaves the index as the last completed analysis left it, and the next run
analyses what that one did not cover. What the code index received meanwhile is keyed
so that the next run overwrites it. A run on an unchanged repository records nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import PurePath

import attrs

from application._boundary import service
from application._walk import every_file, every_result
from application.analysis import cannot_tell
from application.builtin_rules import BUILTIN_RULES
from application.file_index import FileSnapshot
from application.housekeeping import housekeeping
from application.indexing.evaluation import analysis_fingerprint, evaluate
from application.indexing.progress import Progress, silent
from application.indexing.reading import parse_files, read_changes
from application.indexing.rebuild import RebuildReport, rebuild_vectors
from application.indexing.records import organization_for, project_for, repository_for, slugify
from application.indexing.vectors import (
    cancelled,
    code_units,
    duplicate_metrics,
    embed,
    write_and_find_duplicates,
)
from application.jobs import DEFAULT_HEARTBEAT, JobOutput, JobRun
from application.rules import effective_rule_set, register_rules
from application.similarity import IndexResult
from application.tracking import with_line_hashes
from domain.analysis import DEFAULT_LEASE, AnalysisJob, AnalysisResult
from domain.enums import Category, FileChange, JobStatus
from domain.files import FileIndex, FileState
from domain.ids import JobId
from domain.projects import Repository
from domain.validation import check_instance, check_int, check_number
from ports.code_index import CodeIndex
from ports.errors import ConcurrencyError
from ports.runtime import Liveness
from ports.source import CodeAnalyzer, SourceReader
from ports.unit_of_work import UnitOfWork
from ports.vectors import Embedder, NearestNeighbours

__all__ = [
    "DIRECTORY_NAME",
    "INDEX_JOB",
    "IndexReport",
    "Progress",
    "RebuildReport",
    "index_repository",
    "rebuild_vectors",
    "slugify",
]

DIRECTORY_NAME = "directory name"
"""The field a ValidationError names when the repository's directory, the project's name
by default, has no letter or digit to make a slug of."""

INDEX_JOB = "index"
"""The job type of the main job; one such job runs per project at a time."""


@attrs.frozen(kw_only=True)
class IndexReport:
    """What a run did. ``job_id`` is None when nothing changed (``up_to_date``).
    ``issues_*`` say how many of the branch's issues the run found new, reopened and
    closed; ``gate`` is the status of its quality gate. ``stages`` holds the seconds each
    stage took."""

    organization_slug: str
    project_slug: str
    project_id: str
    repository_id: str
    commit: str | None
    branch: str | None = None
    dirty: bool = False
    files: int
    lines: int
    added: int = 0
    modified: int = 0
    renamed: int = 0
    restored: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: int = 0
    analyzed: int = 0
    results: int = 0
    metrics: int = 0
    embedded: int = 0
    embeddings_skipped: int = 0
    job_id: JobId | None = None
    job_status: JobStatus | None = None
    issues_new: int = 0
    issues_reopened: int = 0
    issues_closed: int = 0
    gate: str | None = None
    seconds: float = 0.0
    stages: Mapping[str, float] = attrs.field(factory=dict)

    @property
    def up_to_date(self) -> bool:
        return self.job_id is None


@contextlib.contextmanager
def _timed(stages: dict[str, float], name: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        stages[name] = stages.get(name, 0.0) + time.monotonic() - started


@service
async def index_repository(
    uow: UnitOfWork,
    reader: SourceReader,
    analyzer: CodeAnalyzer,
    embedder: Embedder,
    code_index: CodeIndex,
    path: str,
    *,
    organization_slug: str = "default",
    project_name: str | None = None,
    progress: Progress | None = None,
    liveness: Liveness | None = None,
    lease: dt.timedelta = DEFAULT_LEASE,
    heartbeat_every: float = DEFAULT_HEARTBEAT,
    neighbours: NearestNeighbours | None = None,
    workers: int = 1,
    on_analysis: Callable[[], object] | None = None,
) -> IndexReport:
    """Index the repository at ``path`` into the project ``project_name`` (the directory
    name by default) of the organization ``organization_slug`` (created if missing). The
    project's slug is made of the name's letters and digits; a name without any is a
    ValidationError. A project of that slug that holds another repository (another origin
    URL, else another path) is not joined: ProjectTakenError.

    ``liveness`` names this process as the job's owner and tells whether the owner of a
    job left running is gone (without it, an abandoned job is failed once its ``lease``
    expires); the lease is renewed every ``heartbeat_every`` seconds. A live index job of
    the same project raises AnalysisInProgressError. ``neighbours`` finds near-duplicates
    in one pass over the project's vectors (else one search of ``code_index`` per function);
    ``workers`` above one analyses the files in as many processes (``analyzer`` must then
    pickle). ``on_analysis`` is called once, as soon as the run knows it will analyse
    files (before reading them when it analyses everything again), for the caller to
    start what the analysis needs, such as its worker processes; an unchanged repository
    never calls it. The job runs in several units of work, some at the same time (its
    heartbeat): units like ``uow`` (:meth:`~ports.unit_of_work.UnitOfWork.sibling`) find
    or create the organization, in the system scope or the unit's own organization (one
    of another slug is then NotFoundError); every later one is the organization's alone
    (:meth:`~ports.unit_of_work.UnitOfWork.for_organization`)."""
    if project_name is not None:
        slugify(project_name, field="project_name")  # refused before anything is read
    lease_seconds = check_instance("lease", lease, dt.timedelta).total_seconds()
    check_number("lease", lease_seconds, above=0)
    check_number("heartbeat_every", heartbeat_every, high=lease_seconds, above=0)
    check_int("workers", workers, 1)
    started = time.monotonic()
    report = progress or silent
    stages: dict[str, float] = {}
    with _timed(stages, "snapshot"):
        snapshot = await reader.snapshot(path)
    root = snapshot.root
    name = project_name if project_name is not None else PurePath(root).name
    field = "project_name" if project_name is not None else DIRECTORY_NAME
    slug = slugify(name, field=field)
    organization = await organization_for(uow.sibling, organization_slug)
    fresh = uow.for_organization(organization.id).sibling
    project = await project_for(fresh, organization, name, slug, snapshot, field=field)
    repository = await repository_for(fresh, project, snapshot)
    await register_rules(fresh(), BUILTIN_RULES)  # writes only what changed in the catalogue
    rules = {r.rule_id: r for r in await effective_rule_set(fresh(), project.id)}
    fingerprint = analysis_fingerprint(list(rules.values()), embedder.model_name)
    async with fresh() as unit:
        last_job = await unit.analysis.latest_job(project.id)
        stored = await unit.files.states(repository.id)
    stale = last_job is None or last_job.config.get("fingerprint") != fingerprint
    analysis_ahead = on_analysis or _nothing
    if stale:
        analysis_ahead()
    with _timed(stages, "read"):
        changes = await read_changes(
            reader,
            snapshot,
            repository,
            stored,
            analyse_all=stale,
            since_commit=last_job.commit_hash if last_job else None,
            report=report,
        )
    commit = snapshot.head_commit.hash if snapshot.head_commit else None
    summary = IndexReport(
        organization_slug=organization.slug,
        project_slug=project.slug,
        project_id=str(project.id),
        repository_id=str(repository.id),
        commit=commit,
        branch=snapshot.branch,
        dirty=snapshot.dirty,
        files=len(snapshot.files),
        lines=sum(f.line_count for f in changes.kept),
        added=changes.count(FileChange.ADDED),
        modified=changes.count(FileChange.MODIFIED),
        renamed=changes.count(FileChange.RENAMED),
        restored=changes.count(FileChange.RESTORED),
        removed=len(changes.removed),
        unchanged=len(changes.kept),
        skipped=sum(1 for f in changes.kept if f.skipped),
    )
    if changes.nothing and not stale:
        return attrs.evolve(summary, seconds=time.monotonic() - started, stages=stages)
    if not stale:
        analysis_ahead()

    writing: asyncio.Future[IndexResult] | None = None
    try:
        async with JobRun(
            fresh,
            project.id,
            owner=liveness.owner() if liveness else f"pid {os.getpid()}",
            owner_alive=liveness.is_alive if liveness else cannot_tell,
            lease=lease,
            heartbeat_every=heartbeat_every,
            job_type=INDEX_JOB,
            config={"fingerprint": fingerprint},
            metadata={"path": root},
            branch=snapshot.branch,
            commit_hash=commit,
            dirty=snapshot.dirty,
        ) as run:
            run.timings.update(stages)
            job_id = run.job.id
            async with run.stage("parse", progress=5):
                parsed = await parse_files(
                    analyzer, root, repository, changes.to_analyse, report, workers=workers
                )
            analysed = [p.file for p in parsed]
            texts = {p.file.id: p.text for p in parsed if p.text is not None}
            units = code_units(organization, project, repository, analysed, texts)
            # the embedder's workers run while this process evaluates the rules
            embedding = asyncio.ensure_future(embed(embedder, code_index, units, analysed))
            try:
                async with run.stage("rules", progress=20):
                    results, metrics = await asyncio.to_thread(
                        evaluate, parsed, rules, job_id, _on_loop(report)
                    )
                async with run.stage("embed", progress=40):
                    report("embedding", 0, len(units))
                    prepared = await embedding
                    report("embedding", len(units), len(units))
            finally:
                await cancelled(embedding)
            async with run.stage("duplicates", progress=80):
                held = await _held_duplicates(fresh, last_job, stale)
                writing, duplicates = await write_and_find_duplicates(
                    code_index, prepared, units, parsed, rules, job_id, report,
                    held=held, neighbours=neighbours,
                )  # fmt: skip
            results = with_line_hashes([*results, *duplicates], texts)
            metrics += duplicate_metrics(analysed, duplicates, job_id, rules)
            kept = await _kept_files(fresh, repository, changes.kept)
            by_path = {f.relative_path: f for f in (*kept, *analysed)}
            files = [by_path[t.relative_path] for t in snapshot.files]
            written = writing
            run.finish(
                JobOutput(
                    results=results,
                    metrics=metrics,
                    snapshot=FileSnapshot(repository.id, files),
                    analysed=[f.id for f in analysed],
                    before_commit=lambda: written,  # the embeddings, written meanwhile
                )
            )
            record_started = time.monotonic()
    finally:
        if writing is not None:
            await cancelled(writing)
    stages = {**run.timings, "record": time.monotonic() - record_started}
    with _timed(stages, "housekeeping"):  # the retention policy, on this project's analyses
        await housekeeping(fresh(), project_id=project.id)
    tracked = run.job.metadata.get("issues", {})
    return attrs.evolve(
        summary,
        lines=sum(f.line_count for f in files),
        skipped=sum(1 for f in files if f.metadata.skipped_reason is not None),
        analyzed=len(analysed),
        results=len(results),
        metrics=len(metrics),
        embedded=writing.result().embedded,
        embeddings_skipped=writing.result().skipped,
        job_id=run.job.id,
        job_status=run.job.status,
        issues_new=tracked.get("new", 0),
        issues_reopened=tracked.get("reopened", 0),
        issues_closed=tracked.get("closed", 0),
        gate=run.job.metadata.get("gate"),
        seconds=time.monotonic() - started,
        stages=stages,
    )


def _nothing() -> None:
    """What a run calls where its caller gave no ``on_analysis``."""


def _on_loop(report: Progress) -> Progress:
    """``report`` for another thread: each call runs on the calling event loop."""
    loop = asyncio.get_running_loop()

    def reported(phase: str, done: int, total: int) -> None:
        loop.call_soon_threadsafe(report, phase, done, total)

    return reported


async def _kept_files(
    uow: Callable[[], UnitOfWork], repository: Repository, kept: Sequence[FileState]
) -> list[FileIndex]:
    """The whole index entries of the files a run keeps as they are (read only when the
    run records a snapshot: an unchanged rerun compares states alone); ConcurrencyError
    if one of them changed since the run compared it (another run recorded meanwhile)."""
    async with uow() as unit:
        live = {f.id: f for f in await every_file(unit, repository)}
    entries = [live.get(state.id) for state in kept]
    if any(
        entry is None
        or entry.file_hash != state.file_hash
        or entry.relative_path != state.relative_path
        for entry, state in zip(entries, kept, strict=True)
    ):
        raise ConcurrencyError(
            "another run recorded this repository's files while this one read them: run again"
        )
    return [entry for entry in entries if entry is not None]


async def _held_duplicates(
    uow: Callable[[], UnitOfWork], last_job: AnalysisJob | None, stale: bool
) -> list[AnalysisResult]:
    """The duplication results the last completed analysis holds, which the files not
    analysed now keep (none when everything is analysed again)."""
    if last_job is None or stale:
        return []
    async with uow() as unit:
        return await every_result(unit, last_job.id, category=Category.DUPLICATION)
