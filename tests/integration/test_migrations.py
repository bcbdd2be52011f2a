"""The schema migrations on a real PostgreSQL server."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from adapters.postgres.migrations import (
    MigrationError,
    MigrationRunner,
    default_migrations_dir,
    upgrade_when_behind,
)
from adapters.postgres.schema import read_schema
from tests.servers import scratch_database

EXPECTED_TABLES = {
    "organizations", "users", "organization_members", "projects", "repositories",
    "repository_branches", "file_index", "analysis_jobs", "analysis_results", "code_metrics",
    "rules", "project_rule_configs", "outbox_events", "file_history",
    "audit_log", "audit_staging", "audit_chain_heads", "issues", "issue_changes",
    "new_code_periods", "quality_gates", "project_quality_gates", "analysis_measures",
    "live_measures", "analysis_gates",
}  # fmt: skip


@pytest.fixture
def database(postgres_server_url: str) -> Iterator[str]:
    with scratch_database(postgres_server_url, prefix="codeant_migrations") as url:
        yield url


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
            " AND c.relname NOT LIKE '%yoyo%'"
        ).fetchall()
    return {r[0] for r in rows}


def schema(url: str) -> dict[str, set[str]]:
    with psycopg.connect(url) as conn:
        return read_schema(conn)


def test_upgrade_from_empty_builds_every_table_and_index(database: str) -> None:
    """Upgrading an empty database creates all tables, the seed's named indexes and the
    updated_at triggers, and records the latest version."""
    runner = MigrationRunner(database)
    applied = runner.upgrade()
    assert len(applied) == runner.latest_version
    assert tables(database) == EXPECTED_TABLES
    indexes = {line.split()[2] for line in schema(database)["indexes"]}
    for name in (
        "idx_projects_repo_url", "idx_file_index_path_gin", "idx_file_index_fulltext",
        "idx_file_index_active", "idx_analysis_results_composite", "idx_metrics_violations",
        "idx_rules_languages", "idx_project_rules_enabled", "idx_code_metrics_violations",
    ):  # fmt: skip
        assert name in indexes
    with psycopg.connect(database) as conn:
        method = conn.execute(
            "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam"
            " WHERE c.relname = 'idx_projects_repo_url'"
        ).fetchone()
    assert method == ("hash",)
    assert runner.current_version() == runner.latest_version
    assert runner.upgrade() == []
    with psycopg.connect(database) as conn:
        months = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit_log'::regclass"
        ).fetchone()
    assert months == (14,)  # this month, twelve ahead, and the default partition


def test_every_tenant_policy_reads_the_scope_once_per_statement(database: str) -> None:
    """Each table of an organization's rows has row-level security forced, and each of its
    policies reads both settings in sub-selects (computed once per statement), not through
    a call per row: a later migration adding a tenant table must write its policy so."""
    MigrationRunner(database).upgrade()
    with psycopg.connect(database) as conn:
        policies = conn.execute(
            "SELECT tablename, qual, with_check FROM pg_policies"
            " WHERE schemaname = current_schema()"
        ).fetchall()
        unforced = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relrowsecurity"
            " AND NOT c.relforcerowsecurity AND c.relname NOT LIKE 'audit%'"
        ).fetchall()
    assert unforced == []
    assert {table for table, _, _ in policies} >= EXPECTED_TABLES - {
        "users", "rules", "outbox_events", "audit_staging",
    }  # fmt: skip
    for table, *expressions in policies:
        for expression in filter(None, expressions):
            compact = expression.replace(" ", "")  # as the server prints it back
            assert "codeant_visible(" not in compact, (table, expression)
            assert "(SELECTcurrent_setting('codeant.scope'" in compact, (table, expression)
            assert "(SELECT(NULLIF(current_setting('codeant.organization_id'" in compact, (
                table,
                expression,
            )


def test_full_downgrade_returns_to_an_empty_schema(database: str) -> None:
    """Rolling back every migration leaves no table, index, trigger or function."""
    runner = MigrationRunner(database)
    runner.upgrade()
    rolled_back = runner.downgrade(to=0)
    assert len(rolled_back) == runner.latest_version
    assert all(not items for items in schema(database).values())
    assert runner.current_version() == 0


def test_every_step_round_trips_to_the_identical_schema(database: str) -> None:
    """For each version, down returns exactly the catalog of the version before it, and
    up again exactly the one up gave."""
    runner = MigrationRunner(database)
    for version in range(1, runner.latest_version + 1):
        previous = schema(database)
        runner.upgrade(to=version)
        before = schema(database)
        runner.downgrade(to=version - 1)
        assert schema(database) == previous, f"version {version} does not roll back"
        runner.upgrade(to=version)
        assert schema(database) == before, f"version {version} does not round-trip"


def test_verify_reports_drift_and_nothing_when_in_sync(database: str) -> None:
    """verify is empty on a migrated database and names a dropped column and an extra
    index once the live schema drifts."""
    runner = MigrationRunner(database)
    runner.upgrade()
    assert runner.verify() == []
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("ALTER TABLE users DROP COLUMN avatar_url")
        conn.execute("CREATE INDEX idx_drift ON projects(name)")
    drift = runner.verify()
    assert any(line.startswith("missing column: users.avatar_url") for line in drift)
    assert any("idx_drift" in line and line.startswith("unexpected index") for line in drift)


def test_concurrent_runners_apply_each_migration_once(database: str) -> None:
    """Two runners started at once: together they apply every migration exactly once."""
    results: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            results.append(MigrationRunner(database).upgrade())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    applied = sorted(results[0] + results[1])
    runner = MigrationRunner(database)
    assert applied == sorted(s.id for s in runner.status())
    with psycopg.connect(database) as conn:
        count = conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone()
    assert count == (runner.latest_version,)


def test_a_failing_migration_leaves_the_previous_version(database: str, tmp_path: Path) -> None:
    """A migration that fails half-way is rolled back whole: the schema and the recorded
    version are those of before it."""
    directory = tmp_path / "migrations"
    shutil.copytree(default_migrations_dir(), directory)
    latest = MigrationRunner(database)
    last_id = latest.status()[-1].id
    (directory / "0099_broken.sql").write_text(
        f"-- depends: {last_id}\n"
        "CREATE TABLE half_done (id int);\n"
        "ALTER TABLE no_such_table ADD COLUMN x int;\n",
        encoding="utf-8",
    )
    (directory / "0099_broken.rollback.sql").write_text("DROP TABLE half_done;\n")
    runner = MigrationRunner(database, directory=directory)
    with pytest.raises(MigrationError, match="0099_broken"):
        runner.upgrade()
    assert runner.current_version() == latest.latest_version
    assert "half_done" not in tables(database)
    assert tables(database) == EXPECTED_TABLES


def test_unknown_target_version_is_rejected(database: str) -> None:
    """Asking for a version no migration has raises MigrationError listing the known ones."""
    with pytest.raises(MigrationError, match="known versions"):
        MigrationRunner(database).upgrade(to=42)


def test_opening_checks_the_schema_and_applies_only_what_is_missing(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a database opened with ``migrate`` runs: every migration on an empty
    database, nothing on an up-to-date one (without reading the migrations: the runner
    is not even made), and the one rolled back once it is missing again."""
    made = []
    real_init = MigrationRunner.__init__

    def noted(self: MigrationRunner, *args: object, **kwargs: object) -> None:
        made.append(1)
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(MigrationRunner, "__init__", noted)
    latest = MigrationRunner(database).latest_version
    made.clear()

    assert len(upgrade_when_behind(database)) == latest and made
    made.clear()
    assert upgrade_when_behind(database) == [] and not made
    [rolled_back] = MigrationRunner(database).downgrade()
    assert upgrade_when_behind(database) == [rolled_back]
    assert MigrationRunner(database).current_version() == latest
    assert tables(database) == EXPECTED_TABLES
