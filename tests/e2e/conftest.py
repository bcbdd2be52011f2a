"""Fixtures of the end-to-end tests: ``codeant`` on a scratch database of the session's
PostgreSQL server (see tests/e2e/cli.py), and the sample repository indexed by it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli import Cli, Indexed, cli_for, index
from tests.e2e.sample_repo import build_sample_repo


@pytest.fixture(scope="module")
def indexed(
    postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Indexed]:
    """The sample repository indexed into a fresh database, shared by a module's tests."""
    directory = tmp_path_factory.mktemp("indexed")
    repo = build_sample_repo(directory / "orders-service", directory / "git-home")
    with cli_for(postgres_server_url, directory / "cli") as cli:
        yield Indexed(repo=repo, cli=cli, summary=index(cli, repo))


@pytest.fixture
def cli(postgres_server_url: str, tmp_path: Path) -> Iterator[Cli]:
    """``codeant`` on a fresh scratch database, for one test."""
    with cli_for(postgres_server_url, tmp_path / "cli") as fresh:
        yield fresh
