"""Contract of BranchRepository: replace_all makes a repository's branches exactly the given
ones, keeping the identity of known names; names are unique per repository."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import pytest

from domain.ids import BranchId, RepositoryId, new_id
from domain.projects import RepositoryBranch
from ports.errors import NotFoundError, ValidationError
from tests.contract.builders import at, branch, commit_hash, read, scaffold
from tests.contract.conftest import Backend


async def replace_all(
    backend: Backend, repository_id: RepositoryId, branches: Sequence[RepositoryBranch]
) -> list[RepositoryBranch]:
    async with backend.uow() as uow:
        stored = await uow.branches.replace_all(repository_id, branches)
        await uow.commit()
    return stored


def by_name(branches: Iterable[RepositoryBranch]) -> dict[str, dict[str, Any]]:
    return {b.name: attrs.asdict(b) for b in branches}


async def test_replace_all_stores_new_branches_and_returns_them_sorted_by_name(
    backend: Backend,
) -> None:
    """New branches are stored with every field and returned sorted by name."""
    repo = (await scaffold(backend)).repository
    given = [
        branch(repo.id, "main", is_default=True, is_protected=True, last_commit_at=at(3)),
        branch(repo.id, "develop", created_at=at(1)),
        branch(repo.id, "feature-x"),
    ]

    stored = await replace_all(backend, repo.id, given)

    assert [b.name for b in stored] == ["develop", "feature-x", "main"]
    assert by_name(stored) == by_name(given)
    listed = await read(backend, lambda uow: uow.branches.list_by_repository(repo.id))
    assert by_name(listed) == by_name(given)


async def test_replace_all_updates_known_names_in_place_and_deletes_missing_ones(
    backend: Backend,
) -> None:
    """Known names keep their id and created_at and take the new fields; absent names are
    deleted; new names are inserted."""
    repo = (await scaffold(backend)).repository
    main, old = branch(repo.id, "main", created_at=at(0)), branch(repo.id, "old")
    await replace_all(backend, repo.id, [main, old])
    moved = branch(repo.id, "main", commit_hash=commit_hash("moved"), last_commit_at=at(7))
    fresh = branch(repo.id, "fresh")

    stored = await replace_all(backend, repo.id, [moved, fresh])

    expected_main = attrs.evolve(moved, id=main.id, created_at=main.created_at)
    assert by_name(stored) == by_name([expected_main, fresh])
    listed = await read(backend, lambda uow: uow.branches.list_by_repository(repo.id))
    assert by_name(listed) == by_name([expected_main, fresh])
    assert await read(backend, lambda uow: uow.branches.find_by_name(repo.id, "old")) is None


async def test_find_by_name_and_list_are_scoped_to_the_repository(backend: Backend) -> None:
    """A branch is found by name only in its own repository."""
    mine, theirs = (await scaffold(backend)).repository, (await scaffold(backend)).repository
    main = branch(mine.id, "main")
    await replace_all(backend, mine.id, [main])
    await replace_all(backend, theirs.id, [branch(theirs.id, "other")])

    found = await read(backend, lambda uow: uow.branches.find_by_name(mine.id, "main"))
    assert found is not None

    assert attrs.asdict(found) == attrs.asdict(main)
    assert await read(backend, lambda uow: uow.branches.find_by_name(theirs.id, "main")) is None
    listed = await read(backend, lambda uow: uow.branches.list_by_repository(mine.id))
    assert [b.id for b in listed] == [main.id]


async def test_a_repeated_name_raises_validation_error_and_changes_nothing(
    backend: Backend,
) -> None:
    """replace_all with two branches of the same name is refused, keeping the old set."""
    repo = (await scaffold(backend)).repository
    main = branch(repo.id, "main")
    await replace_all(backend, repo.id, [main])

    with pytest.raises(ValidationError, match="name"):
        await replace_all(backend, repo.id, [branch(repo.id, "dev"), branch(repo.id, "dev")])

    listed = await read(backend, lambda uow: uow.branches.list_by_repository(repo.id))
    assert [b.id for b in listed] == [main.id]


async def test_branches_of_an_unknown_repository_raise_not_found(backend: Backend) -> None:
    """replace_all for a repository that does not exist raises NotFoundError."""
    missing = RepositoryId(new_id())

    with pytest.raises(NotFoundError):
        await replace_all(backend, missing, [branch(missing, "main")])


async def test_delete_removes_one_branch_and_an_unknown_id_raises_not_found(
    backend: Backend,
) -> None:
    """delete removes the branch with that id; deleting an unknown id raises NotFoundError."""
    repo = (await scaffold(backend)).repository
    main, dev = branch(repo.id, "main"), branch(repo.id, "dev")
    await replace_all(backend, repo.id, [main, dev])

    async with backend.uow() as uow:
        await uow.branches.delete(dev.id)
        await uow.commit()
    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.branches.delete(BranchId(new_id()))

    listed = await read(backend, lambda uow: uow.branches.list_by_repository(repo.id))
    assert [b.id for b in listed] == [main.id]
