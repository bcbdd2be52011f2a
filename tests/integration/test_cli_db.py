"""``codeant db`` against a real PostgreSQL server, run in-process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from adapters.cli.main import main
from adapters.postgres.migrations import MigrationRunner
from tests.servers import scratch_database

LATEST = MigrationRunner("postgresql:///unused").latest_version


@pytest.fixture
def environ(postgres_server_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    config = tmp_path / "empty.toml"
    config.write_text("")
    with scratch_database(postgres_server_url, prefix="codeant_cli") as url:
        yield {
            "HOME": str(tmp_path),
            "CODEANT_CONFIG": str(config),
            "CODEANT_DATABASE_URL": url,
        }


def status(environ: dict[str, str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["db", "status", "--json"], environ=environ) == 0
    body: dict[str, object] = json.loads(capsys.readouterr().out)
    return body


def test_upgrade_status_downgrade_cycle(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """upgrade --to, upgrade, downgrade and downgrade --all move the recorded version as
    asked, with one progress line per migration on stderr."""
    assert status(environ, capsys)["current_version"] == 0
    assert main(["db", "upgrade", "--to", "2"], environ=environ) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "applying 0001_core_tables",
        "applying 0002_projects_and_files",
    ]
    assert status(environ, capsys)["current_version"] == 2
    assert main(["db", "upgrade"], environ=environ) == 0
    capsys.readouterr()
    assert status(environ, capsys)["current_version"] == LATEST
    assert main(["db", "downgrade"], environ=environ) == 0
    capsys.readouterr()
    assert status(environ, capsys)["current_version"] == LATEST - 1
    assert main(["db", "downgrade", "--all"], environ=environ) == 0
    capsys.readouterr()
    assert status(environ, capsys)["current_version"] == 0


def test_verify_exits_one_on_drift(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """verify exits 0 on a migrated database and 1, naming the difference, after drift."""
    assert main(["db", "upgrade"], environ=environ) == 0
    assert main(["db", "verify"], environ=environ) == 0
    capsys.readouterr()
    with psycopg.connect(environ["CODEANT_DATABASE_URL"], autocommit=True) as conn:
        conn.execute("DROP INDEX idx_users_active")
    assert main(["db", "verify", "--json"], environ=environ) == 1
    body = json.loads(capsys.readouterr().out)
    assert body["in_sync"] is False
    assert any("idx_users_active" in line for line in body["differences"])


def test_an_unknown_version_fails_with_the_known_ones(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """upgrade --to a version no migration has exits 1 and lists the known versions."""
    assert main(["db", "upgrade", "--to", "99"], environ=environ) == 1
    assert "known versions: 0, 1" in capsys.readouterr().err


def test_a_negative_version_is_a_usage_error(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A negative --to is rejected by the command line with exit 2."""
    assert main(["db", "downgrade", "--to", "-1"], environ=environ) == 2
    assert "must be a whole number of 0 or more" in capsys.readouterr().err
