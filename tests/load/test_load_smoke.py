"""The load test at a tiny size, so that its command keeps working."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.postgres import MigrationRunner
from tests.load.run import run_load
from tests.servers import scratch_database


@pytest.fixture
def database(postgres_server_url: str) -> Iterator[str]:
    with scratch_database(postgres_server_url, prefix="codeant_load") as url:
        MigrationRunner(url).upgrade()
        yield url


async def test_a_small_load_has_no_errors_and_no_lost_updates(database: str) -> None:
    """200 operations, 50 at a time, through the services: every one succeeds and every
    concurrent increment of the shared counters lands."""
    report = await run_load(database, operations=200, concurrency=50, pool_size=10, counters=3)
    assert report.errors == 0, report.error_samples
    assert report.lost_updates == 0
    assert sum(report.by_kind.values()) == 200
    assert 0 < report.max_pool_in_use <= 10
