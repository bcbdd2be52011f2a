"""Races on invariants that span rows, and on read-modify-write changes, through the
services, on PostgreSQL and on the memory store.

On PostgreSQL the racing units are asyncio tasks, each on its own pooled connection; on
the memory store they are asyncio tasks whose units hand control to the event loop before
every repository call (see :mod:`tests.faults.interleaving`), so that they overlap as
they would on a server. Every unit is built by :attr:`Store.unit`, the one place that
knows how a unit of work is made.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypedDict

import attrs
import pytest

from adapters.memory.database import MemoryDatabase
from adapters.memory.outbox import MemoryOutbox
from adapters.memory.unit_of_work import MemoryUnitOfWork
from adapters.postgres import MigrationRunner, PostgresOutbox, PostgresUnitOfWork
from adapters.postgres.pool import PoolSettings, open_pool
from application import (
    ProjectChanges,
    add_member,
    begin_analysis,
    change_member_role,
    complete_analysis,
    configure_rule,
    create_project,
    modify_organization_settings,
    modify_project,
    register_organization,
    register_rules,
    register_user,
    remove_member,
    with_retry,
)
from domain.analysis import AnalysisJob
from domain.enums import Category, JobStatus, MemberRole, Severity
from domain.errors import ValidationError
from domain.events import MemberRemoved
from domain.ids import OrganizationId, ProjectId, RuleId, UserId, new_id
from domain.projects import Project
from domain.rules import ProjectRuleConfig, Rule
from domain.values import OrganizationSettings
from ports.errors import ConcurrencyError
from ports.outbox import Outbox
from ports.pagination import PageRequest
from ports.unit_of_work import UnitOfWork
from tests.faults.interleaving import Interleaved
from tests.servers import scratch_database

_ORGANIZATIONS = 50
_PROJECTS = 5
_INCREMENTS = 1000
_POOL = PoolSettings(min_size=20, max_size=20, timeout=120.0)


class _RuleChange(TypedDict, total=False):
    """The overrides :func:`configure_rule` takes as keyword arguments."""

    enabled: bool
    severity_override: Severity | None
    config_override: dict[str, Any] | None


@attrs.frozen
class Store:
    """One store seen through the ports: ``unit()`` is a fresh unit of work on it."""

    unit: Callable[[], UnitOfWork]
    outbox: Outbox


@pytest.fixture(scope="module")
def race_database(postgres_server_url: str) -> Iterator[str]:
    with scratch_database(postgres_server_url, prefix="codeant_races") as url:
        MigrationRunner(url).upgrade()
        yield url


@pytest.fixture(params=["memory", "postgres"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        db = MemoryDatabase()
        rng = random.Random(request.node.name)
        yield Store(lambda: Interleaved(MemoryUnitOfWork(db, system=True), rng), MemoryOutbox(db))
        return
    url = request.getfixturevalue("race_database")
    async with open_pool(url, _POOL) as pool:
        yield Store(lambda: PostgresUnitOfWork(pool, system=True), PostgresOutbox(pool))


# --------------------------------------------------------------------------- last owner


@attrs.frozen
class Owned:
    """An organization with two owners."""

    id: OrganizationId
    owners: tuple[UserId, UserId]


async def _organization_with_two_owners(store: Store, n: int) -> Owned:
    tag = new_id().hex[:12]
    first, second = [
        await register_user(
            store.unit(),
            email=f"owner{i}-{tag}@example.com",
            username=f"owner{i}-{tag}",
            password_hash="argon2$hash",
        )
        for i in (1, 2)
    ]
    organization = await register_organization(
        store.unit(), name=f"Race {n}", slug=f"race-{tag}", owner_id=first.id
    )
    await add_member(store.unit(), organization.id, second.id, role=MemberRole.OWNER)
    return Owned(organization.id, (first.id, second.id))


def _demote(store: Store, organization: OrganizationId, user: UserId) -> Awaitable[object]:
    return change_member_role(store.unit(), organization, user, MemberRole.ADMIN)


def _remove(store: Store, organization: OrganizationId, user: UserId) -> Awaitable[object]:
    return remove_member(store.unit(), organization, user)


_OPERATIONS = {"demote": _demote, "remove": _remove}


@pytest.mark.parametrize(
    ("first", "second"), [("demote", "demote"), ("remove", "remove"), ("demote", "remove")]
)
async def test_concurrent_demotions_and_removals_never_leave_an_organization_ownerless(
    store: Store, first: str, second: str
) -> None:
    """Fifty organizations with two owners each; each owner is demoted or removed at the
    same time as the other: in every organization exactly one change lands, the other is
    refused with a ValidationError on its field and writes nothing, and one owner
    remains."""
    organizations = await asyncio.gather(
        *(_organization_with_two_owners(store, n) for n in range(_ORGANIZATIONS))
    )
    races = []
    for n, org in enumerate(organizations):
        pair = [(first, org.owners[0]), (second, org.owners[1])]
        if n % 2:  # either operation may be the one started first
            pair.reverse()
        races += [(org, kind, user) for kind, user in pair]

    outcomes = await asyncio.gather(
        *(_OPERATIONS[kind](store, org.id, user) for org, kind, user in races),
        return_exceptions=True,
    )

    results = list(zip(races, outcomes, strict=True))
    for org in organizations:
        refused = [
            (kind, user, out)
            for (o, kind, user), out in results
            if o is org and isinstance(out, BaseException)
        ]
        assert len(refused) == 1, [r for r in results if r[0][0] is org]
        kind, user, error = refused[0]
        assert isinstance(error, ValidationError), error
        assert error.field == ("role" if kind == "demote" else "user_id")
        assert await _owners(store, org.id) == {user}  # the refused change wrote nothing
    removals = sum(
        1 for (_, kind, _), out in results if kind == "remove" and not isinstance(out, Exception)
    )
    assert await _removal_events(store, {o.id for o in organizations}) == removals


async def _owners(store: Store, organization: OrganizationId) -> set[UserId]:
    async with store.unit() as uow:
        page = await uow.members.list_by_organization(organization, PageRequest(limit=100))
    return {m.user_id for m in page.items if m.role is MemberRole.OWNER}


async def _removal_events(store: Store, organizations: set[OrganizationId]) -> int:
    messages = await store.outbox.pending(limit=10_000)
    return sum(
        1
        for m in messages
        if isinstance(m.event, MemberRemoved) and m.event.organization_id in organizations
    )


# --------------------------------------------------------------------------- counters


def _count_one(project: Project) -> ProjectChanges:
    metadata = project.metadata
    return ProjectChanges(metadata=attrs.evolve(metadata, total_files=metadata.total_files + 1))


async def test_concurrent_increments_of_project_counters_all_land(store: Store) -> None:
    """A thousand concurrent increments of a counter in the metadata of five projects,
    each through modify_project under with_retry with its default attempts: at least
    99 % succeed, and every project's counter ends at exactly its successful increments."""
    organization = await register_organization(
        store.unit(), name="Counters", slug=f"counters-{new_id().hex[:12]}"
    )
    projects = [
        await create_project(
            store.unit(), organization.id, name=f"P{n}", slug=f"p{n}", repository_url="x"
        )
        for n in range(_PROJECTS)
    ]
    targets = [projects[i % _PROJECTS].id for i in range(_INCREMENTS)]

    async def increment(project_id: ProjectId) -> Project:
        return await with_retry(lambda: modify_project(store.unit(), project_id, _count_one))

    outcomes = await asyncio.gather(*(increment(t) for t in targets), return_exceptions=True)

    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert all(isinstance(f, ConcurrencyError) for f in failures), failures[:3]
    assert len(failures) <= _INCREMENTS // 100, f"{len(failures)} of {_INCREMENTS} failed"
    landed = Counter(t for t, o in zip(targets, outcomes, strict=True) if isinstance(o, Project))
    for project in projects:
        async with store.unit() as uow:
            stored = await uow.projects.find_by_id(project.id)
        assert stored is not None
        assert stored.metadata.total_files == landed[project.id]


async def test_a_job_completes_while_its_project_counters_change(store: Store) -> None:
    """Jobs of five projects complete, without a retry, while fifty increments of each
    project's counter run: every job is completed and stamps its project's
    last_analyzed_at, and every increment lands."""
    organization = await register_organization(
        store.unit(), name="Jobs", slug=f"jobs-{new_id().hex[:12]}"
    )
    projects = [
        await create_project(
            store.unit(), organization.id, name=f"P{n}", slug=f"p{n}", repository_url="x"
        )
        for n in range(_PROJECTS)
    ]
    jobs = [await begin_analysis(store.unit(), p.id, owner="worker") for p in projects]

    def increment(project: Project) -> Callable[[], Awaitable[Project]]:
        return lambda: modify_project(store.unit(), project.id, _count_one)

    increments = [with_retry(increment(p)) for p in projects for _ in range(50)]
    completions = [complete_analysis(store.unit(), job.id) for job in jobs]
    done: list[Project | AnalysisJob] = await asyncio.gather(
        *increments[:100], *completions, *increments[100:]
    )

    assert [j.status for j in done if not isinstance(j, Project)] == [JobStatus.COMPLETED] * 5
    for project in projects:
        async with store.unit() as uow:
            stored = await uow.projects.find_by_id(project.id)
        assert stored is not None
        assert stored.metadata.total_files == 50
        assert stored.last_analyzed_at is not None


async def test_concurrent_changes_of_organization_settings_all_land(store: Store) -> None:
    """Two hundred concurrent changes of one organization's settings, each adding one to
    its maximum file size through modify_organization_settings: every one lands."""
    organization = await register_organization(
        store.unit(), name="Settings", slug=f"settings-{new_id().hex[:12]}"
    )
    start = organization.settings.default_analysis_config.max_file_size_bytes

    def grow(settings: OrganizationSettings) -> OrganizationSettings:
        config = settings.default_analysis_config
        bigger = attrs.evolve(config, max_file_size_bytes=config.max_file_size_bytes + 1)
        return attrs.evolve(settings, default_analysis_config=bigger)

    await asyncio.gather(
        *(modify_organization_settings(store.unit(), organization.id, grow) for _ in range(200))
    )

    async with store.unit() as uow:
        stored = await uow.organizations.find_by_id(organization.id)
    assert stored is not None
    assert stored.settings.default_analysis_config.max_file_size_bytes == start + 200


# --------------------------------------------------------------------------- rule settings


async def test_concurrent_changes_of_one_rule_configuration_keep_every_field(
    store: Store,
) -> None:
    """Projects whose configuration of a rule is changed at once by three callers, each
    setting another field (enabled, severity, thresholds): every configuration ends with
    all three changes, none overwritten by a caller that read it before another wrote."""
    organization = await register_organization(
        store.unit(), name="Rules", slug=f"rules-{new_id().hex[:12]}"
    )
    rule_id = RuleId(f"race-{new_id().hex[:12]}")
    await register_rules(
        store.unit(),
        [
            Rule(
                id=rule_id,
                name="Race",
                description="A rule",
                category=Category.COMPLEXITY,
                languages=("python",),
            )
        ],
    )
    projects = [
        await create_project(
            store.unit(), organization.id, name=f"P{n}", slug=f"p{n}", repository_url="x"
        )
        for n in range(20)
    ]
    changes: list[_RuleChange] = [
        {"enabled": False},
        {"severity_override": Severity.HIGH},
        {"config_override": {"max": 15}},
    ]

    def configure(
        project: Project, change: _RuleChange
    ) -> Callable[[], Awaitable[ProjectRuleConfig]]:
        return lambda: configure_rule(store.unit(), project.id, rule_id, **change)

    await asyncio.gather(*(with_retry(configure(p, c)) for p in projects for c in changes))

    for project in projects:
        async with store.unit() as uow:
            config = await uow.rule_configs.find(project.id, rule_id)
        assert config is not None
        assert (config.is_enabled, config.severity_override, config.config_override) == (
            False,
            Severity.HIGH,
            {"max": 15},
        )
