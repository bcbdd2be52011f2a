"""The main job: index a repository, analyse what changed, embed its functions.

:func:`index_repository` reads a repository through the SourceReader port, records its
organization, project, repository and branches, then its whole file index in one bulk
snapshot. Files whose bytes are unchanged since the last run are neither read by the
analyser nor analysed again. When anything changed, an analysis job runs: the built-in
rules and metrics on the changed files (the previous job's outputs of the unchanged files
are carried over), the functions of changed files are embedded into the vector store, and
near-duplicate functions are found through it. A run on an unchanged repository records
nothing new and returns at once. Cancelling the task (Ctrl-C) marks the job cancelled.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import PurePath

import attrs

from application._walk import every_file, every_organization, every_project
from application.analysis import (
    cancel_analysis,
    complete_analysis,
    enqueue_analysis,
    report_progress,
    start_analysis,
)
from application.builtin_rules import (
    BUILTIN_RULES,
    NEAR_DUPLICATE,
    duplicate_result,
    evaluate_file,
)
from application.code_units import CodeUnit, collection_name
from application.file_index import record_file_snapshot
from application.organizations import register_organization
from application.projects import create_project
from application.repositories import BranchSpec, register_repository, sync_repository
from application.rules import effective_rule_set, register_rules
from application.similarity import index_code_units, remove_file_units
from domain.analysis import AnalysisResult, CodeMetric
from domain.enums import AnalysisStatus, CodeUnitKind, JobStatus, MetricType
from domain.errors import ValidationError
from domain.files import FileIndex
from domain.ids import FileId, JobId, RuleId
from domain.organizations import Organization
from domain.projects import Project, Repository
from domain.rules import EffectiveRule
from domain.values import FileMetadata
from ports.source import CodeAnalyzer, SourceReader, SourceSnapshot, TrackedFile
from ports.unit_of_work import UnitOfWork
from ports.vectors import Embedder, VectorStore

__all__ = [
    "IndexReport",
    "Progress",
    "RebuildReport",
    "index_repository",
    "rebuild_vectors",
    "slugify",
]

Progress = Callable[[str, int, int], None]
"""Called as ``progress(phase, done, total)`` while a phase advances."""

_DESCRIPTION_LIMIT = 2000


@attrs.frozen(kw_only=True)
class IndexReport:
    """What a run did. ``job_id`` is None when nothing changed (``up_to_date``)."""

    organization_slug: str
    project_slug: str
    project_id: str
    repository_id: str
    commit: str | None
    files: int
    lines: int
    added: int
    modified: int
    removed: int
    unchanged: int
    skipped: int
    analyzed: int = 0
    results: int = 0
    metrics: int = 0
    embedded: int = 0
    embeddings_skipped: int = 0
    job_id: JobId | None = None
    job_status: JobStatus | None = None
    seconds: float = 0.0

    @property
    def up_to_date(self) -> bool:
        return self.job_id is None


def slugify(text: str) -> str:
    """A slug of ``text``: lower-case letters and digits joined by single hyphens."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:100].strip("-") or "project"


async def index_repository(
    uow: Callable[[], UnitOfWork],
    reader: SourceReader,
    analyzer: CodeAnalyzer,
    embedder: Embedder,
    store: VectorStore,
    path: str,
    *,
    organization_slug: str = "default",
    project_name: str | None = None,
    progress: Progress | None = None,
) -> IndexReport:
    """Index the repository at ``path`` into the project ``project_name`` (the directory
    name by default) of the organization ``organization_slug`` (created if missing)."""
    started = time.monotonic()
    report = progress or (lambda phase, done, total: None)
    snapshot = await reader.snapshot(path)
    root = snapshot.root
    name = project_name or PurePath(root).name or "project"
    organization = await _organization(uow, organization_slug)
    project = await _project(uow, organization, name, snapshot)
    repository = await _repository(uow, project, snapshot)

    previous = await _indexed_files(uow, repository)
    files, texts = await _read_files(reader, analyzer, repository, snapshot, previous, report)
    summary = IndexReport(
        organization_slug=organization.slug,
        project_slug=project.slug,
        project_id=str(project.id),
        repository_id=str(repository.id),
        commit=snapshot.head_commit.hash if snapshot.head_commit else None,
        files=len(files),
        lines=sum(f.line_count for f in files),
        added=0,
        modified=0,
        removed=0,
        unchanged=len(files),
        skipped=sum(1 for f in files if f.metadata.skipped_reason is not None),
    )
    async with uow() as unit:
        last_job = await unit.analysis.latest_job(project.id)
    untouched = all(previous.get(f.relative_path) is f for f in files)
    if untouched and len(previous) == len(files) and last_job is not None:
        return attrs.evolve(summary, seconds=time.monotonic() - started)  # nothing written

    await register_rules(uow(), BUILTIN_RULES)  # writes only what changed in the catalogue
    outcome = await record_file_snapshot(uow(), repository.id, files)
    stored_ids = {ref.relative_path: ref.id for ref in (*outcome.added, *outcome.modified)}
    summary = attrs.evolve(
        summary,
        added=len(outcome.added),
        modified=len(outcome.modified),
        removed=len(outcome.removed),
        unchanged=outcome.unchanged,
    )

    job = await enqueue_analysis(uow(), project.id, job_type="index", metadata={"path": root})
    await start_analysis(uow(), job.id)
    try:
        changed = [
            attrs.evolve(f, id=stored_ids[f.relative_path])
            for f in files
            if f.relative_path in stored_ids
        ]
        rules = {r.rule_id: r for r in await effective_rule_set(uow(), project.id)}
        results, metrics = _evaluate(changed, texts, rules, job.id, report)
        await report_progress(uow(), job.id, 40)
        units = _code_units(organization, project, repository, changed, texts)
        with_units = {u.file_id for u in units}
        for file in changed:
            if file.id not in with_units:
                await remove_file_units(store, file.id)
        report("embedding", 0, len(units))
        embedded = await index_code_units(embedder, store, units, prune=True)
        report("embedding", len(units), len(units))
        await report_progress(uow(), job.id, 80)
        duplicates = await _near_duplicates(store, units, changed, rules, job.id, report)
        results += duplicates
        metrics += _duplicate_metrics(changed, duplicates, job.id)
        unchanged_ids = [f.id for f in files if f.relative_path not in stored_ids]
        carried = (last_job.id, unchanged_ids) if last_job and unchanged_ids else None
        done = await complete_analysis(
            uow(), job.id, results=results, metrics=metrics, carry_over=carried
        )
    except (asyncio.CancelledError, KeyboardInterrupt):
        await asyncio.shield(cancel_analysis(uow(), job.id))
        raise
    return attrs.evolve(
        summary,
        analyzed=len(changed),
        results=len(results),
        metrics=len(metrics),
        embedded=embedded.embedded,
        embeddings_skipped=embedded.skipped,
        job_id=job.id,
        job_status=done.status,
        seconds=time.monotonic() - started,
    )


# --------------------------------------------------------------------------- records


async def _organization(uow: Callable[[], UnitOfWork], slug: str) -> Organization:
    async with uow() as unit:
        found = await unit.organizations.find_by_slug(slug)
    if found is not None:
        return found
    return await register_organization(uow(), name=slug, slug=slug)


async def _project(
    uow: Callable[[], UnitOfWork], organization: Organization, name: str, snapshot: SourceSnapshot
) -> Project:
    slug = slugify(name)
    async with uow() as unit:
        found = await unit.projects.find_by_slug(organization.id, slug)
    if found is not None:
        return found
    return await create_project(
        uow(),
        organization.id,
        name=name,
        slug=slug,
        repository_url=snapshot.remote_url or f"file://{snapshot.root}",
        default_branch=snapshot.default_branch,
    )


async def _repository(
    uow: Callable[[], UnitOfWork], project: Project, snapshot: SourceSnapshot
) -> Repository:
    branches = [
        BranchSpec(
            name=b.name,
            commit_hash=b.commit_hash,
            is_default=b.is_default,
            last_commit_at=b.last_commit_at,
        )
        for b in snapshot.branches
    ]
    if branches and not any(b.is_default for b in branches):
        branches[0] = attrs.evolve(branches[0], is_default=True)
    commit = snapshot.head_commit.hash if snapshot.head_commit else None
    async with uow() as unit:
        known = [
            r for r in await unit.repositories.list_by_project(project.id)
            if r.local_path == snapshot.root
        ]  # fmt: skip
        stored = await unit.branches.list_by_repository(known[0].id) if known else []
    if known:
        wanted = {(b.name, b.commit_hash, b.is_default, b.last_commit_at) for b in branches}
        have = {(b.name, b.commit_hash, b.is_default, b.last_commit_at) for b in stored}
        if have == wanted and known[0].current_commit == commit:
            return known[0]  # nothing moved since the last run
        return await sync_repository(uow(), known[0].id, branches=branches, current_commit=commit)
    default = next((b.name for b in branches if b.is_default), snapshot.default_branch)
    return await register_repository(
        uow(),
        project.id,
        local_path=snapshot.root,
        remote_url=snapshot.remote_url or "",
        default_branch=default,
        current_commit=commit,
        branches=branches,
    )


async def _indexed_files(
    uow: Callable[[], UnitOfWork], repository: Repository
) -> dict[str, FileIndex]:
    async with uow() as unit:
        return {f.relative_path: f for f in await every_file(unit, repository)}


# --------------------------------------------------------------------------- reading


async def _read_files(
    reader: SourceReader,
    analyzer: CodeAnalyzer,
    repository: Repository,
    snapshot: SourceSnapshot,
    previous: dict[str, FileIndex],
    report: Progress,
) -> tuple[list[FileIndex], dict[str, str]]:
    """The file index of every tracked file, and the text of the changed ones. A file whose
    bytes hash as before keeps its indexed entry and is not analysed."""
    root = snapshot.root
    files: list[FileIndex] = []
    texts: dict[str, str] = {}
    total = len(snapshot.files)
    for done, tracked in enumerate(snapshot.files, start=1):
        content = await reader.read(root, tracked.relative_path)
        digest = hashlib.sha256(content).hexdigest()
        known = previous.get(tracked.relative_path)
        if known is not None and known.file_hash == digest:
            files.append(known)
        else:
            file, text = _analyse(analyzer, root, repository, tracked, content, digest)
            files.append(file)
            if text is not None:
                texts[tracked.relative_path] = text
        if done % 50 == 0 or done == total:
            report("reading", done, total)
    return files, texts


def _analyse(
    analyzer: CodeAnalyzer,
    root: str,
    repository: Repository,
    tracked: TrackedFile,
    content: bytes,
    digest: str,
) -> tuple[FileIndex, str | None]:
    analysis = analyzer.analyze(tracked.relative_path, content)
    metadata = analysis.metadata
    if analysis.text is not None and metadata.description is None:
        metadata = attrs.evolve(metadata, description=_symbols(metadata))
    normalized = None
    if analysis.text is not None:
        lines = analysis.text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        normalized = hashlib.sha256("\n".join(line.rstrip() for line in lines).encode()).hexdigest()
    file = FileIndex(
        repository_id=repository.id,
        relative_path=tracked.relative_path,
        absolute_path=os.path.join(root, tracked.relative_path),
        language=analysis.language,
        size_bytes=len(content),
        line_count=analysis.line_count,
        file_hash=digest,
        content_hash=normalized,
        last_modified=tracked.last_modified,
        analysis_status=(
            AnalysisStatus.SKIPPED if metadata.skipped_reason else AnalysisStatus.ANALYZED
        ),
        metadata=metadata,
    )
    return file, analysis.text


def _symbols(metadata: FileMetadata) -> str | None:
    """The names a full-text search of files should find: functions and classes."""
    names = [f.name for f in metadata.functions] + [c.name for c in metadata.classes]
    text = " ".join(dict.fromkeys(names))
    return text[:_DESCRIPTION_LIMIT] or None


# --------------------------------------------------------------------------- analysis


def _evaluate(
    changed: Sequence[FileIndex],
    texts: dict[str, str],
    rules: dict[RuleId, EffectiveRule],
    job_id: JobId,
    report: Progress,
) -> tuple[list[AnalysisResult], list[CodeMetric]]:
    results: list[AnalysisResult] = []
    metrics: list[CodeMetric] = []
    for done, file in enumerate(changed, start=1):
        evaluation = evaluate_file(file, texts.get(file.relative_path), rules, job_id)
        results += evaluation.results
        metrics += evaluation.metrics
        if done % 50 == 0 or done == len(changed):
            report("analysing", done, len(changed))
    return results, metrics


def _code_units(
    organization: Organization,
    project: Project,
    repository: Repository,
    changed: Sequence[FileIndex],
    texts: dict[str, str],
) -> list[CodeUnit]:
    units: dict[object, CodeUnit] = {}
    for file in changed:
        text = texts.get(file.relative_path)
        if text is None:
            continue
        lines = text.splitlines()
        for fn in file.metadata.functions:
            code = "\n".join(lines[fn.line_start - 1 : fn.line_end])
            if not code.strip():
                continue
            unit = CodeUnit(
                organization_id=organization.id,
                project_id=project.id,
                repository_id=repository.id,
                file_id=file.id,
                file_path=file.relative_path,
                kind=CodeUnitKind.FUNCTION,
                language=file.language,
                symbol=fn.name,
                line_start=fn.line_start,
                line_end=fn.line_end,
                code=code,
            )
            units.setdefault(unit.point_id, unit)
    return list(units.values())


async def _near_duplicates(
    store: VectorStore,
    units: Sequence[CodeUnit],
    changed: Sequence[FileIndex],
    rules: dict[RuleId, EffectiveRule],
    job_id: JobId,
    report: Progress,
) -> list[AnalysisResult]:
    """One result per function of a changed file whose stored embedding lies within the
    rule's similarity of another function of the project."""
    rule = rules.get(NEAR_DUPLICATE)
    if rule is None or not rule.enabled or not units:
        return []
    min_similarity = float(rule.config.get("min_similarity", 0.9))
    min_nloc = int(rule.config.get("min_nloc", 4))
    functions = {
        (f.id, fn.name, fn.line_start): (f, fn) for f in changed for fn in f.metadata.functions
    }
    collection = collection_name("code", CodeUnitKind.FUNCTION)
    candidates = [
        u for u in units
        if (found := functions.get((u.file_id, u.symbol, u.line_start))) is not None
        and found[1].nloc >= min_nloc and rule.rule.applies_to(found[0].language)
    ]  # fmt: skip
    points = {p.id: p for p in await store.retrieve(collection, [u.point_id for u in candidates])}
    results = []
    for done, unit in enumerate(candidates, start=1):
        point = points.get(unit.point_id)
        if point is None:
            continue
        hits = await store.search(
            collection,
            point.vector,
            limit=2,
            filter={"project_id": str(unit.project_id)},
            score_threshold=min_similarity,
        )
        other = next((h for h in hits if h.id != unit.point_id), None)
        if other is not None:
            file, fn = functions[(unit.file_id, unit.symbol, unit.line_start)]
            results.append(
                duplicate_result(
                    job_id,
                    file.id,
                    file.relative_path,
                    fn,
                    str(other.payload.get("file_path")),
                    str(other.payload.get("symbol")),
                    int(other.payload.get("line_start", 1)),
                    other.score,
                    rule,
                )
            )
        if done % 100 == 0 or done == len(candidates):
            report("duplicates", done, len(candidates))
    return results


def _duplicate_metrics(
    changed: Sequence[FileIndex], duplicates: Sequence[AnalysisResult], job_id: JobId
) -> list[CodeMetric]:
    per_file: dict[FileId, int] = {}
    for result in duplicates:
        if result.file_id is not None:
            per_file[result.file_id] = per_file.get(result.file_id, 0) + 1
    return [
        CodeMetric(
            file_id=file.id,
            job_id=job_id,
            metric_type=MetricType.DUPLICATION,
            metric_name="duplicate_functions",
            value=float(per_file.get(file.id, 0)),
            threshold_max=0.0,
        )
        for file in changed
        if file.metadata.functions
    ]


@attrs.frozen(kw_only=True)
class RebuildReport:
    projects: int
    files: int
    units: int
    embedded: int
    unreadable: int


async def rebuild_vectors(
    uow: Callable[[], UnitOfWork],
    reader: SourceReader,
    embedder: Embedder,
    store: VectorStore,
    *,
    project_slug: str | None = None,
    progress: Progress | None = None,
) -> RebuildReport:
    """Rebuild the vector store from PostgreSQL: every indexed function of every project
    (or of ``project_slug``) is embedded again from its repository's working tree and
    written; units that no longer exist are pruned. A file that cannot be read any more is
    counted as unreadable and its units left as they are. The relational index is the
    source of truth, the vector store a derived copy that this restores after a loss."""
    report = progress or (lambda phase, done, total: None)
    targets: list[tuple[Organization, Project, Repository, list[FileIndex]]] = []
    async with uow() as unit:
        for organization in await every_organization(unit):
            for project in await every_project(unit, organization):
                if project_slug is not None and project.slug != project_slug:
                    continue
                for repository in await unit.repositories.list_by_project(project.id):
                    files = await every_file(unit, repository)
                    targets.append((organization, project, repository, files))
    total_files = sum(len(files) for *_, files in targets)
    done = units_total = embedded = unreadable = 0
    for organization, project, repository, files in targets:
        texts: dict[str, str] = {}
        for file in files:
            done += 1
            if done % 50 == 0 or done == total_files:
                report("reading", done, total_files)
            if not file.metadata.functions:
                continue
            try:
                raw = await reader.read(repository.local_path, file.relative_path)
            except (OSError, ValidationError):
                unreadable += 1
                continue
            texts[file.relative_path] = _decode(raw, file.metadata.encoding)
        units = _code_units(organization, project, repository, files, texts)
        units_total += len(units)
        result = await index_code_units(embedder, store, units, prune=True)
        embedded += result.embedded
    return RebuildReport(
        projects=len({p.id for _, p, _, _ in targets}),
        files=total_files,
        units=units_total,
        embedded=embedded,
        unreadable=unreadable,
    )


def _decode(raw: bytes, encoding: str) -> str:
    try:
        return raw.decode(encoding, errors="replace")
    except LookupError:  # an encoding name Python does not know
        return raw.decode("utf-8", errors="replace")
