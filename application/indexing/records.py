"""The records the main job indexes into: the organization, the project, the repository
with its branches; each found or created, and written only when something moved."""

from __future__ import annotations

import re
from collections.abc import Callable

import attrs

from application.organizations import register_organization
from application.projects import create_project
from application.repositories import BranchSpec, register_repository, sync_repository
from domain.errors import ProjectTakenError, ValidationError
from domain.organizations import Organization
from domain.projects import Project, Repository
from ports.errors import NotFoundError
from ports.source import SourceSnapshot
from ports.unit_of_work import UnitOfWork

__all__ = ["organization_for", "project_for", "repository_for", "slugify"]


def slugify(text: str, *, field: str = "name") -> str:
    """A slug of ``text``: its lower-case ASCII letters and digits, each run joined to the
    next by one hyphen. A text without any (``"!!!"``) has no slug: ValidationError naming
    ``field``, rather than a made-up slug that would merge unrelated projects."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:100].strip("-")
    if not slug:
        raise ValidationError(
            field, text, "must contain a letter or digit (a-z, 0-9) to make a slug of"
        )
    return slug


async def organization_for(uow: Callable[[], UnitOfWork], slug: str) -> Organization:
    """The organization ``slug``, created if missing when ``uow`` makes units of the
    system scope; units of one organization find theirs alone (NotFoundError for
    another slug)."""
    async with uow() as unit:
        found = await unit.organizations.find_by_slug(slug)
        tenant = unit.organization_id is not None
    if found is not None:
        return found
    if tenant:
        raise NotFoundError("organization", slug)
    return await register_organization(uow(), name=slug, slug=slug)


async def project_for(
    uow: Callable[[], UnitOfWork],
    organization: Organization,
    name: str,
    slug: str,
    snapshot: SourceSnapshot,
    *,
    field: str = "project_name",
) -> Project:
    """The project ``slug`` of the organization, created for the snapshot's repository if
    missing. A project that holds another repository (another origin URL; without one,
    another path) is not joined: ProjectTakenError naming ``field`` and that repository."""
    async with uow() as unit:
        found = await unit.projects.find_by_slug(organization.id, slug)
        clones = await unit.repositories.list_by_project(found.id) if found is not None else []
    if found is not None:
        if not _holds(found, clones, snapshot):
            holder = found.repository_url.removeprefix("file://")
            raise ProjectTakenError(field, name, f"{organization.slug}/{found.slug}", holder)
        return found
    return await create_project(
        uow(),
        organization.id,
        name=name,
        slug=slug,
        repository_url=snapshot.remote_url or f"file://{snapshot.root}",
        default_branch=snapshot.default_branch,
    )


def _holds(project: Project, clones: list[Repository], snapshot: SourceSnapshot) -> bool:
    """Whether the snapshot is of the repository ``project`` holds: the same origin URL
    (another clone of it), else the same path (a checkout without an origin, or one whose
    origin changed since it was indexed)."""
    own = snapshot.remote_url or f"file://{snapshot.root}"
    if project.repository_url == own or any(c.local_path == snapshot.root for c in clones):
        return True
    return bool(snapshot.remote_url) and any(c.remote_url == snapshot.remote_url for c in clones)


async def repository_for(
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
