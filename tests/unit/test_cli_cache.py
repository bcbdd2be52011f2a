"""The command line reads the database, never the cache: a configured cache changes what
commands write (they invalidate it), not what they read."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from adapters.cli.main import main
from adapters.config import Settings
from adapters.container import Container, build_container
from adapters.memory.database import MemoryDatabase
from adapters.memory.unit_of_work import MemoryUnitOfWork
from application import create_project, register_organization, update_project
from tests.unit.fakes import FailingCache


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "empty.toml"
    config.write_text("")
    return {"HOME": str(tmp_path), "CODEANT_CONFIG": str(config), "CODEANT_BACKEND": "memory"}


@pytest.fixture
def database() -> MemoryDatabase:
    """A store with one project, renamed once."""
    db = MemoryDatabase()

    async def fill() -> None:
        organization = await register_organization(MemoryUnitOfWork(db), name="Acme", slug="acme")
        project = await create_project(
            MemoryUnitOfWork(db),
            organization.id,
            name="Billing",
            slug="billing",
            repository_url="x",
        )
        await update_project(MemoryUnitOfWork(db), project.id, name="Invoicing")

    asyncio.run(fill())
    return db


def test_report_and_projects_read_the_database_not_the_cache(environ, database, capsys):
    """With a cache configured, report and projects answer from the database and never
    ask the cache."""
    cache = FailingCache()

    def factory(settings: Settings) -> Container:
        container = build_container(settings)
        container.memory_database.override(database)
        container.cache.override(cache)
        return container

    assert main(["projects", "--json"], environ=environ, container_factory=factory) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert main(["report", "billing", "--json"], environ=environ, container_factory=factory) == 0
    report = json.loads(capsys.readouterr().out)

    assert (listed["project"], listed["name"]) == ("billing", "Invoicing")
    assert report["project"] == "billing"
    assert cache.asked == []
