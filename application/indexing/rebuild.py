"""Rebuilding the code index from the relational index."""

from __future__ import annotations

import attrs

from application._boundary import service
from application._walk import every_file, every_organization, every_project
from application.indexing.progress import Progress, every, silent
from application.indexing.vectors import code_units
from application.similarity import index_code_units
from domain.errors import ValidationError
from domain.files import FileIndex
from domain.ids import FileId
from domain.organizations import Organization
from domain.projects import Project, Repository
from ports.code_index import CodeIndex
from ports.source import SourceReader
from ports.unit_of_work import UnitOfWork
from ports.vectors import Embedder

__all__ = ["RebuildReport", "rebuild_vectors"]


@attrs.frozen(kw_only=True)
class RebuildReport:
    projects: int
    files: int
    units: int
    embedded: int
    unreadable: int


@service
async def rebuild_vectors(
    uow: UnitOfWork,
    reader: SourceReader,
    embedder: Embedder,
    code_index: CodeIndex,
    *,
    project_slug: str | None = None,
    progress: Progress | None = None,
) -> RebuildReport:
    """Rebuild the code index from PostgreSQL: every indexed function of every project
    (or of ``project_slug``) is embedded again from its repository's working tree and
    written; units that no longer exist are pruned. A file that cannot be read any more is
    counted as unreadable and its units left as they are. The relational index is the
    source of truth, the code index a derived copy that this restores after a loss."""
    report = progress or silent
    targets: list[tuple[Organization, Project, Repository, list[FileIndex]]] = []
    async with uow as unit:
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
        texts: dict[FileId, str] = {}
        for file in files:
            done += 1
            every(report, "reading", done, total_files)
            if not file.metadata.functions:
                continue
            try:
                raw = await reader.read(repository.local_path, file.relative_path)
            except (OSError, ValidationError):
                unreadable += 1
                continue
            texts[file.id] = _decode(raw, file.metadata.encoding)
        units = code_units(organization, project, repository, files, texts)
        units_total += len(units)
        result = await index_code_units(embedder, code_index, units, prune=True)
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
