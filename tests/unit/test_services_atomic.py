"""The atomic read-modify-write services, modify_project and modify_organization_settings,
against the in-memory store: what the change function returns is written under the row's
lock, and a change that fails or returns nonsense writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import attrs
import pytest

from adapters.memory.database import MemoryDatabase
from adapters.memory.unit_of_work import MemoryUnitOfWork
from application import (
    ProjectChanges,
    modify_organization_settings,
    modify_project,
    register_organization,
)
from domain.enums import Severity, Visibility
from domain.errors import ValidationError
from domain.events import ProjectUpdated
from domain.ids import OrganizationId, ProjectId, new_id
from domain.projects import Project
from domain.values import NotificationPreferences, OrganizationSettings
from ports.errors import NotFoundError
from tests.unit.fakes import Committed, Events


def _count_one(project: Project) -> ProjectChanges:
    metadata = project.metadata
    return ProjectChanges(metadata=attrs.evolve(metadata, total_files=metadata.total_files + 1))


async def test_modify_project_writes_the_changes_computed_from_the_stored_project(
    db: MemoryDatabase, uow: MemoryUnitOfWork, project: Project, events: Events
) -> None:
    """Each call sees the project as the previous one left it; ProjectUpdated names the
    fields that changed."""
    for _ in range(3):
        updated = await modify_project(uow, project.id, _count_one)
    assert updated.metadata.total_files == 3
    async with MemoryUnitOfWork(db, system=True) as fresh:
        stored = await fresh.projects.find_by_id(project.id)
    assert stored is not None and stored.metadata.total_files == 3
    published = await events()
    assert [type(e) for e in published] == [ProjectUpdated] * 3
    assert all(cast(ProjectUpdated, e).changed == ("metadata",) for e in published)


async def test_modify_project_can_change_several_fields(
    uow: MemoryUnitOfWork, project: Project, events: Events
) -> None:
    """The changes may name any field update_project takes."""
    updated = await modify_project(
        uow,
        project.id,
        lambda p: ProjectChanges(name=p.name + " v2", visibility=Visibility.PUBLIC),
    )
    assert (updated.name, updated.visibility) == ("Billing service v2", Visibility.PUBLIC)
    assert cast(ProjectUpdated, (await events())[-1]).changed == ("name", "visibility")


async def test_modify_project_without_changes_writes_nothing(
    uow: MemoryUnitOfWork, project: Project, committed: Committed
) -> None:
    """No changes, or changes equal to the stored values: the project as it is, nothing
    written, no event."""
    before = committed()
    assert (await modify_project(uow, project.id, lambda p: ProjectChanges())).id == project.id
    await modify_project(uow, project.id, lambda p: ProjectChanges(name=p.name))
    assert committed() == before


async def test_modify_project_writes_nothing_when_the_change_raises(
    uow: MemoryUnitOfWork, project: Project, committed: Committed
) -> None:
    """What the change function raises propagates, and nothing is written."""

    def refuse(project: Project) -> ProjectChanges:
        raise LookupError("no quota left")

    before = committed()
    with pytest.raises(LookupError, match="quota"):
        await modify_project(uow, project.id, refuse)
    assert committed() == before


async def test_modify_project_only_writes_what_the_change_returns(
    db: MemoryDatabase, uow: MemoryUnitOfWork, project: Project, committed: Committed
) -> None:
    """A change function that mutates the project it is given changes nothing stored."""

    def mutate(project: Project) -> ProjectChanges:
        project.name = "Mutated in place"
        return ProjectChanges()

    before = committed()
    await modify_project(uow, project.id, mutate)
    assert committed() == before
    async with MemoryUnitOfWork(db, system=True) as fresh:
        stored = await fresh.projects.find_by_id(project.id)
    assert stored is not None and stored.name == project.name


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: {"name": "A dict"}, "change"),
        (lambda p: None, "change"),
        (lambda p: ProjectChanges(name=""), "name"),
        (lambda p: ProjectChanges(settings=cast(Any, {"analysis": None})), "settings"),
    ],
)
async def test_modify_project_rejects_what_is_no_valid_change(
    uow: MemoryUnitOfWork,
    project: Project,
    committed: Committed,
    change: Callable[[Project], Any],
    field: str,
) -> None:
    """A change function returning something other than valid ProjectChanges raises a
    ValidationError naming the field, and nothing is written."""
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await modify_project(uow, project.id, change)
    assert caught.value.field == field
    assert committed() == before


async def test_modify_project_needs_a_function_and_an_existing_project(
    uow: MemoryUnitOfWork, project: Project
) -> None:
    """A change that is not callable raises ValidationError on ``change``; a missing
    project raises NotFoundError."""
    with pytest.raises(ValidationError) as caught:
        await modify_project(uow, project.id, ProjectChanges(name="X"))  # type: ignore[arg-type]
    assert caught.value.field == "change"
    with pytest.raises(NotFoundError):
        await modify_project(uow, ProjectId(new_id()), _count_one)


def _critical_only(settings: OrganizationSettings) -> OrganizationSettings:
    preferences = attrs.evolve(settings.notification_preferences, min_severity=Severity.CRITICAL)
    return attrs.evolve(settings, notification_preferences=preferences)


async def test_modify_organization_settings_changes_the_stored_settings(
    db: MemoryDatabase, uow: MemoryUnitOfWork
) -> None:
    """The change function gets the stored settings; what it returns is stored, the other
    settings kept."""
    organization = await register_organization(uow, name="Acme", slug="acme")
    updated = await modify_organization_settings(uow, organization.id, _critical_only)
    expected = attrs.evolve(
        organization.settings,
        notification_preferences=NotificationPreferences(min_severity=Severity.CRITICAL),
    )
    assert updated.settings == expected
    async with MemoryUnitOfWork(db, system=True) as fresh:
        stored = await fresh.organizations.find_by_id(organization.id)
    assert stored is not None and stored.settings == expected


async def test_modify_organization_settings_without_change_writes_nothing(
    uow: MemoryUnitOfWork, committed: Committed
) -> None:
    """Settings returned unchanged: nothing written."""
    organization = await register_organization(uow, name="Acme", slug="acme")
    before = committed()
    await modify_organization_settings(uow, organization.id, lambda s: s)
    assert committed() == before


async def test_modify_organization_settings_rejects_bad_changes(
    uow: MemoryUnitOfWork, committed: Committed
) -> None:
    """A change that is not callable, or returns no OrganizationSettings, raises a
    ValidationError; a missing organization NotFoundError; nothing is written."""
    organization = await register_organization(uow, name="Acme", slug="acme")
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await modify_organization_settings(uow, organization.id, cast(Any, lambda s: {"x": 1}))
    assert caught.value.field == "settings"
    with pytest.raises(ValidationError) as caught:
        await modify_organization_settings(uow, organization.id, None)  # type: ignore[arg-type]
    assert caught.value.field == "change"
    with pytest.raises(NotFoundError):
        await modify_organization_settings(uow, OrganizationId(new_id()), _critical_only)
    assert committed() == before
