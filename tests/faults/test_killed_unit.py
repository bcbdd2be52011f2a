"""A process killed between two writes of one unit of work leaves neither write."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest

from adapters.postgres import MigrationRunner
from tests.servers import scratch_database

_WRITER = """
import asyncio, sys
from adapters.postgres import PostgresUnitOfWork, open_pool
from domain.organizations import Organization

async def main(url):
    async with open_pool(url) as pool, PostgresUnitOfWork(pool, system=True) as uow:
        await uow.organizations.create(Organization(name="First", slug="first"))
        print("written", flush=True)
        await asyncio.sleep(60)
        await uow.organizations.create(Organization(name="Second", slug="second"))
        await uow.commit()

asyncio.run(main(sys.argv[1]))
"""


@pytest.fixture
def database(postgres_server_url: str) -> Iterator[str]:
    with scratch_database(postgres_server_url, prefix="codeant_killed") as url:
        MigrationRunner(url).upgrade()
        yield url


def test_a_unit_killed_before_commit_leaves_nothing(database: str) -> None:
    """SIGKILL after the first write and before the second: no row of the unit exists, and
    the first row's unique slug is free again (its transaction was rolled back, not left
    hanging)."""
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER, database], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "written"
        process.kill()
    finally:
        process.wait(10)
    with psycopg.connect(database) as conn:
        conn.execute("SET lock_timeout = '10s'")
        assert conn.execute("SELECT slug FROM organizations").fetchall() == []
        conn.execute("INSERT INTO organizations (name, slug) VALUES ('Again', 'first')")
        conn.commit()
        assert conn.execute("SELECT slug FROM organizations").fetchall() == [("first",)]
