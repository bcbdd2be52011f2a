"""The command line reads the database, never the cache: a configured cache changes what
commands write (they invalidate it, once per change), not what they read."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from adapters.cli.main import main
from adapters.config import Settings
from adapters.container import Container, build_container
from adapters.memory.cache import MemoryCache
from adapters.memory.database import MemoryDatabase
from adapters.memory.unit_of_work import MemoryUnitOfWork
from application import create_project, register_organization, update_project
from application.invalidation import stale_keys
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
        organization = await register_organization(
            MemoryUnitOfWork(db, system=True), name="Acme", slug="acme"
        )
        project = await create_project(
            MemoryUnitOfWork(db, system=True),
            organization.id,
            name="Billing",
            slug="billing",
            repository_url="x",
        )
        await update_project(MemoryUnitOfWork(db, system=True), project.id, name="Invoicing")

    asyncio.run(fill())
    return db


def test_report_and_projects_read_the_database_not_the_cache(
    environ: dict[str, str], database: MemoryDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
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


class RecordingCache(MemoryCache):
    """An in-process cache that records the keys it is asked to set."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[str] = []

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        self.written.append(key)
        await super().set(key, value, ttl=ttl)


def test_index_invalidates_each_change_once(
    environ: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """codeant index hands each event to the invalidation once: the events its commits
    handled are acknowledged, not delivered again by the relay pass that ends it."""
    repository = tmp_path / "repo"
    repository.mkdir()
    (repository / "app.py").write_text("def main():\n    return 1\n")
    for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "first"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *command],
            cwd=repository,
            check=True,
        )
    cache = RecordingCache()
    database = MemoryDatabase()

    def factory(settings: Settings) -> Container:
        container = build_container(settings)
        container.memory_database.override(database)
        container.cache.override(cache)
        return container

    assert (
        main(["index", str(repository), "--json"], environ=environ, container_factory=factory) == 0
    )

    events = [record.event for record in database.outbox]
    expected = [key for event in events for key in stale_keys(event)[0]]
    assert sorted(k for k in cache.written if ":version:" in k) == sorted(expected)
    assert all(record.delivered_at is not None for record in database.outbox)
