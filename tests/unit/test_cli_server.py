"""``codeant server`` and the embedded server's part in ``codeant health``, in-process,
where no server is started."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from adapters.cli.main import main
from adapters.config import Settings
from adapters.container import Container, build_container
from ports.health import HealthReport, HealthStatus


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    """An environment with an empty config file and a data directory of its own."""
    config = tmp_path / "empty.toml"
    config.write_text("")
    return {
        "HOME": str(tmp_path),
        "CODEANT_CONFIG": str(config),
        "CODEANT_DATA_DIR": str(tmp_path / "data"),
    }


def test_status_of_a_server_never_started_says_so_and_creates_nothing(
    environ: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``server status`` on a fresh data directory reports it not running, as text and
    as JSON, without starting or creating anything."""
    assert main(["server", "status"], environ=environ) == 0
    assert capsys.readouterr().out == (
        f"embedded PostgreSQL: not running (data directory {tmp_path / 'data' / 'postgres'})\n"
    )
    assert main(["server", "status", "--json"], environ=environ) == 0
    body = json.loads(capsys.readouterr().out)
    assert (body["embedded"], body["running"], body["pid"]) == (True, False, None)
    assert not (tmp_path / "data").exists()


def test_stop_of_a_server_that_is_not_running_succeeds(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``server stop`` with no server running says so and exits 0."""
    assert main(["server", "stop"], environ=environ) == 0
    assert "is not running" in capsys.readouterr().out


def test_with_a_configured_database_there_is_no_embedded_server(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """With CODEANT_DATABASE_URL set, ``server status`` says there is no embedded server
    (its password masked) and ``server stop`` is a usage error."""
    environ |= {"CODEANT_DATABASE_URL": "postgresql://app:s3cret@db.example:5432/codeant"}
    assert main(["server", "status", "--json"], environ=environ) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["embedded"] is False
    assert "s3cret" not in out
    assert main(["server", "stop"], environ=environ) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "codeant server stop: error: no embedded server: the database is configured"
    )
    assert len(err.splitlines()) == 1
    assert "s3cret" not in err


def test_the_memory_backend_has_no_server(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """On the memory backend ``server start`` is a usage error."""
    environ |= {"CODEANT_BACKEND": "memory"}
    assert main(["server", "start"], environ=environ) == 2
    assert "the memory backend has no server" in capsys.readouterr().err


def test_stop_refuses_a_bad_wait(environ: dict[str, str]) -> None:
    """``--wait`` takes a number of seconds above 0."""
    assert main(["server", "stop", "--wait", "soon"], environ=environ) == 2


def test_health_reports_an_embedded_server_that_cannot_start_as_its_error(
    environ: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """When the embedded server cannot start (its data directory lies under a file),
    ``health`` reports the database unhealthy with that error and exits 1: no traceback,
    no timeout message."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    environ |= {"CODEANT_DATA_DIR": str(blocker / "data")}
    assert main(["health", "--json"], environ=environ) == 1
    body = json.loads(capsys.readouterr().out)
    database = next(c for c in body["checks"] if c["component"] == "database")
    assert database["status"] == "unhealthy"
    assert "cannot start the embedded PostgreSQL" in database["error"]


class SlowToOpen:
    """A database that takes half a second to open (a first start), then answers at once."""

    embedded = True

    def __init__(self) -> None:
        self.opened = False

    async def pool(self) -> Any:
        if not self.opened:
            await asyncio.sleep(0.5)
            self.opened = True
        return self

    async def close(self) -> None:
        return None


@attrs.frozen
class DatabaseCheck:
    """A database probe that opens the database first, as the PostgreSQL one does."""

    database: SlowToOpen
    name: str = "database"

    async def check(self) -> HealthReport:
        await self.database.pool()
        return HealthReport(component=self.name, status=HealthStatus.HEALTHY, latency_ms=0.1)


def _slow_to_open(settings: Settings) -> Container:
    container = build_container(settings)
    database = SlowToOpen()
    container.postgres_database.override(database)
    container.health_checks.override([DatabaseCheck(database)])
    return container


@pytest.mark.parametrize(
    ("configured", "status"), [(False, "healthy"), (True, "unhealthy")], ids=["embedded", "url"]
)
def test_health_opens_the_embedded_server_before_timing_its_probes(
    environ: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    configured: bool,
    status: str,
) -> None:
    """An embedded database slower to open than ``--timeout`` is opened before the timed
    probe and reported healthy; a configured server that slow is still timed out."""
    environ |= {"CODEANT_VECTOR_BACKEND": "memory"}
    if configured:
        environ |= {"CODEANT_DATABASE_URL": "postgresql://app@db.example/codeant"}
    argv = ["health", "--json", "--timeout", "0.1"]
    main(argv, environ=environ, container_factory=_slow_to_open)
    body = json.loads(capsys.readouterr().out)
    [database] = body["checks"]
    assert database["status"] == status
