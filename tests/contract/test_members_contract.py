"""Contract of MemberRepository: memberships are unique per organization and user, need both
to exist, and page by joined_at."""

from __future__ import annotations

from collections.abc import Awaitable

import attrs
import pytest

from domain.ids import OrganizationId, UserId, new_id
from domain.organizations import OrganizationMember
from ports.errors import DuplicateError, NotFoundError
from ports.pagination import Page, PageRequest
from ports.repositories import MEMBER_SORTS
from ports.unit_of_work import UnitOfWork
from tests.contract.builders import at, member, organization, read, store, user
from tests.contract.conftest import Backend
from tests.contract.paging import assert_keyset_pagination, assert_rejects_bad_requests


async def test_add_then_find_round_trips_every_field(backend: Backend) -> None:
    """A membership reads back with its role, permissions, join date and inviter."""
    org, owner, person = organization(), user(), user()
    membership = member(
        org.id,
        person.id,
        role="admin",
        permissions={"projects.write": True, "billing.read": False},
        joined_at=at(3),
        invited_by=owner.id,
    )
    await store(backend, org, owner, person, membership)

    found = await read(backend, lambda uow: uow.members.find(org.id, person.id))
    assert found is not None

    assert attrs.asdict(found) == attrs.asdict(membership)
    assert await read(backend, lambda uow: uow.members.find(org.id, owner.id)) is None


async def test_second_membership_of_the_same_user_raises_duplicate_error(backend: Backend) -> None:
    """A user can be a member of an organization only once."""
    org, person = organization(), user()
    await store(backend, org, person, member(org.id, person.id))
    clash = member(org.id, person.id, role="viewer")

    with pytest.raises(DuplicateError):
        await store(backend, clash)

    found = await read(backend, lambda uow: uow.members.find(org.id, person.id))
    assert found is not None
    assert found.role == "member"


async def test_membership_of_an_unknown_organization_or_user_raises_not_found(
    backend: Backend,
) -> None:
    """Adding a member needs both the organization and the user to exist."""
    org, person = organization(), user()
    await store(backend, org, person)

    with pytest.raises(NotFoundError):
        await store(backend, member(OrganizationId(new_id()), person.id))
    with pytest.raises(NotFoundError):
        await store(backend, member(org.id, UserId(new_id())))


async def test_update_changes_role_and_permissions(backend: Backend) -> None:
    """update stores the new role and permissions of a membership."""
    org, person = organization(), user()
    membership = member(org.id, person.id)
    await store(backend, org, person, membership)
    changed = attrs.evolve(membership, role="owner", permissions={"admin": True})

    async with backend.uow() as uow:
        await uow.members.update(changed)
        await uow.commit()

    found = await read(backend, lambda uow: uow.members.find(org.id, person.id))
    assert found is not None
    assert attrs.asdict(found) == attrs.asdict(changed)


async def test_update_of_an_unknown_membership_raises_not_found(backend: Backend) -> None:
    """Updating a membership that was never added raises NotFoundError."""
    org, person = organization(), user()
    await store(backend, org, person)

    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.members.update(member(org.id, person.id))


async def test_remove_reports_whether_a_membership_was_removed(backend: Backend) -> None:
    """remove returns True and deletes an existing membership, then False."""
    org, person = organization(), user()
    await store(backend, org, person, member(org.id, person.id))

    async with backend.uow() as uow:
        assert await uow.members.remove(org.id, person.id) is True
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.members.remove(org.id, person.id) is False

    assert await read(backend, lambda uow: uow.members.find(org.id, person.id)) is None


async def test_list_by_user_returns_every_membership_of_the_user(backend: Backend) -> None:
    """A user's memberships across organizations are all listed, and only theirs."""
    first, second, person, other = organization(), organization(), user(), user()
    mine = [member(first.id, person.id), member(second.id, person.id, role="viewer")]
    await store(backend, first, second, person, other, *mine, member(first.id, other.id))

    listed = await read(backend, lambda uow: uow.members.list_by_user(person.id))

    assert {m.id: attrs.asdict(m) for m in listed} == {m.id: attrs.asdict(m) for m in mine}


async def test_list_by_organization_pages_by_joined_at(backend: Backend) -> None:
    """An organization's members page in (joined_at, id) order, and no one else's appear."""
    org, elsewhere = organization(), organization()
    people = [user() for _ in range(6)]
    memberships = [
        member(org.id, p.id, joined_at=at(m))
        for p, m in zip(people, [2, 0, 1, 1, 5, 2], strict=True)
    ]
    stranger = member(elsewhere.id, people[0].id)
    await store(backend, org, elsewhere, *people, *memberships, stranger)

    def fetch(uow: UnitOfWork, request: PageRequest) -> Awaitable[Page[OrganizationMember]]:
        return uow.members.list_by_organization(org.id, request)

    await assert_keyset_pagination(
        backend, fetch, memberships, {"joined_at": lambda m: m.joined_at}, offered=MEMBER_SORTS
    )
    await assert_rejects_bad_requests(backend, fetch, offered=MEMBER_SORTS)
