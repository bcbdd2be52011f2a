"""The contention comparison at a tiny size, so that its command keeps working."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.postgres import MigrationRunner
from tests.load.contention import PATTERNS, run_contention
from tests.servers import scratch_database


@pytest.fixture(scope="module")
def database(postgres_server_url: str) -> Iterator[str]:
    with scratch_database(postgres_server_url, prefix="codeant_contention") as url:
        MigrationRunner(url).upgrade()
        yield url


@pytest.mark.parametrize("pattern", list(PATTERNS))
async def test_contended_increments_are_never_lost(database: str, pattern: str) -> None:
    """Sixty increments on two projects: the stored counters add up to the calls that
    succeeded; with modify_project, every call succeeds."""
    report = await run_contention(database, pattern, increments=60, projects=2, pool_size=6)
    assert report.lost_updates == 0
    assert report.attempts >= report.succeeded > 0
    if pattern == "modify_project":
        assert report.succeeded == report.calls
