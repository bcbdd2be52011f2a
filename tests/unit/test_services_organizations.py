"""Services of organizations, users and memberships, against the in-memory store."""

from __future__ import annotations

import pytest

from adapters.memory.database import MemoryDatabase
from adapters.memory.unit_of_work import MemoryUnitOfWork
from application import (
    add_member,
    change_member_role,
    register_organization,
    register_user,
    remove_member,
    update_organization_settings,
)
from domain.enums import MemberRole, Severity
from domain.errors import ValidationError
from domain.events import MemberAdded, MemberRemoved, OrganizationRegistered
from domain.ids import OrganizationId, UserId, new_id
from domain.organizations import Organization, User
from domain.values import NotificationPreferences, OrganizationSettings
from ports.errors import DuplicateError, NotFoundError
from tests.unit.fakes import Committed, Events


async def _user(uow: MemoryUnitOfWork, name: str) -> User:
    return await register_user(
        uow, email=f"{name}@example.com", username=name, password_hash="argon2$hash"
    )


async def _org_with_owner(uow: MemoryUnitOfWork) -> tuple[Organization, User]:
    owner = await _user(uow, "olivia")
    organization = await register_organization(uow, name="Acme", slug="acme", owner_id=owner.id)
    return organization, owner


async def test_register_user_stores_the_email_lower_cased(
    db: MemoryDatabase, uow: MemoryUnitOfWork
) -> None:
    """A registered user is found by the lower-cased form of the e-mail given."""
    user = await register_user(
        uow, email="Ada.Lovelace@Example.COM", username="ada", password_hash="argon2$hash"
    )
    async with MemoryUnitOfWork(db, system=True) as fresh:
        stored = await fresh.users.find_by_email("ada.lovelace@example.com")
    assert stored is not None
    assert stored.id == user.id
    assert stored.email == "ada.lovelace@example.com"


@pytest.mark.parametrize(
    ("email", "username", "field"),
    [("ADA@example.com", "someone-else", "email"), ("other@example.com", "ada", "username")],
)
async def test_register_user_refuses_a_taken_email_or_username(
    uow: MemoryUnitOfWork, committed: Committed, email: str, username: str, field: str
) -> None:
    """A second user with the same e-mail (in any case) or username raises DuplicateError."""
    await register_user(uow, email="ada@example.com", username="ada", password_hash="h")
    before = committed()
    with pytest.raises(DuplicateError) as caught:
        await register_user(uow, email=email, username=username, password_hash="h")
    assert caught.value.key == field
    assert committed() == before


async def test_register_user_rejects_a_malformed_email(
    uow: MemoryUnitOfWork, committed: Committed
) -> None:
    """An e-mail without a domain raises ValidationError on ``email`` and writes nothing."""
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await register_user(uow, email="not-an-email", username="ada", password_hash="h")
    assert caught.value.field == "email"
    assert committed() == before


async def test_register_organization_with_owner_adds_an_owner_member(
    db: MemoryDatabase, uow: MemoryUnitOfWork, events: Events
) -> None:
    """The owner given becomes an OWNER member, announced with the registration."""
    organization, owner = await _org_with_owner(uow)
    async with MemoryUnitOfWork(db, system=True) as fresh:
        stored = await fresh.organizations.find_by_slug("acme")
        member = await fresh.members.find(organization.id, owner.id)
    assert stored is not None and stored.id == organization.id
    assert member is not None and member.role is MemberRole.OWNER
    published = await events()
    assert [type(e) for e in published] == [OrganizationRegistered, MemberAdded]
    registered, added = published
    assert isinstance(registered, OrganizationRegistered) and isinstance(added, MemberAdded)
    assert registered.organization_id == organization.id
    assert added.user_id == owner.id
    assert added.role is MemberRole.OWNER


async def test_register_organization_with_a_missing_owner_writes_nothing(
    uow: MemoryUnitOfWork, committed: Committed
) -> None:
    """An owner that does not exist raises NotFoundError and no organization is created."""
    before = committed()
    with pytest.raises(NotFoundError) as caught:
        await register_organization(uow, name="Acme", slug="acme", owner_id=UserId(new_id()))
    assert caught.value.entity == "user"
    assert committed() == before


async def test_register_organization_rejects_a_bad_slug(
    uow: MemoryUnitOfWork, committed: Committed
) -> None:
    """A slug with capitals and spaces raises ValidationError on ``slug``."""
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await register_organization(uow, name="Acme", slug="Acme Corp")
    assert caught.value.field == "slug"
    assert committed() == before


async def test_add_member_stores_the_membership_and_announces_it(
    db: MemoryDatabase, uow: MemoryUnitOfWork, events: Events
) -> None:
    """A user added to an organization is a member with the role given (MemberAdded)."""
    organization, _ = await _org_with_owner(uow)
    bob = await _user(uow, "bob")
    await add_member(uow, organization.id, bob.id, role=MemberRole.ADMIN)
    async with MemoryUnitOfWork(db, system=True) as fresh:
        member = await fresh.members.find(organization.id, bob.id)
    assert member is not None and member.role is MemberRole.ADMIN
    last = (await events())[-1]
    assert isinstance(last, MemberAdded)
    assert (last.user_id, last.role) == (bob.id, MemberRole.ADMIN)


async def test_add_member_twice_raises_duplicate_and_adds_no_event(
    uow: MemoryUnitOfWork, committed: Committed
) -> None:
    """Adding an existing member again raises DuplicateError; its event never reaches the
    outbox because the unit did not commit."""
    organization, owner = await _org_with_owner(uow)
    before = committed()
    with pytest.raises(DuplicateError):
        await add_member(uow, organization.id, owner.id)
    assert committed() == before


@pytest.mark.parametrize("missing", ["organization", "user"])
async def test_add_member_needs_an_existing_organization_and_user(
    uow: MemoryUnitOfWork, committed: Committed, missing: str
) -> None:
    """A missing organization or user raises NotFoundError naming it."""
    organization, _ = await _org_with_owner(uow)
    bob = await _user(uow, "bob")
    org_id = OrganizationId(new_id()) if missing == "organization" else organization.id
    user_id = UserId(new_id()) if missing == "user" else bob.id
    before = committed()
    with pytest.raises(NotFoundError) as caught:
        await add_member(uow, org_id, user_id)
    assert caught.value.entity.lower() == missing
    assert committed() == before


async def test_add_member_rejects_an_unknown_role(
    uow: MemoryUnitOfWork, committed: Committed
) -> None:
    """A role that is not a MemberRole raises ValidationError on ``role``."""
    organization, _ = await _org_with_owner(uow)
    bob = await _user(uow, "bob")
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await add_member(uow, organization.id, bob.id, role="overlord")  # type: ignore[arg-type]
    assert caught.value.field == "role"
    assert committed() == before


async def test_demoting_the_last_owner_is_refused(
    db: MemoryDatabase, uow: MemoryUnitOfWork, committed: Committed
) -> None:
    """The only OWNER cannot be demoted: ValidationError on ``role``, role unchanged."""
    organization, owner = await _org_with_owner(uow)
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await change_member_role(uow, organization.id, owner.id, MemberRole.ADMIN)
    assert caught.value.field == "role"
    assert committed() == before


async def test_an_owner_can_be_demoted_when_another_owner_remains(
    db: MemoryDatabase, uow: MemoryUnitOfWork
) -> None:
    """With a second OWNER, the first can become an ADMIN."""
    organization, owner = await _org_with_owner(uow)
    bob = await _user(uow, "bob")
    await add_member(uow, organization.id, bob.id, role=MemberRole.OWNER)
    await change_member_role(uow, organization.id, owner.id, MemberRole.ADMIN)
    async with MemoryUnitOfWork(db, system=True) as fresh:
        member = await fresh.members.find(organization.id, owner.id)
    assert member is not None and member.role is MemberRole.ADMIN


async def test_removing_the_last_owner_is_refused(
    uow: MemoryUnitOfWork, committed: Committed
) -> None:
    """The only OWNER cannot be removed: ValidationError on ``user_id``, nothing written."""
    organization, owner = await _org_with_owner(uow)
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await remove_member(uow, organization.id, owner.id)
    assert caught.value.field == "user_id"
    assert committed() == before


async def test_remove_member_deletes_the_membership(
    db: MemoryDatabase, uow: MemoryUnitOfWork, events: Events
) -> None:
    """A removed member is no longer found, and MemberRemoved names them."""
    organization, _ = await _org_with_owner(uow)
    bob = await _user(uow, "bob")
    await add_member(uow, organization.id, bob.id)
    await remove_member(uow, organization.id, bob.id)
    async with MemoryUnitOfWork(db, system=True) as fresh:
        assert await fresh.members.find(organization.id, bob.id) is None
    last = (await events())[-1]
    assert isinstance(last, MemberRemoved)
    assert (last.organization_id, last.user_id) == (organization.id, bob.id)


async def test_remove_member_of_a_non_member_raises_not_found(uow: MemoryUnitOfWork) -> None:
    """Removing a user who is not a member raises NotFoundError."""
    organization, _ = await _org_with_owner(uow)
    bob = await _user(uow, "bob")
    with pytest.raises(NotFoundError):
        await remove_member(uow, organization.id, bob.id)


async def test_update_organization_settings_replaces_them(
    db: MemoryDatabase, uow: MemoryUnitOfWork
) -> None:
    """The settings given are the ones read back."""
    organization, _ = await _org_with_owner(uow)
    settings = OrganizationSettings(
        notification_preferences=NotificationPreferences(min_severity=Severity.CRITICAL)
    )
    await update_organization_settings(uow, organization.id, settings)
    async with MemoryUnitOfWork(db, system=True) as fresh:
        stored = await fresh.organizations.find_by_id(organization.id)
    assert stored is not None and stored.settings == settings


async def test_update_organization_settings_rejects_a_plain_dict(
    uow: MemoryUnitOfWork, committed: Committed
) -> None:
    """Settings that are not OrganizationSettings raise ValidationError on ``settings``."""
    organization, _ = await _org_with_owner(uow)
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await update_organization_settings(uow, organization.id, {"x": 1})  # type: ignore[arg-type]
    assert caught.value.field == "settings"
    assert committed() == before
