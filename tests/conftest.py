"""Session-wide servers for the suites that need one.

``postgres_server_url`` is a PostgreSQL server (see tests/servers.py for the order in which
one is chosen); ``migrated_database_url`` a database on it with every migration applied,
created for the session and dropped after it. Fixtures that cannot get a server skip
their tests with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import postgres_server, scratch_database, stop_leftover_servers


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No embedded server (nor its idle supervisor) outlives the test run."""
    for pgdata in stop_leftover_servers():
        print(f"\nstopped an embedded server a test left running: {pgdata}")


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    try:
        url, stop = postgres_server()
    except Exception as exc:  # no server can be had here: say why and skip
        pytest.skip(f"no PostgreSQL server available: {exc}")
    try:
        yield url
    finally:
        stop()


@pytest.fixture(scope="session")
def migrated_database_url(postgres_server_url: str) -> Iterator[str]:
    from adapters.postgres import MigrationRunner

    with scratch_database(postgres_server_url, prefix="codeant_contract") as url:
        MigrationRunner(url).upgrade()
        yield url
