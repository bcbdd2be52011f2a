"""Cache-aside reads (CachedQueries) and their invalidation (CacheInvalidator), over the
in-memory store, the in-process cache and the JSON codec."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Self, cast

import attrs
import pytest

from adapters.memory.cache import MemoryCache
from adapters.memory.database import MemoryDatabase
from adapters.memory.outbox import MemoryOutbox
from adapters.memory.unit_of_work import MemoryUnitOfWork
from adapters.serialization import JsonCodec
from application import (
    FileSnapshot,
    archive_project,
    cancel_analysis,
    complete_analysis,
    configure_rule,
    create_project,
    delete_project,
    enqueue_analysis,
    record_file_snapshot,
    register_repository,
    register_rules,
    start_analysis,
    update_project,
)
from application.caching import (
    KEY_FORMAT,
    CachedQueries,
    CacheStats,
    bump_version,
    project_version,
    shape_fingerprint,
)
from application.invalidation import CacheInvalidator, stale_keys
from application.organizations import register_organization
from domain.analysis import AnalysisJob, AnalysisResult, CodeMetric
from domain.enums import Category, MetricType, ProgrammingLanguage, ProjectStatus, Severity
from domain.events import OrganizationRegistered, ProjectUpdated
from domain.files import FileIndex
from domain.ids import OrganizationId, ProjectId, RepositoryId, RuleId, new_id
from domain.projects import Project
from domain.rules import Rule
from ports.errors import NotFoundError, UnavailableError
from ports.pagination import PageRequest
from tests.unit.fakes import FailingCache, FakeClock

LOGGER = "application.caching"

# Hands the committed events to the cache invalidator; the names of the events handled.
Deliver = Callable[[], Awaitable[list[str]]]


# --------------------------------------------------------------------------- fakes


class YieldingCache(MemoryCache):
    """An in-process cache that lets other tasks run before every read and write, as a
    server round trip would."""

    async def get(self, key: str) -> bytes | None:
        await asyncio.sleep(0)
        return await super().get(key)

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        await asyncio.sleep(0)
        await super().set(key, value, ttl=ttl)


class YieldingUnitOfWork(MemoryUnitOfWork):
    """A memory unit of work that lets other tasks run when it begins, as a database
    round trip would."""

    async def __aenter__(self) -> Self:
        await asyncio.sleep(0)
        return await super().__aenter__()


class CountingUnitsOfWork:
    """A unit-of-work factory counting the units it makes."""

    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db
        self.made = 0

    def __call__(
        self, *, organization_id: OrganizationId | None = None, system: bool = False
    ) -> MemoryUnitOfWork:
        self.made += 1
        return YieldingUnitOfWork(self.db, organization_id=organization_id, system=system)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(clock: FakeClock) -> FailingCache:
    return FailingCache(clock=clock)


@pytest.fixture
def units(db: MemoryDatabase) -> CountingUnitsOfWork:
    return CountingUnitsOfWork(db)


@pytest.fixture
def queries(cache: FailingCache, units: CountingUnitsOfWork) -> CachedQueries:
    return CachedQueries(cache, JsonCodec(), units)


@pytest.fixture
def deliver(outbox: MemoryOutbox, cache: FailingCache) -> Deliver:
    """Hands every committed, undelivered event to the cache invalidator, as the relay
    does, and marks it delivered."""
    invalidator = CacheInvalidator(cache)

    async def run() -> list[str]:
        messages = await outbox.pending(limit=10_000)
        for message in messages:
            await invalidator.handle(message.event)
        await outbox.mark_delivered([m.id for m in messages])
        return [m.event.name for m in messages]

    return run


def _file(repository_id: RepositoryId, path: str) -> FileIndex:
    return FileIndex(
        repository_id=repository_id,
        relative_path=path,
        absolute_path=f"/srv/billing/{path}",
        size_bytes=100,
        file_hash=hashlib.sha256(path.encode()).hexdigest(),
        last_modified=dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
    )


@pytest.fixture
async def files(uow: MemoryUnitOfWork, project: Project) -> list[FileIndex]:
    """The project's repository with two indexed files."""
    repository = await register_repository(
        uow, project.id, local_path="/srv/billing", remote_url="", default_branch="main"
    )
    indexed = [_file(repository.id, p) for p in ("invoice.py", "tax.py")]
    await record_file_snapshot(uow, repository.id, indexed)
    return indexed


async def _analyse(
    uow: MemoryUnitOfWork, project: Project, files: list[FileIndex], *, findings: int = 1
) -> AnalysisJob:
    """Run a job to completion: ``findings`` results and a complexity metric per file."""
    job = await enqueue_analysis(uow, project.id)
    await start_analysis(uow, job.id)
    results = [
        AnalysisResult(
            job_id=job.id,
            file_id=files[0].id,
            rule_id=RuleId("rule"),
            severity=Severity.HIGH,
            category=Category.BUG,
            title=f"Finding {n}",
            description="Something to fix.",
        )
        for n in range(findings)
    ]
    metrics = [
        CodeMetric(
            file_id=file.id,
            job_id=job.id,
            metric_type=MetricType.COMPLEXITY,
            metric_name="cyclomatic",
            value=5.0,
        )
        for file in files
    ]
    return await complete_analysis(uow, job.id, results=results, metrics=metrics)


@pytest.fixture
async def analysed(
    uow: MemoryUnitOfWork, project: Project, files: list[FileIndex], outbox: MemoryOutbox
) -> AnalysisJob:
    """A completed job of the project; its events already delivered."""
    job = await _analyse(uow, project, files, findings=2)
    await outbox.mark_delivered([m.id for m in await outbox.pending(limit=10_000)])
    return job


RULE = Rule(
    id=RuleId("long-line"),
    name="Long line",
    description="Checks line length.",
    category=Category.STYLE,
    severity=Severity.LOW,
    languages=(ProgrammingLanguage.PYTHON,),
)


@pytest.fixture
async def catalogue(uow: MemoryUnitOfWork, outbox: MemoryOutbox) -> None:
    await register_rules(uow, [RULE])
    await outbox.mark_delivered([m.id for m in await outbox.pending()])


async def _loads(queries: CachedQueries, read: Callable[[], Awaitable[object]]) -> int:
    """How many loads from the store ``read`` made."""
    before = queries.stats.loads
    await read()
    return queries.stats.loads - before


# --------------------------------------------------------------------------- reads


async def test_a_read_after_a_miss_is_a_hit(queries: CachedQueries, project: Project) -> None:
    """The first read loads from the store and caches; the second is answered by the cache."""
    first = await queries.project(project.id)
    second = await queries.project(project.id)

    assert (first.name, second.name) == (project.name, project.name)
    assert (queries.stats.hits, queries.stats.misses, queries.stats.loads) == (1, 1, 1)


async def test_every_read_is_cached(
    queries: CachedQueries,
    project: Project,
    analysed: AnalysisJob,
    catalogue: None,
    units: CountingUnitsOfWork,
) -> None:
    """Each kind of read is answered from the cache the second time, without a unit of work."""
    reads: list[Callable[[], Awaitable[Any]]] = [
        lambda: queries.project(project.id),
        lambda: queries.project_by_slug(project.organization_id, project.slug),
        lambda: queries.project_page(project.organization_id, PageRequest(limit=10)),
        lambda: queries.job_results(analysed.id),
        lambda: queries.metric_aggregation(project.id, MetricType.COMPLEXITY),
        lambda: queries.issues_summary(project.id, days=7),
        lambda: queries.rule_set(project.id, language=ProgrammingLanguage.PYTHON),
    ]
    first = [await read() for read in reads]
    made = units.made

    second = [await read() for read in reads]

    assert units.made == made
    assert [type(value) for value in second] == [type(value) for value in first]
    assert len(second[3]) == 2
    assert second[4].get("cyclomatic").count == 2
    assert second[5].total == 2
    assert [r.rule_id for r in second[6]] == ["long-line"]


async def test_results_of_many_pages_are_read_whole(
    queries: CachedQueries, uow: MemoryUnitOfWork, project: Project, files: list[FileIndex]
) -> None:
    """The results of a job are read page after page into one tuple."""
    job = await _analyse(uow, project, files, findings=1001)

    assert len(await queries.job_results(job.id)) == 1001


def test_hit_ratio_is_hits_over_lookups() -> None:
    """The hit ratio divides hits by hits and misses, and is 0 before any lookup."""
    stats = CacheStats(hits=3, misses=1, errors=2, loads=1)

    assert stats.hit_ratio == 0.75
    assert CacheStats().hit_ratio == 0.0
    assert stats.as_dict() == {"hits": 3, "misses": 1, "errors": 2, "loads": 1, "hit_ratio": 0.75}


async def test_each_tier_lives_for_its_ttl(
    queries: CachedQueries, clock: FakeClock, project: Project, analysed: AnalysisJob
) -> None:
    """Projects stay cached 300 s, job results 3600 s, metric aggregations 86400 s."""
    reads = {
        "project": lambda: queries.project(project.id),
        "results": lambda: queries.job_results(analysed.id),
        "metrics": lambda: queries.metric_aggregation(project.id, MetricType.COMPLEXITY),
    }

    async def reloaded() -> set[str]:
        return {name for name, read in reads.items() if await _loads(queries, read)}

    assert await reloaded() == {"project", "results", "metrics"}
    clock.now += 299.9
    assert await reloaded() == set()
    clock.now += 0.1
    assert await reloaded() == {"project"}
    clock.now += 3300
    assert await reloaded() == {"project", "results"}
    clock.now += 86400 - 3600
    assert await reloaded() == {"project", "results", "metrics"}


async def test_ttls_are_configurable(
    cache: FailingCache, units: CountingUnitsOfWork, clock: FakeClock, project: Project
) -> None:
    """A project tier of 10 s expires projects after 10 s."""
    queries = CachedQueries(cache, JsonCodec(), units, ttl_projects=10)
    await queries.project(project.id)
    clock.now += 10

    assert await _loads(queries, lambda: queries.project(project.id)) == 1


@pytest.mark.parametrize("field", ["ttl_projects", "ttl_analysis", "ttl_metrics"])
@pytest.mark.parametrize("value", [0, -1, float("inf"), "60", True])
def test_ttls_must_be_positive_numbers(
    cache: FailingCache, units: CountingUnitsOfWork, field: str, value: Any
) -> None:
    """A ttl that is not a positive finite number is a configuration error naming it."""
    with pytest.raises(ValueError, match=field):
        CachedQueries(cache, JsonCodec(), units, **{field: value})


async def test_concurrent_misses_load_once(units: CountingUnitsOfWork, project: Project) -> None:
    """Twenty concurrent reads of a cold key make one load, even when the cache lets them
    interleave before any version exists; every reader gets its value."""
    queries = CachedQueries(YieldingCache(), JsonCodec(), units)

    found = await asyncio.gather(*(queries.project(project.id) for _ in range(20)))

    assert {p.id for p in found} == {project.id}
    assert units.made == 1
    assert (queries.stats.misses, queries.stats.loads) == (20, 1)


async def test_a_failed_load_reaches_every_waiter_and_is_not_cached(
    queries: CachedQueries, units: CountingUnitsOfWork
) -> None:
    """Concurrent reads of a missing project all raise NotFoundError from one load, and
    the next read asks the store again (not-found is not cached)."""
    missing = ProjectId(new_id())

    outcomes = await asyncio.gather(
        *(queries.project(missing) for _ in range(5)), return_exceptions=True
    )
    with pytest.raises(NotFoundError):
        await queries.project(missing)

    assert all(isinstance(o, NotFoundError) for o in outcomes)
    assert units.made == 2
    assert queries.stats.loads == 0


async def test_a_cancelled_reader_does_not_cancel_the_shared_load(
    queries: CachedQueries, units: CountingUnitsOfWork, project: Project
) -> None:
    """When the reader that started a load gives up, the others still get its value."""
    first = asyncio.ensure_future(queries.project(project.id))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(queries.project(project.id))
    await asyncio.sleep(0)
    first.cancel()

    assert (await second).id == project.id
    assert units.made == 1


# --------------------------------------------------------------------------- keys


def _shape(name: str, **fields: type) -> type:
    return attrs.make_class(name, {f: attrs.field(type=t) for f, t in fields.items()})


def test_shape_fingerprint_follows_the_shape_not_the_class() -> None:
    """Classes of one shape share a fingerprint; a field renamed or retyped, a nested
    class changed, or an enum member added changes it."""
    Color = enum.Enum("Color", {"RED": "red"})
    # Color again, one member more: made through Any, as its name is not its variable's
    MoreColor = cast(Any, enum.Enum)("Color", {"RED": "red", "BLUE": "blue"})
    base = shape_fingerprint(_shape("Shape", size=int))

    assert shape_fingerprint(_shape("Shape", size=int)) == base
    assert shape_fingerprint(_shape("Shape", width=int)) != base
    assert shape_fingerprint(_shape("Shape", size=str)) != base
    variadic: Any = tuple  # subscripted with classes made at run time
    assert shape_fingerprint(variadic[_shape("Shape", size=int), ...]) == shape_fingerprint(
        variadic[_shape("Shape", size=int), ...]
    )
    assert shape_fingerprint(_shape("Box", inner=_shape("Shape", size=int))) != shape_fingerprint(
        _shape("Box", inner=_shape("Shape", size=str))
    )
    assert shape_fingerprint(Color) != shape_fingerprint(MoreColor)
    assert len(base) == 12


async def test_keys_carry_the_format_and_the_shape_of_the_value(
    queries: CachedQueries, cache: FailingCache, project: Project
) -> None:
    """The key a project is cached under names the key format and the Project shape, so
    an entry of another shape is never read."""
    await queries.project(project.id)

    entry_keys = [k for k in cache.asked if str(project.id) in k and ":version:" not in k]
    assert entry_keys
    assert all(k.startswith(f"{KEY_FORMAT}:project:") for k in entry_keys)
    shape: type = type(project)  # a class is hashable, whatever its instances' __hash__
    assert all(shape_fingerprint(shape) in k for k in entry_keys)


async def test_a_value_that_does_not_decode_is_reloaded(
    queries: CachedQueries, cache: FailingCache, project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    """A corrupt entry counts as a miss, is logged, and is replaced by the loaded value."""
    await queries.project(project.id)
    [key] = {k for k in cache.asked if k.startswith(f"{KEY_FORMAT}:project:")}
    await cache.set(key, b"not json")

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert (await queries.project(project.id)).name == project.name
    assert (await queries.project(project.id)).name == project.name

    assert "does not decode" in caplog.text
    assert (queries.stats.hits, queries.stats.misses) == (1, 2)


# --------------------------------------------------------------------------- cache down


async def test_reads_answer_from_the_store_while_the_cache_is_down(
    queries: CachedQueries, cache: FailingCache, project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    """With the cache down every read is answered from the store, each failure is
    counted, and one warning is logged for the whole outage; once the cache is back,
    reads are cached again, and a new outage is logged again."""
    cache.down()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        found = [await queries.project(project.id) for _ in range(5)]
        cache.failing = set()
        await queries.project(project.id)
        await queries.project(project.id)
        cache.down()
        await queries.project(project.id)

    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert {p.name for p in found} == {project.name}
    assert queries.stats.errors == 6
    assert queries.stats.hits == 1
    assert len(warnings) == 2
    assert "UnavailableError" in warnings[0].getMessage()
    assert "answers again" in caplog.text


async def test_a_failed_write_is_counted_and_the_read_still_answers(
    queries: CachedQueries, cache: FailingCache, analysed: AnalysisJob
) -> None:
    """When only writes fail, the value read from the store is returned and not cached."""
    cache.failing = {"set"}

    results = await queries.job_results(analysed.id)
    again = await queries.job_results(analysed.id)

    assert len(results) == len(again) == 2
    assert queries.stats.errors == 2
    assert queries.stats.hits == 0


async def test_warming_with_the_cache_down_still_reads_the_store(
    queries: CachedQueries, cache: FailingCache, project: Project
) -> None:
    """Warming a project while the cache is down loads from the store without raising."""
    cache.down()

    await queries.warm_project(project.id)

    loaded = 3 + len(MetricType)  # project, slug, summary and every aggregation
    assert (queries.stats.loads, queries.stats.errors) == (loaded, loaded)


# --------------------------------------------------------------------------- warming


async def test_warming_caches_the_hot_data_of_a_project(
    queries: CachedQueries, units: CountingUnitsOfWork, project: Project, analysed: AnalysisJob
) -> None:
    """After warming, the project, its latest results, every aggregation and the issues
    summary are read without touching the store."""
    await queries.warm_project(project.id)
    made = units.made

    await queries.project(project.id)
    await queries.project_by_slug(project.organization_id, project.slug)
    await queries.job_results(analysed.id)
    for metric_type in MetricType:
        await queries.metric_aggregation(project.id, metric_type)
    await queries.issues_summary(project.id)

    assert units.made == made
    assert queries.stats.misses == 0


async def test_warming_a_missing_project_raises_not_found(queries: CachedQueries) -> None:
    """Warming a project that does not exist raises NotFoundError."""
    with pytest.raises(NotFoundError):
        await queries.warm_project(ProjectId(new_id()))


# --------------------------------------------------------------------------- invalidation


async def test_project_updated_serves_the_new_project(
    queries: CachedQueries, uow: MemoryUnitOfWork, project: Project, deliver: Deliver
) -> None:
    """After an update and its event, reads by id, by slug and by page show the new name."""
    await queries.project(project.id)
    await queries.project_by_slug(project.organization_id, project.slug)
    await queries.project_page(project.organization_id)

    await update_project(uow, project.id, name="Billing platform")
    assert await deliver() == ["ProjectUpdated"]

    assert (await queries.project(project.id)).name == "Billing platform"
    by_slug = await queries.project_by_slug(project.organization_id, project.slug)
    assert by_slug.name == "Billing platform"
    [listed] = (await queries.project_page(project.organization_id)).items
    assert listed.name == "Billing platform"


async def test_a_changed_slug_never_serves_the_old_project(
    queries: CachedQueries, uow: MemoryUnitOfWork, project: Project, deliver: Deliver
) -> None:
    """After a slug change and its event the old slug is not found and the new one is."""
    await queries.project_by_slug(project.organization_id, "billing")
    async with uow:
        stored = await uow.projects.find_by_id(project.id)
        assert stored is not None
        await uow.projects.update(attrs.evolve(stored, slug="invoicing"))
        uow.add_event(
            ProjectUpdated(
                project_id=project.id, organization_id=project.organization_id, changed=("slug",)
            )
        )
        await uow.commit()
    await deliver()

    with pytest.raises(NotFoundError):
        await queries.project_by_slug(project.organization_id, "billing")
    renamed = await queries.project_by_slug(project.organization_id, "invoicing")
    assert renamed.id == project.id


async def test_a_stale_slug_entry_is_checked_against_the_project(
    queries: CachedQueries, cache: FailingCache, uow: MemoryUnitOfWork, project: Project
) -> None:
    """Even while a slug entry is stale, a project that lost that slug is not served for it."""
    await queries.project_by_slug(project.organization_id, "billing")
    async with uow:
        stored = await uow.projects.find_by_id(project.id)
        assert stored is not None
        await uow.projects.update(attrs.evolve(stored, slug="invoicing"))
        await uow.commit()
    await bump_version(cache, project_version(project.id))  # the project entry only

    with pytest.raises(NotFoundError):
        await queries.project_by_slug(project.organization_id, "billing")


async def test_project_archived_serves_the_archived_status(
    queries: CachedQueries, uow: MemoryUnitOfWork, project: Project, deliver: Deliver
) -> None:
    """After archiving and its event, the project and its page show it archived."""
    await queries.project(project.id)
    await queries.project_page(project.organization_id)

    await archive_project(uow, project.id)
    await deliver()

    assert (await queries.project(project.id)).status is ProjectStatus.ARCHIVED
    [listed] = (await queries.project_page(project.organization_id)).items
    assert listed.status is ProjectStatus.ARCHIVED


async def test_project_deleted_is_no_longer_served(
    queries: CachedQueries,
    uow: MemoryUnitOfWork,
    project: Project,
    analysed: AnalysisJob,
    deliver: Deliver,
) -> None:
    """After a delete and its event, the project is not found by id, slug or page, nor
    are its reports."""
    await queries.warm_project(project.id)
    await queries.project_page(project.organization_id)

    await delete_project(uow, project.id)
    await deliver()

    with pytest.raises(NotFoundError):
        await queries.project(project.id)
    with pytest.raises(NotFoundError):
        await queries.project_by_slug(project.organization_id, project.slug)
    with pytest.raises(NotFoundError):
        await queries.metric_aggregation(project.id, MetricType.COMPLEXITY)
    assert (await queries.project_page(project.organization_id)).items == ()


async def test_project_created_appears_in_the_list(
    queries: CachedQueries, uow: MemoryUnitOfWork, project: Project, deliver: Deliver
) -> None:
    """After a creation and its event, the organization's page lists the new project."""
    await queries.project_page(project.organization_id)

    await create_project(
        uow, project.organization_id, name="Ledger", slug="ledger", repository_url="x"
    )
    await deliver()

    page = await queries.project_page(project.organization_id)
    assert sorted(p.slug for p in page.items) == ["billing", "ledger"]


async def test_analysis_completed_serves_the_new_analysis(
    queries: CachedQueries,
    uow: MemoryUnitOfWork,
    project: Project,
    files: list[FileIndex],
    deliver: Deliver,
) -> None:
    """After a job completes and its event is handled, its results, the aggregations, the
    summary and the project's last analysis time are the new ones."""
    job = await enqueue_analysis(uow, project.id)
    await start_analysis(uow, job.id)
    assert await queries.job_results(job.id) == ()
    await queries.warm_project(project.id)
    assert (await queries.issues_summary(project.id)).total == 0

    await _analyse(uow, project, files, findings=3)
    await cancel_analysis(uow, job.id)
    await deliver()

    latest = await _latest_job(uow, project.id)
    assert latest is not None
    assert len(await queries.job_results(latest.id)) == 3
    assert await queries.job_results(job.id) == ()
    aggregation = await queries.metric_aggregation(project.id, MetricType.COMPLEXITY)
    assert aggregation.job_id == latest.id
    assert (await queries.issues_summary(project.id)).total == 3
    assert (await queries.project(project.id)).last_analyzed_at is not None


async def _latest_job(uow: MemoryUnitOfWork, project_id: ProjectId) -> AnalysisJob | None:
    async with uow:
        return await uow.analysis.latest_job(project_id)


async def test_results_of_an_unfinished_job_are_not_cached(
    queries: CachedQueries, units: CountingUnitsOfWork, uow: MemoryUnitOfWork, project: Project
) -> None:
    """Results read while a job runs are read from the store again next time."""
    job = await enqueue_analysis(uow, project.id)
    await start_analysis(uow, job.id)
    await queries.job_results(job.id)

    assert await _loads(queries, lambda: queries.job_results(job.id)) == 1


async def test_file_changed_serves_the_new_aggregation(
    queries: CachedQueries,
    uow: MemoryUnitOfWork,
    project: Project,
    files: list[FileIndex],
    analysed: AnalysisJob,
    deliver: Deliver,
) -> None:
    """After an analysis records a file's removal and its events are handled, the
    aggregation no longer counts that file's metrics."""
    before = await queries.metric_aggregation(project.id, MetricType.COMPLEXITY)

    job = await enqueue_analysis(uow, project.id)
    await start_analysis(uow, job.id)
    await complete_analysis(uow, job.id, snapshot=FileSnapshot(files[0].repository_id, [files[1]]))
    assert "FileChanged" in await deliver()

    after = await queries.metric_aggregation(project.id, MetricType.COMPLEXITY)
    cyclomatic_before, cyclomatic_after = before.get("cyclomatic"), after.get("cyclomatic")
    assert cyclomatic_before is not None and cyclomatic_after is not None
    assert (cyclomatic_before.count, cyclomatic_after.count) == (2, 1)


async def test_configuration_changed_serves_the_new_rule_set(
    queries: CachedQueries,
    uow: MemoryUnitOfWork,
    project: Project,
    catalogue: None,
    deliver: Deliver,
) -> None:
    """After a rule is disabled for the project and the event handled, the rule set
    leaves it out."""
    assert len(await queries.rule_set(project.id)) == 1

    await configure_rule(uow, project.id, RULE.id, enabled=False)
    await deliver()

    assert await queries.rule_set(project.id) == ()
    [disabled] = await queries.rule_set(project.id, include_disabled=True)
    assert disabled.enabled is False


async def test_rule_changed_serves_the_new_catalogue(
    queries: CachedQueries,
    uow: MemoryUnitOfWork,
    project: Project,
    catalogue: None,
    deliver: Deliver,
) -> None:
    """After a rule of the catalogue changes and its event is handled, rule sets show it."""
    await queries.rule_set(project.id)

    await register_rules(uow, [attrs.evolve(RULE, severity=Severity.HIGH)])
    await deliver()

    [rule] = await queries.rule_set(project.id)
    assert rule.severity is Severity.HIGH


async def test_handling_an_event_again_changes_nothing_visible(
    queries: CachedQueries,
    uow: MemoryUnitOfWork,
    project: Project,
    deliver: Deliver,
    cache: FailingCache,
) -> None:
    """An event delivered twice leaves reads correct: the second delivery only costs a miss."""
    await update_project(uow, project.id, name="Billing platform")
    event = ProjectUpdated(project_id=project.id, organization_id=project.organization_id)
    await deliver()
    await CacheInvalidator(cache).handle(event)

    assert (await queries.project(project.id)).name == "Billing platform"


async def test_other_events_are_ignored(cache: FailingCache) -> None:
    """An event that changes nothing cached touches no key."""
    event = OrganizationRegistered(organization_id=OrganizationId(new_id()), slug="acme")

    await CacheInvalidator(cache).handle(event)

    assert stale_keys(event) == ((), ())
    assert cache.asked == []


async def test_invalidation_raises_while_the_cache_is_down(
    cache: FailingCache, project: Project
) -> None:
    """A handler that cannot reach the cache raises UnavailableError, so the relay retries."""
    cache.down()
    event = ProjectUpdated(project_id=project.id, organization_id=project.organization_id)

    with pytest.raises(UnavailableError):
        await CacheInvalidator(cache).handle(event)


async def test_an_organizations_view_never_answers_from_anothers_reads(
    queries: CachedQueries, uow: MemoryUnitOfWork, project: Project
) -> None:
    """A read cached for every organization, or for one, is never the answer of another
    organization's view: its loads go through units opened for it, under keys of its
    own."""
    other = await register_organization(uow, name="Globex", slug="globex")
    assert (await queries.project(project.id)).id == project.id  # cached, system scope
    mine = queries.for_organization(project.organization_id)
    assert (await mine.project(project.id)).id == project.id
    assert (await mine.project(project.id)).id == project.id  # a hit of its own key
    theirs = queries.for_organization(other.id)
    with pytest.raises(NotFoundError):
        await theirs.project(project.id)
    with pytest.raises(NotFoundError):
        await theirs.issues_summary(project.id)
    assert queries.stats.hits >= 1
