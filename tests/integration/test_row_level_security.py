"""Row-level security, checked as the application role with raw SQL: a query that forgets
its WHERE still sees one organization only, and the role can neither bypass the policies
nor touch the audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow

from adapters.postgres import MigrationRunner
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.pool import PoolSettings, open_pool
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from domain.ids import OrganizationId
from domain.projects import Project
from ports.errors import UnavailableError
from ports.pagination import PageRequest
from tests.servers import scratch_database

TENANT_TABLES = (
    "organizations", "organization_members", "projects", "repositories",
    "repository_branches", "file_index", "file_history", "analysis_jobs",
    "analysis_results", "code_metrics", "project_rule_configs", "issues", "issue_changes",
    "new_code_periods", "quality_gates", "project_quality_gates", "analysis_measures",
    "live_measures", "analysis_gates",
)  # fmt: skip
ROLE = "codeant_app"


@pytest.fixture(scope="module")
def database(postgres_server_url: str) -> Iterator[str]:
    with scratch_database(postgres_server_url, prefix="codeant_rls") as url:
        MigrationRunner(url).upgrade()
        yield url


def fill(url: str) -> dict[str, uuid.UUID]:
    """Two organizations, each with a row in every tenant table."""
    orgs = {"a": uuid.uuid4(), "b": uuid.uuid4()}
    h = "0" * 64
    with psycopg.connect(url) as conn:
        user = conn.execute(
            "INSERT INTO users (email, username, password_hash) VALUES (%s, %s, 'x') RETURNING id",
            (f"{uuid.uuid4().hex}@example.com", uuid.uuid4().hex[:20]),
        ).fetchone()
        assert user is not None
        for name, org in orgs.items():
            slug = f"{name}-{org.hex[:8]}"
            conn.execute("INSERT INTO organizations (id, name, slug) VALUES (%s, %s, %s)",
                         (org, name, slug))  # fmt: skip
            conn.execute(
                "INSERT INTO organization_members (organization_id, user_id) VALUES (%s, %s)",
                (org, user[0]),
            )
            project = conn.execute(
                "INSERT INTO projects (organization_id, name, slug, repository_url)"
                " VALUES (%s, 'p', 'p', 'u') RETURNING id",
                (org,),
            ).fetchone()[0]  # type: ignore[index]
            repo = conn.execute(
                "INSERT INTO repositories (project_id, local_path, remote_url, default_branch)"
                " VALUES (%s, '/r', '', 'main') RETURNING id",
                (project,),
            ).fetchone()[0]  # type: ignore[index]
            conn.execute(
                "INSERT INTO repository_branches (repository_id, name, commit_hash)"
                " VALUES (%s, 'main', %s)",
                (repo, "0" * 40),
            )
            file = conn.execute(
                "INSERT INTO file_index (repository_id, relative_path, absolute_path,"
                " size_bytes, file_hash, last_modified)"
                " VALUES (%s, 'a.py', '/r/a.py', 1, %s, now()) RETURNING id",
                (repo, h),
            ).fetchone()[0]  # type: ignore[index]
            job = conn.execute(
                "INSERT INTO analysis_jobs (project_id, job_type) VALUES (%s, 'index')"
                " RETURNING id",
                (project,),
            ).fetchone()[0]  # type: ignore[index]
            conn.execute(
                "INSERT INTO file_history (file_id, job_id, change, relative_path)"
                " VALUES (%s, %s, 'added', 'a.py')",
                (file, job),
            )
            conn.execute(
                "INSERT INTO analysis_results (job_id, file_id, rule_id, severity, category,"
                " title, description) VALUES (%s, %s, 'r', 'low', 'style', 't', 'd')",
                (job, file),
            )
            conn.execute(
                "INSERT INTO code_metrics (file_id, job_id, metric_type, metric_name, value)"
                " VALUES (%s, %s, 'size', 'lines', 1)",
                (file, job),
            )
            conn.execute(
                "INSERT INTO rules (id, name, description, category, languages, rule_type,"
                " implementation) VALUES (%s, 'r', 'd', 'style', '{python}', 'static', '{}')"
                " ON CONFLICT DO NOTHING",
                ("rls-rule",),
            )
            conn.execute(
                "INSERT INTO project_rule_configs (project_id, rule_id) VALUES (%s, 'rls-rule')",
                (project,),
            )
            issue = conn.execute(
                "INSERT INTO issues (project_id, branch, rule_id, severity, category, title,"
                " file_id, first_seen_job_id, last_seen_job_id, first_seen_at, last_seen_at)"
                " VALUES (%s, 'main', 'r', 'low', 'style', 't', %s, %s, %s, now(), now())"
                " RETURNING id",
                (project, file, job, job),
            ).fetchone()[0]  # type: ignore[index]
            conn.execute(
                "INSERT INTO issue_changes (issue_id, job_id, actor, at, to_status)"
                " VALUES (%s, %s, 'analysis', now(), 'open')",
                (issue, job),
            )
            conn.execute(
                "INSERT INTO new_code_periods (project_id, kind) VALUES (%s, 'previous-analysis')",
                (project,),
            )
            gate = conn.execute(
                "INSERT INTO quality_gates (organization_id, name, is_default)"
                " VALUES (%s, 'default', TRUE) RETURNING id",
                (org,),
            ).fetchone()[0]  # type: ignore[index]
            conn.execute(
                "INSERT INTO project_quality_gates (project_id, gate_id) VALUES (%s, %s)",
                (project, gate),
            )
            conn.execute(
                "INSERT INTO analysis_measures (job_id, project_id, branch, measures, at)"
                " VALUES (%s, %s, 'main', '{\"issues\": 1}', now())",
                (job, project),
            )
            conn.execute(
                "INSERT INTO live_measures (project_id, branch, job_id, measures, updated_at)"
                " VALUES (%s, 'main', %s, '{\"issues\": 1}', now())",
                (project, job),
            )
            conn.execute(
                "INSERT INTO analysis_gates (job_id, project_id, branch, gate_name, status,"
                " conditions, evaluated_at) VALUES (%s, %s, 'main', 'default', 'passed', '[]',"
                " now())",
                (job, project),
            )
    return orgs


def as_application(
    url: str, *, organization: uuid.UUID | None = None, system: bool = False
) -> psycopg.Connection[TupleRow]:
    """A connection working as the application's role, scoped as asked."""
    conn = psycopg.connect(url, autocommit=True)
    conn.execute(f"SET ROLE {ROLE}")
    if organization is not None:
        conn.execute(
            "SELECT set_config('codeant.organization_id', %s, false)", (str(organization),)
        )
    if system:
        conn.execute("SELECT set_config('codeant.scope', 'system', false)")
    return conn


def organizations_seen(conn: psycopg.Connection[Any], table: str) -> set[uuid.UUID]:
    column = "id" if table == "organizations" else "organization_id"
    rows = conn.execute(f"SELECT {column} FROM {table}").fetchall()  # no WHERE, on purpose
    return {row[0] for row in rows}


def test_a_query_without_where_sees_only_its_organization(database: str) -> None:
    """Every tenant table, read with no WHERE as the application role, shows the scoped
    organization's rows only; unscoped, none; in the system scope, all."""
    orgs = fill(database)
    with as_application(database, organization=orgs["a"]) as conn:
        for table in TENANT_TABLES:
            assert organizations_seen(conn, table) == {orgs["a"]}, table
    with as_application(database) as conn:
        for table in TENANT_TABLES:
            assert organizations_seen(conn, table) == set(), table
    with as_application(database, system=True) as conn:
        for table in TENANT_TABLES:
            assert set(orgs.values()) <= organizations_seen(conn, table), table


def test_every_tenant_table_forces_row_level_security(database: str) -> None:
    """Row-level security is enabled and forced (on the owner too) on every tenant table."""
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
            " WHERE relname = ANY(%s) AND relkind = 'r'",
            (list(TENANT_TABLES),),
        ).fetchall()
    assert {r[0] for r in rows} == set(TENANT_TABLES)
    assert all(r[1] and r[2] for r in rows), rows


def test_the_application_role_cannot_bypass_or_rewrite(database: str) -> None:
    """codeant_app is no superuser, has no BYPASSRLS, owns nothing, cannot turn the
    policies off, and cannot write the audit trail."""
    with psycopg.connect(database) as conn:
        role = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = %s",
            (ROLE,),
        ).fetchone()
        owned = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner"
            " WHERE r.rolname = %s AND c.relnamespace = 'public'::regnamespace",
            (ROLE,),
        ).fetchone()
    assert role == (False, False, False)
    assert owned == (0,)
    fill(database)
    for statement in (
        "ALTER TABLE projects DISABLE ROW LEVEL SECURITY",
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "INSERT INTO audit_staging (actor, entity, entity_id, action)"
        " VALUES ('x', 'y', 'z', 'insert')",
        "UPDATE audit_chain_heads SET hash = ''",
    ):
        with as_application(database, system=True) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_a_row_cannot_be_written_into_another_organization(database: str) -> None:
    """Inserting a row for another organization, or under its parent, is refused."""
    orgs = fill(database)
    with as_application(database, organization=orgs["a"]) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO projects (organization_id, name, slug, repository_url)"
                " VALUES (%s, 'x', 'x', 'u')",
                (orgs["b"],),
            )
    with psycopg.connect(database) as conn:
        project_b = conn.execute(
            "SELECT id FROM projects WHERE organization_id = %s", (orgs["b"],)
        ).fetchone()
    assert project_b is not None
    with as_application(database, organization=orgs["a"]) as conn:
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(
                "INSERT INTO analysis_jobs (project_id, job_type) VALUES (%s, 'index')",
                (project_b[0],),
            )


def test_a_project_is_never_assigned_another_organizations_gate(database: str) -> None:
    """Even in the system scope, a project's quality gate is one of its own organization's
    (the schema's key is on the gate and the project's organization)."""
    orgs = fill(database)
    with psycopg.connect(database) as conn:
        project_a = conn.execute(
            "SELECT id FROM projects WHERE organization_id = %s", (orgs["a"],)
        ).fetchone()
        gate_b = conn.execute(
            "SELECT id FROM quality_gates WHERE organization_id = %s", (orgs["b"],)
        ).fetchone()
    assert project_a is not None and gate_b is not None
    with as_application(database, system=True) as conn:
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(
                "UPDATE project_quality_gates SET gate_id = %s WHERE project_id = %s",
                (gate_b[0], project_a[0]),
            )


async def test_a_missing_application_role_is_one_clear_error(database: str) -> None:
    """A database whose application role does not exist is refused at once, saying what
    to do, rather than after the pool's timeout."""
    db = PostgresDatabase(url=database, pool=PoolSettings(role="codeant_missing_role"))
    with pytest.raises(UnavailableError, match="no role 'codeant_missing_role'"):
        await db.pool()
    await db.close()


async def test_a_units_scope_ends_with_its_transaction(database: str) -> None:
    """A unit sets its scope and actor with SET LOCAL: the pooled connection it gives back
    carries none of them, so a raw query on that connection sees no tenant row, after a
    unit of one organization as after one of the system scope."""
    orgs = fill(database)
    settings = PoolSettings(role=ROLE, min_size=1, max_size=1)  # one connection, reused
    async with open_pool(database, settings) as pool:
        for unit in (
            PostgresUnitOfWork(pool, organization_id=OrganizationId(orgs["a"]), actor="user:a"),
            PostgresUnitOfWork(pool, system=True, actor="user:root"),
        ):
            async with unit as uow:
                assert await uow.organizations.find_by_id(OrganizationId(orgs["a"])) is not None
                await uow.commit()
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT coalesce(current_setting('codeant.organization_id', true), '') AS o,"
                    " coalesce(current_setting('codeant.scope', true), '') AS s,"
                    " coalesce(current_setting('codeant.actor', true), '') AS a,"
                    " (SELECT count(*) FROM organizations) AS n"
                )
                assert await cur.fetchone() == {"o": "", "s": "", "a": "", "n": 0}


async def test_a_lookup_that_comes_first_sees_only_its_organization(database: str) -> None:
    """A unit's lookups that run before its transaction begins (find_by_...: the unit's
    scope goes with each in one round trip) see the unit's organization's rows alone, as
    its statements inside the transaction do."""
    orgs = fill(database)
    a, b = OrganizationId(orgs["a"]), OrganizationId(orgs["b"])
    async with open_pool(database, PoolSettings(role=ROLE, min_size=1, max_size=1)) as pool:
        async with PostgresUnitOfWork(pool, system=True) as uow:
            theirs = list(await uow.projects.list_by_organization(b, PageRequest(limit=10)))
        assert len(theirs) == 1
        async with PostgresUnitOfWork(pool, organization_id=a) as uow:
            assert await uow.organizations.find_by_id(b) is None
            assert await uow.projects.find_by_id(theirs[0].id) is None
            assert await uow.projects.find_by_slug(b, theirs[0].slug) is None
            assert await uow.organizations.find_by_id(a) is not None
        async with PostgresUnitOfWork(pool, organization_id=b) as uow:
            assert await uow.projects.find_by_id(theirs[0].id) == theirs[0]


async def test_a_session_level_scope_never_widens_a_units(database: str) -> None:
    """Settings a connection's session brings with it (the URL's options, a role's
    defaults) do not reach a unit: it sets all three LOCAL, so a unit of one organization
    on a session in the system scope still sees its organization alone."""
    orgs = fill(database)
    url = make_conninfo(database, options="-c codeant.scope=system -c codeant.actor=user:x")
    settings = PoolSettings(role=ROLE, min_size=1, max_size=1)
    async with open_pool(url, settings) as pool:
        own = OrganizationId(orgs["a"])
        async with PostgresUnitOfWork(pool, organization_id=own, actor="user:a") as uow:
            page = await uow.organizations.list(PageRequest())
            assert [o.id for o in page.items] == [own]
            project = await uow.projects.create(
                Project(organization_id=own, name="Scoped", slug="scoped",
                        repository_url="https://git.example.com/scoped.git")
            )  # fmt: skip
            await uow.commit()
        async with PostgresUnitOfWork(pool, organization_id=own) as uow:
            (entry,) = await uow.audit.entries(entity="projects", entity_id=str(project.id))
        assert entry.actor == "user:a"
