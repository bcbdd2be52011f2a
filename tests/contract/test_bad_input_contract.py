"""Bad input against both adapters: values no argument may take are refused before any
write, and the largest values the limits allow are stored and read back whole, on
PostgreSQL as in memory (never reported as an outage)."""

from __future__ import annotations

from typing import Any

import pytest

from application import create_project, search_everything, search_projects, update_project
from domain.errors import ValidationError
from domain.validation import MAX_TEXT
from ports.pagination import PageRequest
from tests.bad_input import BAD_VALUES
from tests.contract.builders import scaffold
from tests.contract.conftest import Backend


async def _project_count(backend: Backend, organization_id: Any) -> int:
    async with backend.uow() as uow:
        page = await uow.projects.list_by_organization(organization_id, PageRequest(limit=100))
    return len(page.items)


@pytest.mark.parametrize(("what", "value"), BAD_VALUES, ids=[w for w, _ in BAD_VALUES])
async def test_a_bad_value_is_refused_and_nothing_is_written(
    backend: Backend, what: str, value: Any
) -> None:
    """create_project and update_project refuse a bad description or name with a
    ValidationError naming it, and the store holds what it held."""
    base = await scaffold(backend)
    before = await _project_count(backend, base.organization.id)
    with pytest.raises(ValidationError, match="description"):
        await create_project(
            backend.uow(), base.organization.id, name="Shop", slug="shop",
            repository_url="https://git.example.com/shop.git", description=value,
        )  # fmt: skip
    with pytest.raises(ValidationError, match="name"):
        await update_project(backend.uow(), base.project.id, name=value)
    assert await _project_count(backend, base.organization.id) == before
    async with backend.uow() as uow:
        stored = await uow.projects.find_by_id(base.project.id)
    assert stored is not None and stored.name == base.project.name


async def test_the_longest_text_allowed_is_stored_whole(backend: Backend) -> None:
    """A description of the most characters the limit allows, with characters outside
    the Basic Multilingual Plane, is stored and read back unchanged."""
    base = await scaffold(backend)
    description = ("résumé 😀 " * MAX_TEXT)[:MAX_TEXT]
    created = await create_project(
        backend.uow(), base.organization.id, name="Long", slug="long",
        repository_url="https://git.example.com/long.git", description=description,
    )  # fmt: skip
    async with backend.uow() as uow:
        stored = await uow.projects.find_by_id(created.id)
    assert stored is not None and stored.description == description


@pytest.mark.parametrize("length", [1_000, MAX_TEXT])
async def test_a_long_search_is_answered_or_refused_never_an_outage(
    backend: Backend, length: int
) -> None:
    """Searching with a very long text gives hits (none here) or a ValidationError
    naming the text, never an UnavailableError."""
    base = await scaffold(backend)
    text = ("parser " * length)[:length]
    for search in (
        lambda: search_projects(backend.uow(), text, organization_id=base.organization.id),
        lambda: search_everything(backend.uow(), text, organization_id=base.organization.id),
    ):
        try:
            await search()
        except ValidationError as exc:
            assert exc.field == "text", exc
