"""Every service, in a unit of work opened for another organization than the one its ids
belong to, answers as if they did not exist, and writes nothing."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from application import organizations
from ports.errors import NotFoundError
from tests.bad_input import CALLS, World, make_world

# Services that name no row of an organization, or read across the ones the unit sees:
# given the other organization's unit, they are not asked about the world's rows.
NOT_TENANT_BOUND = {
    "register_user": "users belong to no organization",
    "register_organization": "it creates an organization of its own",
    "register_rules": "the rule catalogue belongs to no organization",
    "bump_version": "a cache token names no row",
    "find_similar_code": "it reads the vector store, filtered by the organization it is given",
    "index_code_units": "it writes the vector store from the units it is given",
    "remove_file_units": "it deletes points of the vector store, by file",
    "remove_project_units": "it deletes points of the vector store, by project",
    "verify_audit_trail": "it checks the chains the unit sees (none of the world's)",
    "index_repository": "it indexes a directory, finding or creating its project by name",
}


def nothing(answer: Any) -> bool:
    """Whether ``answer`` says nothing was found: empty, or a report of zero counts."""
    if attrs.has(type(answer)):
        return all(not v for v in attrs.asdict(answer, recurse=False).values())
    return not answer


async def other_world() -> World:
    world = await make_world()
    stranger = await organizations.register_organization(world.uow(), name="Globex", slug="globex")
    world.scope = stranger.id
    return world


@pytest.mark.parametrize("name", sorted(set(CALLS) - set(NOT_TENANT_BOUND)))
async def test_another_organizations_ids_are_not_found(name: str) -> None:
    """The service raises NotFoundError (or finds nothing) and nothing is written."""
    world = await other_world()
    fn, kwargs = CALLS[name](world)
    before = dict(world.db.versions), len(world.db.outbox)
    try:
        answer = await fn(**kwargs)
    except NotFoundError:
        pass
    else:
        assert nothing(answer), f"{name} answered {answer!r} from another organization's rows"
    assert (dict(world.db.versions), len(world.db.outbox)) == before


def test_every_exemption_names_a_service() -> None:
    """The exemptions stay in step with the services."""
    assert set(NOT_TENANT_BOUND) <= set(CALLS)
