"""Contract: a unit of work opened for one organization sees and writes that
organization's rows only; the system scope sees every organization's."""

from __future__ import annotations

import attrs
import pytest

from application.projects import get_project
from application.reports import issues_summary
from domain.analysis import AnalysisJob
from domain.files import FileIndex
from domain.ids import OrganizationId
from ports.errors import NotFoundError
from ports.pagination import PageRequest
from ports.unit_of_work import UnitOfWork
from tests.contract import builders as b
from tests.contract.conftest import Backend


@attrs.frozen
class Tenant:
    scaffold: b.Scaffold
    file: FileIndex
    job: AnalysisJob


async def tenant(backend: Backend, name: str) -> Tenant:
    """An organization with a project, a repository, a file, and a job with a result."""
    base = await b.scaffold(backend)
    file = b.file_index(base.repository.id, relative_path=f"{name}.py")
    job = b.analysis_job(base.project.id)
    await b.store(backend, file, job, b.analysis_result(job.id, file_id=file.id))
    return Tenant(base, file, job)


@pytest.fixture
async def two(backend: Backend) -> tuple[Tenant, Tenant]:
    return await tenant(backend, "alpha"), await tenant(backend, "beta")


def scoped(backend: Backend, organization: OrganizationId) -> UnitOfWork:
    return backend.uow(organization_id=organization)


async def test_lookups_find_only_the_units_organization(
    backend: Backend, two: tuple[Tenant, Tenant]
) -> None:
    """By id, slug, path or list, another organization's rows are not there."""
    mine, theirs = two
    org = mine.scaffold.organization.id
    async with scoped(backend, org) as uow:
        assert await uow.organizations.find_by_id(theirs.scaffold.organization.id) is None
        assert await uow.projects.find_by_id(theirs.scaffold.project.id) is None
        assert await uow.repositories.find_by_id(theirs.scaffold.repository.id) is None
        assert await uow.files.find_by_id(theirs.file.id) is None
        assert await uow.analysis.find_job_by_id(theirs.job.id) is None
        assert await uow.projects.find_by_id(mine.scaffold.project.id) is not None
        page = await uow.organizations.list(PageRequest(limit=10))
        assert [o.id for o in page.items] == [org]
        results = await uow.analysis.find_results_by_job(theirs.job.id, PageRequest(limit=10))
        assert list(results.items) == []


async def test_the_system_scope_sees_every_organization(
    backend: Backend, two: tuple[Tenant, Tenant]
) -> None:
    """A unit without an organization is the system scope: it sees all of them."""
    async with backend.uow() as uow:
        page = await uow.organizations.list(PageRequest(limit=10))
    assert {o.id for o in page.items} == {t.scaffold.organization.id for t in two}


async def test_writes_naming_another_organization_find_nothing(
    backend: Backend, two: tuple[Tenant, Tenant]
) -> None:
    """Updating, deleting or attaching to another organization's rows is NotFoundError,
    and nothing of theirs changes."""
    mine, theirs = two
    org = mine.scaffold.organization.id
    async with scoped(backend, org) as uow:
        with pytest.raises(NotFoundError):
            await uow.repositories.create(b.repository(theirs.scaffold.project.id))
    async with scoped(backend, org) as uow:
        with pytest.raises(NotFoundError):
            await uow.projects.create(b.project(theirs.scaffold.organization.id))
    async with scoped(backend, org) as uow:
        with pytest.raises(NotFoundError):
            await uow.projects.update(attrs.evolve(theirs.scaffold.project, description="x"))
    async with scoped(backend, org) as uow:
        with pytest.raises(NotFoundError):
            await uow.repositories.delete(theirs.scaffold.repository.id)
    async with backend.uow() as uow:
        stored = await uow.projects.find_by_id(theirs.scaffold.project.id)
        assert stored is not None and stored.description == theirs.scaffold.project.description
        assert await uow.repositories.find_by_id(theirs.scaffold.repository.id) is not None


async def test_a_unit_writes_in_its_own_organization(
    backend: Backend, two: tuple[Tenant, Tenant]
) -> None:
    """Within its organization a unit creates and changes rows as usual."""
    mine, _ = two
    org = mine.scaffold.organization.id
    project = b.project(org)
    async with scoped(backend, org) as uow:
        await uow.projects.create(project)
        await uow.repositories.create(b.repository(project.id))
        await uow.commit()
    async with scoped(backend, org) as uow:
        assert await uow.projects.find_by_id(project.id) is not None


async def test_services_answer_not_found_for_another_organizations_ids(
    backend: Backend, two: tuple[Tenant, Tenant]
) -> None:
    """A service given another organization's id in a scoped unit answers NotFoundError."""
    mine, theirs = two
    org = mine.scaffold.organization.id
    with pytest.raises(NotFoundError):
        await get_project(scoped(backend, org), theirs.scaffold.project.id)
    with pytest.raises(NotFoundError):
        await issues_summary(scoped(backend, org), theirs.scaffold.project.id)
    assert (await get_project(scoped(backend, org), mine.scaffold.project.id)).id == (
        mine.scaffold.project.id
    )


async def test_the_audit_trail_shows_only_the_units_organization(
    backend: Backend, two: tuple[Tenant, Tenant]
) -> None:
    """The trail read in a scoped unit holds that organization's entries only."""
    mine, _ = two
    org = mine.scaffold.organization.id
    async with scoped(backend, org) as uow:
        entries = await uow.audit.entries(limit=1000)
        checks = await uow.audit.verify()
    assert entries and {e.organization_id for e in entries} == {org}
    assert [c.organization_id for c in checks] == [org]
    assert all(c.intact for c in checks)


async def test_a_sibling_unit_keeps_the_organization_and_the_actor(
    backend: Backend, two: tuple[Tenant, Tenant]
) -> None:
    """A unit's sibling (a long job's further units) works in the same organization, as
    the same actor."""
    mine, theirs = two
    unit = backend.uow(actor="job:1", organization_id=mine.scaffold.organization.id)
    sibling = unit.sibling()
    assert (sibling.actor, sibling.organization_id) == ("job:1", mine.scaffold.organization.id)
    await _sees_only(sibling, mine, theirs)


async def _sees_only(unit: UnitOfWork, mine: Tenant, theirs: Tenant) -> None:
    """That ``unit`` finds ``mine``'s project and not ``theirs``."""
    async with unit as uow:
        assert await uow.projects.find_by_id(theirs.scaffold.project.id) is None
        assert await uow.projects.find_by_id(mine.scaffold.project.id) is not None


async def test_the_system_scope_hands_one_organizations_work_to_its_unit(
    backend: Backend, two: tuple[Tenant, Tenant]
) -> None:
    """for_organization, from the system scope, makes a unit (the same actor) that sees
    the organization it names alone."""
    mine, theirs = two
    unit = backend.uow(actor="job:2").for_organization(mine.scaffold.organization.id)
    assert (unit.actor, unit.organization_id) == ("job:2", mine.scaffold.organization.id)
    await _sees_only(unit, mine, theirs)


async def test_a_unit_of_one_organization_cannot_reach_another(
    backend: Backend, two: tuple[Tenant, Tenant]
) -> None:
    """A unit of one organization makes units of its own organization only: another is
    not there for it."""
    mine, theirs = two
    unit = scoped(backend, mine.scaffold.organization.id)
    same = unit.for_organization(mine.scaffold.organization.id)
    assert same.organization_id == mine.scaffold.organization.id
    with pytest.raises(NotFoundError):
        unit.for_organization(theirs.scaffold.organization.id)
