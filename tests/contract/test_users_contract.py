"""Contract of UserRepository: round trips, unique e-mail and username, optimistic
concurrency, the active filter and keyset pagination."""

from __future__ import annotations

from collections.abc import Awaitable

import attrs
import pytest

from domain.ids import UserId, new_id
from domain.organizations import User
from ports.errors import ConcurrencyError, DuplicateError, NotFoundError
from ports.pagination import Page, PageRequest
from ports.repositories import USER_SORTS
from ports.unit_of_work import UnitOfWork
from tests.contract.builders import at, fields_of, read, store, token, user
from tests.contract.conftest import Backend
from tests.contract.paging import assert_keyset_pagination, assert_rejects_bad_requests


def list_all_users(uow: UnitOfWork, request: PageRequest) -> Awaitable[Page[User]]:
    return uow.users.list(request, active_only=False)


async def test_create_then_find_round_trips_every_field(backend: Backend) -> None:
    """A user reads back by id, e-mail and username with every field, preferences included."""
    person = user(
        full_name="Ada Lovelace",
        avatar_url="https://example.com/ada.png",
        email_verified=True,
        is_active=True,
        preferences={"theme": "dark", "editor": {"tab_width": 4, "wrap": False}, "langs": ["py"]},
        created_at=at(0),
        updated_at=at(1),
        last_login_at=at(2),
    )
    await store(backend, person)

    for query in (
        lambda uow: uow.users.find_by_id(person.id),
        lambda uow: uow.users.find_by_email(person.email),
        lambda uow: uow.users.find_by_username(person.username),
    ):
        found = await read(backend, query)
        assert found is not None
        assert attrs.asdict(found) == attrs.asdict(person)


async def test_lookups_of_unknown_users_return_none(backend: Backend) -> None:
    """Finding an id, e-mail or username that was never stored returns None."""
    await store(backend, user())

    assert await read(backend, lambda uow: uow.users.find_by_id(UserId(new_id()))) is None
    assert await read(backend, lambda uow: uow.users.find_by_email("no@example.com")) is None
    assert await read(backend, lambda uow: uow.users.find_by_username("nobody")) is None


@pytest.mark.parametrize("shared", ["email", "username"])
async def test_duplicate_email_or_username_raises_duplicate_error(
    backend: Backend, shared: str
) -> None:
    """A second user sharing an e-mail or a username is refused and not stored."""
    first = user()
    await store(backend, first)
    clash = user(**{shared: getattr(first, shared)})

    with pytest.raises(DuplicateError):
        await store(backend, clash)

    assert await read(backend, lambda uow: uow.users.find_by_id(clash.id)) is None


async def test_update_returns_the_stored_entity_with_a_newer_updated_at(backend: Backend) -> None:
    """update stores the changes and returns them with an updated_at later than before."""
    person = user(created_at=at(0), updated_at=at(0))
    await store(backend, person)
    changed = attrs.evolve(person, full_name="Grace Hopper", preferences={"theme": "light"})

    async with backend.uow() as uow:
        updated = await uow.users.update(changed)
        await uow.commit()

    assert updated.updated_at > person.updated_at
    assert fields_of(updated, "updated_at") == fields_of(changed, "updated_at")
    found = await read(backend, lambda uow: uow.users.find_by_id(person.id))
    assert found is not None
    assert attrs.asdict(found) == attrs.asdict(updated)


async def test_update_to_a_taken_email_raises_duplicate_error(backend: Backend) -> None:
    """Changing a user's e-mail to another user's is refused and changes nothing."""
    first, second = user(), user()
    await store(backend, first, second)

    with pytest.raises(DuplicateError):
        async with backend.uow() as uow:
            await uow.users.update(attrs.evolve(second, email=first.email))
            await uow.commit()

    found = await read(backend, lambda uow: uow.users.find_by_id(second.id))
    assert found is not None
    assert found.email == second.email


async def test_update_with_a_stale_entity_raises_concurrency_error(backend: Backend) -> None:
    """Updating from a copy read before another update raises ConcurrencyError."""
    person = user()
    await store(backend, person)
    async with backend.uow() as uow:
        await uow.users.update(attrs.evolve(person, full_name="First"))
        await uow.commit()

    with pytest.raises(ConcurrencyError):
        async with backend.uow() as uow:
            await uow.users.update(attrs.evolve(person, full_name="Second"))
            await uow.commit()

    found = await read(backend, lambda uow: uow.users.find_by_id(person.id))
    assert found is not None
    assert found.full_name == "First"


async def test_update_of_an_unknown_user_raises_not_found(backend: Backend) -> None:
    """Updating a user that was never stored raises NotFoundError."""
    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.users.update(user())


async def test_list_skips_inactive_users_unless_asked(backend: Backend) -> None:
    """By default only active users are listed; active_only=False lists everyone."""
    active, inactive = user(is_active=True), user(is_active=False)
    await store(backend, active, inactive)

    default = await read(backend, lambda uow: uow.users.list(PageRequest()))
    everyone = await read(backend, lambda uow: uow.users.list(PageRequest(), active_only=False))

    assert [u.id for u in default] == [active.id]
    assert {u.id for u in everyone} == {active.id, inactive.id}


async def test_list_pages_through_every_sort_in_keyset_order(backend: Backend) -> None:
    """Listing yields every user once, in (sort field, id) order, for each sort."""
    tag = token()
    minutes = [3, 0, 0, 1, 2, 2, 4]
    people = [
        user(
            username=f"u{tag}{(7 - i):02d}",
            email=f"m{i:02d}{tag}@example.com",
            created_at=at(m),
            updated_at=at(m),
            is_active=i % 3 != 0,
        )
        for i, m in enumerate(minutes)
    ]
    await store(backend, *people)

    await assert_keyset_pagination(
        backend,
        list_all_users,
        people,
        {
            "created_at": lambda u: u.created_at,
            "username": lambda u: u.username,
            "email": lambda u: u.email,
        },
        offered=USER_SORTS,
    )


async def test_list_rejects_foreign_and_garbage_cursors_and_unknown_sorts(backend: Backend) -> None:
    """A cursor of another sort or direction, a garbage cursor and an unknown sort raise
    ValidationError."""
    await store(backend, user(), user())

    await assert_rejects_bad_requests(backend, list_all_users, offered=USER_SORTS)
