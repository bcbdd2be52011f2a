"""Read-side use cases of the command line: find projects, search code and results."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

from application._boundary import service
from application._walk import every_organization, every_project
from application.code_units import normalize_code, unit_id
from domain.analysis import AnalysisResult
from domain.embeddings import SimilarCode
from domain.enums import CodeUnitKind
from domain.files import FileIndex
from domain.ids import EmbeddingId, OrganizationId, ProjectId, RepositoryId
from domain.organizations import Organization
from domain.projects import Project
from domain.validation import check_int, check_text
from domain.values import FunctionSignature
from domain.vectors import Vector
from ports.code_index import CodeIndex
from ports.errors import NotFoundError, ValidationError
from ports.repositories import ProjectSearchFilters
from ports.source import SourceReader
from ports.unit_of_work import UnitOfWork
from ports.vectors import Embedder

__all__ = [
    "ProjectOverview",
    "SearchHits",
    "SimilarScope",
    "SimilarTo",
    "all_projects",
    "resolve_organization",
    "resolve_project",
    "search_everything",
    "similar_to_file",
]

MAX_LIMIT = 1000


@attrs.frozen(kw_only=True)
class ProjectOverview:
    organization: Organization
    project: Project
    files: int


@attrs.frozen(kw_only=True)
class SearchHits:
    """Full-text hits: projects, files (by path and symbols) and analysis results."""

    projects: tuple[Project, ...]
    files: tuple[tuple[Project, FileIndex], ...]
    results: tuple[tuple[Project, AnalysisResult], ...]

    @property
    def total(self) -> int:
        return len(self.projects) + len(self.files) + len(self.results)


async def _live_projects(
    uow: UnitOfWork, organization_slug: str | None
) -> list[tuple[Organization, Project]]:
    return [
        (organization, project)
        for organization in await every_organization(uow, organization_slug)
        for project in await every_project(uow, organization)
    ]


@service
async def all_projects(
    uow: UnitOfWork, *, organization_slug: str | None = None
) -> list[ProjectOverview]:
    """Every live project (of one organization if given) with its indexed file count,
    by organization then project slug."""
    overviews = []
    async with uow:
        for organization, project in await _live_projects(uow, organization_slug):
            files = 0
            for repository in await uow.repositories.list_by_project(project.id):
                files += await uow.files.count_by_repository(repository.id)
            overviews.append(
                ProjectOverview(organization=organization, project=project, files=files)
            )
    return overviews


@service
async def resolve_project(
    uow: UnitOfWork, slug: str | None, *, organization_slug: str | None = None
) -> Project:
    """The project named by ``slug`` (in any organization, or the given one); without a
    slug, the only project there is. NotFoundError or ValidationError (ambiguous) else."""
    async with uow:
        live = await _live_projects(uow, organization_slug)
    matches = [(o, p) for o, p in live if slug is None or p.slug == slug]
    if not matches:
        raise NotFoundError("project", slug or "(any)")
    if len(matches) > 1:
        names = ", ".join(f"{o.slug}/{p.slug}" for o, p in matches)
        raise ValidationError(
            "project", slug, f"is ambiguous: name one of {names} (and --organization)"
        )
    return matches[0][1]


@service
async def resolve_organization(uow: UnitOfWork, slug: str | None) -> Organization:
    """The organization named by ``slug``; without a slug, the only organization there
    is. NotFoundError or ValidationError (ambiguous) else."""
    if slug is not None:
        check_text("organization", slug)
    async with uow:
        live = await every_organization(uow, slug)
    if not live:
        raise NotFoundError("organization", slug or "(any)")
    if len(live) > 1:
        names = ", ".join(o.slug for o in live)
        raise ValidationError("organization", slug, f"is ambiguous: name one of {names}")
    return live[0]


@service
async def search_everything(
    uow: UnitOfWork,
    text: str,
    *,
    organization_id: OrganizationId | None = None,
    project_id: ProjectId | None = None,
    limit: int = 20,
) -> SearchHits:
    """Projects, files and the latest results matching every word of ``text``."""
    check_text("text", text)
    check_int("limit", limit, 1, MAX_LIMIT)
    async with uow:
        projects = await uow.projects.search(
            text, ProjectSearchFilters(organization_id=organization_id), limit=limit
        )
        scope: list[Project] = []
        if project_id is not None:
            found = await uow.projects.find_by_id(project_id)
            if found is None:
                raise NotFoundError("project", project_id)
            scope = [found]
        else:
            scope = [
                p
                for o, p in await _live_projects(uow, None)
                if organization_id is None or o.id == organization_id
            ]
        owner: dict[RepositoryId, Project] = {}
        results: list[tuple[Project, AnalysisResult]] = []
        for project in scope:
            for repository in await uow.repositories.list_by_project(project.id):
                owner[repository.id] = project
            results += [
                (project, r)
                for r in await uow.analysis.search_results(project.id, text, limit=limit)
            ]
        # one search over every repository: the best ``limit`` files overall
        matching = await uow.files.search(list(owner), text, limit=limit) if owner else []
        files = [(owner[f.repository_id], f) for f in matching]
    return SearchHits(
        projects=tuple(projects), files=tuple(files[:limit]), results=tuple(results[:limit])
    )


async def _similar_scope(
    uow: UnitOfWork,
    project: Project,
    project_slug: str | None,
    organization_slug: str | None,
    everywhere: bool,
) -> tuple[SimilarScope, Any]:
    """Where to search, and the id of the project or organization that is."""
    if everywhere:
        return SimilarScope.ALL, None
    organization_id = project.organization_id
    if organization_slug is not None:
        organization = await uow.organizations.find_by_slug(organization_slug)
        if organization is None:
            raise NotFoundError("organization", organization_slug)
        organization_id = organization.id
        if project_slug is None:
            return SimilarScope.ORGANIZATION, organization_id
    if project_slug is None:
        return SimilarScope.PROJECT, project.id
    named = await uow.projects.find_by_slug(organization_id, project_slug)
    if named is None:
        raise NotFoundError("project", project_slug)
    return SimilarScope.PROJECT, named.id


async def _code_of(
    reader: SourceReader,
    root: str,
    file: FileIndex,
    relative: str,
    function: FunctionSignature | None,
) -> str:
    """The code of ``function`` of the file (the whole file without one), read from the
    working tree: a ValidationError when there is none to compare."""
    text = (await reader.read(root, relative)).decode(
        file.metadata.encoding or "utf-8", errors="replace"
    )
    if function is None:
        if not text.strip():
            raise ValidationError("file", relative, "is empty: it has no code to compare")
        return text
    lines = text.splitlines()
    code = "\n".join(lines[function.line_start - 1 : function.line_end])
    if not code.strip():
        raise ValidationError(
            "function", function.name, f"has no code at lines {function.line_start}-"
            f"{function.line_end} of {relative} now: index the repository again",
        )  # fmt: skip
    return code


def _not_comparable(skipped_reason: str) -> str:
    """Why a file the analysis skipped has no code to compare, from the reason it was
    skipped."""
    if skipped_reason == "binary file":
        return "is a binary file: it has no code to compare"
    if skipped_reason.startswith("undecodable"):
        return f"cannot be read as text ({skipped_reason}): it has no code to compare"
    if skipped_reason.startswith("too large"):
        return f"is {skipped_reason}: it was not parsed, so it has no code to compare"
    return f"was not analysed ({skipped_reason}): it has no code to compare"


@attrs.frozen(kw_only=True)
class SimilarTo:
    """The code a similarity search started from, where it searched, its hits, and the
    project of each hit."""

    project: Project
    file_path: str
    symbol: str | None
    scope: SimilarScope
    hits: tuple[SimilarCode, ...]
    projects: Mapping[ProjectId, Project] = attrs.field(factory=dict)

    def project_of(self, hit: SimilarCode) -> Project | None:
        return self.projects.get(hit.project_id)


class SimilarScope(enum.StrEnum):
    """Where a similarity search looks: the query's project (the default), its
    organization, or every organization."""

    PROJECT = "project"
    ORGANIZATION = "organization"
    ALL = "all"


@service
async def similar_to_file(
    uow: UnitOfWork,
    reader: SourceReader,
    embedder: Embedder,
    code_index: CodeIndex,
    path: str,
    *,
    function: str | None = None,
    limit: int = 10,
    project_slug: str | None = None,
    organization_slug: str | None = None,
    everywhere: bool = False,
) -> SimilarTo:
    """The ``limit`` indexed functions closest to a function of an indexed file (or to the
    whole file), the function itself left out. They are searched in the file's project by
    default; in the project ``project_slug`` (of the file's organization, or of
    ``organization_slug``); in every project of ``organization_slug``; or ``everywhere``
    the unit sees (its own organization for a unit of one organization).
    ``path`` is absolute, inside an indexed repository; ``function`` a name of the file's
    functions, whose embedding as last indexed is compared (the file is read and
    embedded only when the index lacks it, or another model made it). A file without
    code to compare (binary, undecodable, too large to have been parsed, empty) is a
    ValidationError naming ``file``."""
    check_int("limit", limit, 1, MAX_LIMIT)
    if everywhere and (project_slug is not None or organization_slug is not None):
        raise ValidationError(
            "everywhere", everywhere, "cannot go with a project or an organization"
        )
    async with uow:
        located = None
        for _, project in await _live_projects(uow, None):
            for repository in await uow.repositories.list_by_project(project.id):
                prefix = repository.local_path.rstrip("/") + "/"
                if path.startswith(prefix) and (
                    located is None or len(prefix) > len(located[1].local_path)
                ):
                    located = (project, repository)
        if located is None:
            raise NotFoundError("indexed repository containing", path)
        project, repository = located
        relative = path[len(repository.local_path.rstrip("/")) + 1 :]
        file = await uow.files.find_by_path(repository.id, relative)
        if file is None:
            raise NotFoundError("indexed file", relative)
        scope, searched = await _similar_scope(
            uow, project, project_slug, organization_slug, everywhere
        )
    skipped = file.metadata.skipped_reason
    if skipped is not None:
        raise ValidationError("file", relative, _not_comparable(skipped))
    target: FunctionSignature | None = None
    own: EmbeddingId | None = None
    vector: Vector | None = None
    if function is not None:
        target = next((f for f in file.metadata.functions if f.name == function), None)
        if target is None:
            names = ", ".join(sorted({f.name for f in file.metadata.functions})) or "none"
            raise ValidationError(
                "function", function, f"is not a function of {relative} (its functions: {names})"
            )
        own = unit_id(
            repository.id, relative, CodeUnitKind.FUNCTION, target.name, target.line_start
        )
        stored = await code_index.get(CodeUnitKind.FUNCTION, [own])
        if stored and stored[0].model == embedder.model_name:
            vector = stored[0].vector  # as indexed: the file is neither read nor embedded
    if vector is None:
        text = await _code_of(reader, repository.local_path, file, relative, target)
        [vector] = await embedder.embed([normalize_code(text)])
    hits = await code_index.similar(
        CodeUnitKind.FUNCTION, vector, limit=limit + 1,
        organization_id=searched if scope is SimilarScope.ORGANIZATION else uow.organization_id,
        project_id=searched if scope is SimilarScope.PROJECT else None,
    )  # fmt: skip
    kept = tuple(h for h in hits if h.embedding_id != own)[:limit]
    async with uow:
        projects = {
            p.id: p
            for p in [
                await uow.projects.find_by_id(i) for i in dict.fromkeys(h.project_id for h in kept)
            ]
            if p is not None
        }
    return SimilarTo(
        project=project, file_path=relative, symbol=function, scope=scope, hits=kept,
        projects=projects,
    )  # fmt: skip
