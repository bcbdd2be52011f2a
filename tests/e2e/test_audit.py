"""``codeant audit``: an indexed repository's changes, with their actor, and a trail whose
tampering ``codeant audit verify`` finds."""

from __future__ import annotations

import getpass
from pathlib import Path

import psycopg

from tests.e2e.cli import Cli, index
from tests.e2e.sample_repo import build_sample_repo


def test_index_is_audited_and_the_trail_verifies(cli: Cli, tmp_path: Path) -> None:
    """After ``codeant index``, the trail names the command's user as the actor of the
    project it created and counts the results per job; it verifies; an entry changed in
    the database makes ``audit verify`` exit 1 and say which."""
    repo = build_sample_repo(tmp_path / "orders-service", tmp_path / "git-home")
    index(cli, repo)

    projects = cli.json("audit", "--entity", "projects")
    assert projects and all(e["actor"] == f"cli:{getpass.getuser()}" for e in projects)
    assert projects[-1]["action"] == "insert"
    results = cli.json("audit", "--entity", "analysis_results")
    assert results and all(set(e["after"]) == {"rows"} for e in results)

    report = cli.json("audit", "verify")
    assert report["intact"] is True
    assert all(chain["problem"] is None for chain in report["chains"])

    with psycopg.connect(cli.database_url) as conn:
        conn.execute(
            "UPDATE audit_log SET actor = 'someone else'"
            " WHERE organization_id IS NOT NULL AND sequence = 2"
        )
    done = cli.run("audit", "verify")
    assert done.returncode == 1, done
    assert "entry 2 was changed after it was recorded" in done.stdout
    assert done.stderr.strip().splitlines() == ["codeant: error: 1 audit chain is broken"]
