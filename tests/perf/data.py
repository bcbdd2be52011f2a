"""The data the benchmark builds in its scratch database: an organization, projects, a
repository with real file paths, completed jobs with results, and metrics."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from adapters.postgres.unit_of_work import PostgresUnitOfWork
from domain.analysis import AnalysisJob
from domain.enums import Category, JobStatus, ProgrammingLanguage, Severity
from domain.files import FileIndex
from domain.ids import OrganizationId, ProjectId, RepositoryId
from domain.organizations import Organization
from domain.projects import Project, Repository
from domain.values import FileMetadata
from tests.perf import corpus

__all__ = [
    "METRIC_NAMES",
    "Fixture",
    "copy_history",
    "copy_metrics",
    "file_entities",
    "new_project",
    "new_repository",
    "seed_fixture",
]

METRIC_NAMES = ("cyclomatic", "cognitive", "nloc")
COPY_METRICS = (
    "COPY code_metrics (id, file_id, job_id, metric_type, metric_name, value, threshold_max,"
    " is_violation) FROM STDIN"
)
UowFactory = Callable[[], PostgresUnitOfWork]


@attrs.frozen(kw_only=True)
class Fixture:
    organization_id: OrganizationId
    project_ids: tuple[ProjectId, ...]
    slugs: tuple[str, ...]


def file_entities(repository_id: RepositoryId, count: int) -> list[FileIndex]:
    """``count`` file rows with the paths and docstrings of real Python files (repeated
    under ``mirror-N/`` when the machine has fewer)."""
    sources = []
    for source in corpus.source_files():
        sources.append((source, corpus.description(source)))
        if len(sources) >= count:
            break
    now = dt.datetime.now(dt.UTC)
    out = []
    for i in range(count):
        source, description = sources[i % len(sources)]
        lap = i // len(sources)
        path = source.relative_path if lap == 0 else f"mirror-{lap}/{source.relative_path}"
        out.append(
            FileIndex(
                repository_id=repository_id,
                relative_path=path,
                absolute_path=f"/src/{path}",
                language=ProgrammingLanguage.PYTHON,
                size_bytes=source.size_bytes,
                line_count=source.size_bytes // 32,
                file_hash=hashlib.sha256(path.encode()).hexdigest(),
                last_modified=now - dt.timedelta(minutes=i),
                metadata=FileMetadata(description=description),
            )
        )
    return out


def new_project(organization_id: OrganizationId, slug: str) -> Project:
    return Project(
        organization_id=organization_id,
        name=slug.replace("-", " ").title(),
        slug=slug,
        description="0",
        repository_url=f"https://git.example.test/{slug}.git",
    )


def new_repository(project_id: ProjectId, name: str) -> Repository:
    return Repository(
        project_id=project_id,
        local_path=f"/srv/{name}",
        remote_url=f"https://git.example.test/{name}.git",
        default_branch="main",
    )


async def seed_fixture(uow: UowFactory, projects: int) -> Fixture:
    """An organization with ``projects`` projects."""
    async with uow() as unit:
        organization = await unit.organizations.create(
            Organization(name="Bench", slug=f"bench-{uuid.uuid4().hex[:8]}")
        )
        created = []
        for i in range(projects):
            created.append(await unit.projects.create(new_project(organization.id, f"p-{i}")))
        await unit.commit()
    return Fixture(
        organization_id=organization.id,
        project_ids=tuple(p.id for p in created),
        slugs=tuple(p.slug for p in created),
    )


async def completed_jobs(
    uow: UowFactory, project_id: ProjectId, count: int, *, days: int = 60
) -> list[AnalysisJob]:
    """``count`` completed jobs of the project spread over the last ``days`` days, oldest
    first."""
    now = dt.datetime.now(dt.UTC)
    jobs = []
    async with uow() as unit:
        for i in range(count):
            created = now - dt.timedelta(days=days * (count - i) / count)
            job = AnalysisJob(
                project_id=project_id,
                status=JobStatus.COMPLETED,
                progress=100,
                started_at=created,
                completed_at=created + dt.timedelta(minutes=5),
                created_at=created,
                updated_at=created,
            )
            jobs.append(await unit.analysis.create_job(job))
        await unit.commit()
    return jobs


def result_rows(
    jobs: Sequence[AnalysisJob], file_ids: Sequence[uuid.UUID], count: int, seed: int = 7
) -> list[tuple[Any, ...]]:
    """``count`` result rows (COPY order of the repository's RESULT_COLUMNS) spread over
    the jobs, each created at its job's time."""
    rng = random.Random(seed)
    severities = [s.value for s in Severity]
    categories = [c.value for c in Category]
    rows = []
    for i in range(count):
        job = jobs[i % len(jobs)]
        line = rng.randint(1, 400)
        rows.append((
            uuid.uuid4(), job.id, rng.choice(file_ids), f"py-rule-{rng.randint(1, 120):03d}",
            rng.choice(severities), rng.choice(categories), f"Issue {i % 997}",
            "Something to look at in this function", line, line + rng.randint(0, 20), None,
            None, None, round(rng.uniform(0.5, 1.0), 2), Jsonb({}), job.created_at,
        ))  # fmt: skip
    return rows


async def copy_metrics(
    conn: AsyncConnection[Any], job_id: uuid.UUID, file_ids: Sequence[uuid.UUID], seed: int = 11
) -> int:
    """COPY one COMPLEXITY metric of each of :data:`METRIC_NAMES` per file of the job."""
    rng = random.Random(seed)
    written = 0
    async with conn.cursor() as cur, cur.copy(COPY_METRICS) as copy:
        for file_id in file_ids:
            for name in METRIC_NAMES:
                value = float(rng.randint(1, 60))
                await copy.write_row(
                    (uuid.uuid4(), file_id, job_id, "complexity", name, value, 25.0, value > 25)
                )
                written += 1
    await conn.commit()
    return written


COPY_HISTORY = "COPY file_history (job_id, file_id, change, relative_path) FROM STDIN"


async def copy_history(
    conn: AsyncConnection[Any], analysed: Sequence[tuple[uuid.UUID, uuid.UUID]], path: str
) -> int:
    """COPY a history entry per distinct (job, file) of ``analysed``: the job analysed the
    file, so it holds that file's results and metrics."""
    pairs = list(dict.fromkeys(analysed))
    async with conn.cursor() as cur, cur.copy(COPY_HISTORY) as copy:
        for job_id, file_id in pairs:
            await copy.write_row((job_id, file_id, "analysed", path))
    await conn.commit()
    return len(pairs)
