"""Cache-aside reads of the hot data (seed 000, section 3.6), with counters and stampede
protection.

:class:`CachedQueries` answers the reads dashboards repeat from the cache, loading a missing
entry through the same services that read the store directly and caching it for its tier:

- projects (by id, by slug, a page of an organization's list) and effective rule sets:
  ``ttl_projects``, 300 s by default;
- the results of a finished job and a project's issues summary: ``ttl_analysis``, 3600 s;
- a project's aggregation of a metric type: ``ttl_metrics``, 86400 s.

Keys. An entry's key is ``KEY_FORMAT:kind:shape:versions:parts`` (``kind@organization``
in an organization's view, :meth:`CachedQueries.for_organization`): ``shape`` is the
:func:`shape_fingerprint` of the cached type, so an entry written by code with another
shape of it is never read; ``versions`` are the current tokens of the version keys the
entry depends on (a project, an organization's projects, a project's analysis data, the
rule catalogue). Invalidation (:mod:`application.invalidation`) replaces a token with a
new random one instead of deleting entries: every entry made under the old token is
orphaned at once and expires with its ttl. A reader takes the token before it loads from
the store, so a value it loaded before a change can only land under the old token: once
the event of a change is handled, no read returns what was there before it (a page of
projects excepted, see :meth:`CachedQueries.project_page`). A token that expired or was
evicted is replaced by a new one on its next read, which costs misses, never a stale read.
A read costs one cache round trip per token and one for the entry. The results of a job
are cached only once it has finished, when they no longer change, so they need no token;
their entry is deleted when the job finishes anyway.

The cache is optional: when it fails, reads are answered from the store, the failure is
counted in :class:`CacheStats` and logged once per outage (one warning when the cache
first fails, an info message when it answers again). Put it behind a circuit breaker
(:class:`~application.breaker.GuardedCache`, as the container does) and a cache that
failed is skipped for a while instead of costing its timeout on every read. Lookups of
something that does not exist raise :class:`~ports.errors.NotFoundError` as the services
do, and are not cached. Concurrent misses of one key in this process load it once; the
others wait for that load.

Convergence. An entry is stale only while the event of a change made after it was loaded
has not been handled: tokens are replaced, never restored, and a token is only ever
replaced by a new random one, so even a replacement that lands late (a write that timed
out in the client yet reached the server) names entries loaded after the change. Three
faults used to leave an event unhandled until the entry's ttl, and each now ends sooner:

- *The process died between its commit and its invalidation.* The event waits in the
  outbox, due at once; any relay (:mod:`application.relay`: every library process runs one
  in the background of ``running(container)``) delivers it at its next pass, within
  ``outbox_relay_interval`` (1 s by default).
- *The cache did not answer the invalidation (a partition, a restart).* The event stays in
  the outbox, postponed for at most ``max_delay`` (5 s) at a time and never set aside; a
  relay's breaker lets it try the cache again ``cache_breaker_seconds`` (5 s) after its
  last failure. Once the cache answers again, the event is delivered within
  max(``cache_breaker_seconds``, ``max_delay``) + ``outbox_relay_interval``: 6 s with the
  defaults. Meanwhile the processes that cannot reach the cache read the store.
- *The cache restarted and brought back older data* (persistence, a replica taking over):
  invalidations it had acknowledged, and whose events were marked delivered, are lost.
  The Redis adapter drops every key of its prefix on the first connection to a restarted
  server, before any command runs on it (see :mod:`adapters.redis.cache`), so no entry
  from before the restart is read: a missing token is replaced by a new one, which costs
  misses, never a stale read.

Stale reads therefore end within those bounds after the cache answers again, provided one
process runs a relay that reaches the cache (a relay that dies holding claimed messages
leaves them to the others after its 30 s lease).
"""

from __future__ import annotations

import asyncio
import copy
import enum
import functools
import hashlib
import logging
import math
import secrets
import typing
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, cast

import attrs

from application._boundary import service
from application._lookup import require_job
from application.projects import get_project, get_project_by_slug, list_projects
from application.reports import issues_summary, metric_aggregation
from application.rules import effective_rule_set
from domain.analysis import AnalysisResult
from domain.enums import JobStatus, MetricType, ProgrammingLanguage, ProjectStatus
from domain.ids import JobId, OrganizationId, ProjectId
from domain.projects import Project
from domain.reports import IssuesSummary, MetricAggregation
from domain.rules import EffectiveRule
from domain.validation import check_instance
from ports.cache import Cache, Codec
from ports.pagination import MAX_PAGE_SIZE, Page, PageRequest
from ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

__all__ = [
    "DEFAULT_TTL_ANALYSIS",
    "DEFAULT_TTL_METRICS",
    "DEFAULT_TTL_PROJECTS",
    "KEY_FORMAT",
    "VERSION_TTL",
    "CacheStats",
    "CachedQueries",
    "analysis_version",
    "bump_version",
    "entry_key",
    "organization_version",
    "project_version",
    "results_key",
    "rules_version",
    "shape_fingerprint",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

KEY_FORMAT = "v1"
"""Version of the key layout; changing it orphans every entry written before."""

DEFAULT_TTL_PROJECTS = 300.0
DEFAULT_TTL_ANALYSIS = 3600.0
DEFAULT_TTL_METRICS = 86400.0

VERSION_TTL = 7 * 86400.0
"""How long a version token lives unless replaced before (then entries under it miss)."""

SUMMARY_DAYS = 30
"""The window of the issues summary :meth:`CachedQueries.warm_project` loads."""

_IMMUTABLE = "-"
"""The versions part of keys whose value never changes once cached."""

_RESULTS = tuple[AnalysisResult, ...]
_RULE_SET = tuple[EffectiveRule, ...]


# --------------------------------------------------------------------------- counters


@attrs.define
class CacheStats:
    """Counters of cached reads, shared by the reader and whoever reports on it.

    ``hits`` and ``misses`` count cache entries found and not found; ``errors`` cache
    operations that failed or that a circuit breaker skipped (the read was then answered
    from the store); ``loads`` reads of the store made to fill an entry.
    """

    hits: int = 0
    misses: int = 0
    errors: int = 0
    loads: int = 0

    @property
    def hit_ratio(self) -> float:
        """Hits over hits and misses; 0.0 before any read."""
        looked_up = self.hits + self.misses
        return self.hits / looked_up if looked_up else 0.0

    def as_dict(self) -> dict[str, int | float]:
        """The counters and the hit ratio (rounded to four places), as health details."""
        return {
            "hits": self.hits,
            "misses": self.misses,
            "errors": self.errors,
            "loads": self.loads,
            "hit_ratio": round(self.hit_ratio, 4),
        }


# --------------------------------------------------------------------------- keys


@functools.cache
def shape_fingerprint(tp: Any) -> str:
    """A short digest of the shape of the type ``tp``: for an attrs class its name and the
    names and types of its fields, recursively; for an enum its values; for a generic
    alias its origin and arguments. Two types with the same fingerprint serialize alike."""
    return hashlib.sha256(_shape(tp, frozenset()).encode()).hexdigest()[:12]


def _shape(tp: Any, enclosing: frozenset[Any]) -> str:
    origin = typing.get_origin(tp)
    if origin is not None:
        args = ",".join(_shape(arg, enclosing) for arg in typing.get_args(tp))
        return f"{_shape(origin, enclosing)}[{args}]"
    if isinstance(tp, typing.NewType):
        return f"{tp.__name__}<{_shape(tp.__supertype__, enclosing)}>"
    if not isinstance(tp, type):
        return repr(tp)  # Any, a TypeVar, the Ellipsis of tuple[X, ...]
    name = f"{tp.__module__}.{tp.__qualname__}"
    if attrs.has(tp) and tp not in enclosing:
        hints = typing.get_type_hints(tp)
        inner = enclosing | {tp}
        fields = ",".join(f"{a.name}:{_shape(hints[a.name], inner)}" for a in attrs.fields(tp))
        return f"{name}({fields})"
    if issubclass(tp, enum.Enum):
        return f"{name}{{{','.join(str(member.value) for member in tp)}}}"
    return name


def entry_key(kind: str, cls: Any, versions: str, *parts: object) -> str:
    """The key of an entry of type ``cls``: see the module's documentation."""
    return ":".join((KEY_FORMAT, kind, shape_fingerprint(cls), versions, *map(str, parts)))


def results_key(job_id: JobId) -> str:
    """The key of the results of a finished job."""
    return entry_key("results", _RESULTS, _IMMUTABLE, job_id)


def project_version(project_id: ProjectId) -> str:
    """The version key of a project's own entry."""
    return f"{KEY_FORMAT}:version:project:{project_id}"


def organization_version(organization_id: OrganizationId) -> str:
    """The version key of an organization's project lists and slug lookups."""
    return f"{KEY_FORMAT}:version:organization:{organization_id}"


def analysis_version(project_id: ProjectId) -> str:
    """The version key of a project's analysis data: aggregations, issues summaries and
    rule sets."""
    return f"{KEY_FORMAT}:version:analysis:{project_id}"


def rules_version() -> str:
    """The version key of the rule catalogue (every project's rule set depends on it)."""
    return f"{KEY_FORMAT}:version:rules"


@service
async def bump_version(cache: Cache, version_key: str) -> None:
    """Replace the token of ``version_key`` with a new random one, orphaning every entry
    made under the old one."""
    await cache.set(version_key, secrets.token_bytes(8), ttl=VERSION_TTL)


# --------------------------------------------------------------------------- reads


@attrs.frozen
class _Entry(Generic[T]):
    """One cacheable read: what is cached, for how long, under which key, and how to
    load it. ``load`` returns the value and whether it may be cached."""

    kind: str
    cls: Any
    ttl: float
    versions: tuple[str, ...]
    parts: tuple[object, ...]
    load: Callable[[], Awaitable[tuple[T, bool]]]

    @property
    def name(self) -> str:
        """The entry without its versions: what concurrent loads of it share when the
        cache cannot tell the versions."""
        return ":".join((self.kind, *map(str, self.parts)))


async def _cacheable(read: Awaitable[T]) -> tuple[T, bool]:
    return await read, True


class CachedQueries:
    """Cache-aside reads over a :class:`~ports.cache.Cache` (see the module's
    documentation for keys, tiers and failure handling).

    ``uow`` makes a fresh unit of work for each load from the store; ``codec`` turns
    values into the cache's bytes. ``stats`` (a new one by default) is where the counters
    go; share it with a health check to report them. Raises ValueError if a ttl is not a
    positive number of seconds.
    """

    def __init__(
        self,
        cache: Cache,
        codec: Codec,
        uow: UnitOfWorkFactory,
        *,
        ttl_projects: float = DEFAULT_TTL_PROJECTS,
        ttl_analysis: float = DEFAULT_TTL_ANALYSIS,
        ttl_metrics: float = DEFAULT_TTL_METRICS,
        stats: CacheStats | None = None,
    ) -> None:
        self._cache = cache
        self._codec = codec
        self._make_uow = uow
        self._organization_id: OrganizationId | None = None
        self._ttl_projects = _ttl("ttl_projects", ttl_projects)
        self._ttl_analysis = _ttl("ttl_analysis", ttl_analysis)
        self._ttl_metrics = _ttl("ttl_metrics", ttl_metrics)
        self.stats = CacheStats() if stats is None else stats
        self._flights: dict[str, asyncio.Future[Any]] = {}
        self._outage = False

    def for_organization(self, organization_id: OrganizationId) -> CachedQueries:
        """The same reads for one organization: loaded through units of work opened for
        it (another organization's rows are not there for them) and cached under keys of
        its own, so that no organization is answered from what another one read. The
        cache, counters and in-flight loads are shared with this one."""
        check_instance("organization_id", organization_id, uuid.UUID)
        scoped = copy.copy(self)
        scoped._organization_id = organization_id
        return scoped

    def _uow(self) -> UnitOfWork:
        if self._organization_id is None:
            return self._make_uow(system=True)
        return self._make_uow(organization_id=self._organization_id)

    # ----------------------------------------------------------------- public reads

    async def project(self, project_id: ProjectId) -> Project:
        """The project with that id; NotFoundError if it does not exist or was deleted."""
        return await self._read(self._project_entry(project_id))

    async def project_by_slug(self, organization_id: OrganizationId, slug: str) -> Project:
        """The organization's project with that slug; NotFoundError if there is none.

        The slug's entry holds only the project's id; the project itself comes from its
        own entry, and if it no longer has that slug the store is asked again."""
        project_id = ProjectId(await self._read(self._slug_entry(organization_id, slug)))
        project = await self.project(project_id)
        if project.organization_id != organization_id or project.slug != slug:
            return await get_project_by_slug(self._uow(), organization_id, slug)
        return project

    async def project_page(
        self,
        organization_id: OrganizationId,
        page: PageRequest | None = None,
        *,
        status: ProjectStatus | None = None,
    ) -> Page[Project]:
        """One keyset page of an organization's projects (as
        :func:`~application.projects.list_projects`). Fields that change without a project
        event (``last_analyzed_at``) may be up to ``ttl_projects`` old in a page."""
        request = page or PageRequest()
        query = f"{request.limit}|{request.cursor}|{request.sort}|{request.descending}|{status}"
        digest = hashlib.sha256(query.encode()).hexdigest()[:16]
        return await self._read(
            _Entry(
                "projects",
                Page[Project],
                self._ttl_projects,
                (organization_version(organization_id),),
                (organization_id, digest),
                lambda: _cacheable(
                    list_projects(self._uow(), organization_id, request, status=status)
                ),
            )
        )

    async def job_results(self, job_id: JobId) -> tuple[AnalysisResult, ...]:
        """Every result of a job, oldest first; NotFoundError if there is no such job.
        Cached once the job has finished."""
        return await self._read(self._results_entry(job_id))

    async def metric_aggregation(
        self, project_id: ProjectId, metric_type: MetricType
    ) -> MetricAggregation:
        """Statistics per metric name of ``metric_type`` over the latest completed job."""
        return await self._read(self._aggregation_entry(project_id, metric_type))

    async def issues_summary(
        self, project_id: ProjectId, days: int = SUMMARY_DAYS
    ) -> IssuesSummary:
        """Issues of the project's completed jobs of the last ``days`` days, grouped by
        severity and category, as computed when the entry was loaded."""
        return await self._read(self._summary_entry(project_id, days))

    async def rule_set(
        self,
        project_id: ProjectId,
        *,
        language: ProgrammingLanguage | None = None,
        include_disabled: bool = False,
    ) -> tuple[EffectiveRule, ...]:
        """The rules as they apply to a project (as
        :func:`~application.rules.effective_rule_set`)."""

        async def load() -> tuple[_RULE_SET, bool]:
            rules = await effective_rule_set(
                self._uow(), project_id, language=language, include_disabled=include_disabled
            )
            return tuple(rules), True

        return await self._read(
            _Entry(
                "rule-set",
                _RULE_SET,
                self._ttl_projects,
                (analysis_version(project_id), rules_version()),
                (project_id, language or "*", include_disabled),
                load,
            )
        )

    async def warm_project(self, project_id: ProjectId) -> None:
        """Load a project's hot data from the store into the cache, replacing what is
        there: the project (by id and by slug), the results of its latest completed job,
        the aggregation of every metric type and the issues summary of the last
        :data:`SUMMARY_DAYS` days. NotFoundError if there is no such project; a failing
        cache is handled as by the reads."""
        project = await self._refresh(self._project_entry(project_id))
        await self._refresh(self._slug_entry(project.organization_id, project.slug))
        uow = self._uow()
        async with uow:
            job = await uow.analysis.latest_job(project_id, status=JobStatus.COMPLETED)
        if job is not None:
            await self._refresh(self._results_entry(job.id))
        for metric_type in MetricType:
            await self._refresh(self._aggregation_entry(project_id, metric_type))
        await self._refresh(self._summary_entry(project_id, SUMMARY_DAYS))

    # ----------------------------------------------------------------- entries

    def _project_entry(self, project_id: ProjectId) -> _Entry[Project]:
        return _Entry(
            "project",
            Project,
            self._ttl_projects,
            (project_version(project_id),),
            (project_id,),
            lambda: _cacheable(get_project(self._uow(), project_id)),
        )

    def _slug_entry(self, organization_id: OrganizationId, slug: str) -> _Entry[uuid.UUID]:
        async def load() -> tuple[uuid.UUID, bool]:
            project = await get_project_by_slug(self._uow(), organization_id, slug)
            return project.id, True

        return _Entry(
            "project-id",
            uuid.UUID,
            self._ttl_projects,
            (organization_version(organization_id),),
            (organization_id, slug),
            load,
        )

    def _results_entry(self, job_id: JobId) -> _Entry[_RESULTS]:
        async def load() -> tuple[_RESULTS, bool]:
            results: list[AnalysisResult] = []
            cursor: str | None = None
            uow = self._uow()
            async with uow:
                job = await require_job(uow, job_id)
                while True:
                    page = PageRequest(limit=MAX_PAGE_SIZE, cursor=cursor)
                    found = await uow.analysis.find_results_by_job(job_id, page)
                    results.extend(found.items)
                    cursor = found.next_cursor
                    if cursor is None:
                        break
            return tuple(results), job.status.is_terminal

        return _Entry("results", _RESULTS, self._ttl_analysis, (), (job_id,), load)

    def _aggregation_entry(
        self, project_id: ProjectId, metric_type: MetricType
    ) -> _Entry[MetricAggregation]:
        return _Entry(
            "metrics",
            MetricAggregation,
            self._ttl_metrics,
            (analysis_version(project_id),),
            (project_id, metric_type),
            lambda: _cacheable(metric_aggregation(self._uow(), project_id, metric_type)),
        )

    def _summary_entry(self, project_id: ProjectId, days: int) -> _Entry[IssuesSummary]:
        return _Entry(
            "issues",
            IssuesSummary,
            self._ttl_analysis,
            (analysis_version(project_id),),
            (project_id, days),
            lambda: _cacheable(issues_summary(self._uow(), project_id, days)),
        )

    # ----------------------------------------------------------------- machinery

    async def _read(self, entry: _Entry[T]) -> T:
        """The cached value of ``entry``, else the one loaded (once for concurrent
        misses) and cached."""
        try:
            key = await self._key(entry)
            raw = await self._cache.get(key)
        except Exception as exc:
            self._failed(exc)
            return await self._once(entry.name, lambda: self._load(entry, None))
        self._answered()
        if raw is not None:
            try:
                value: T = self._codec.loads(raw, entry.cls)
            except Exception as exc:
                log.warning("the cached value of %s does not decode, reloading it: %s", key, exc)
            else:
                self.stats.hits += 1
                return value
        self.stats.misses += 1
        return await self._once(key, lambda: self._load(entry, key))

    async def _refresh(self, entry: _Entry[T]) -> T:
        """Load ``entry`` from the store and cache it, whatever the cache holds."""
        try:
            key: str | None = await self._key(entry)
        except Exception as exc:
            self._failed(exc)
            key = None
        return await self._load(entry, key)

    async def _once(self, flight: str, run: Callable[[], Awaitable[T]]) -> T:
        """What ``run`` returns, unless a run of the same ``flight`` is under way: then
        what that one returns. The run is a task of its own, so a caller giving up does
        not cancel it for the others."""
        task = self._flights.get(flight)
        if task is None:
            task = asyncio.ensure_future(run())
            self._flights[flight] = task
            task.add_done_callback(functools.partial(self._landed, flight))
        return cast(T, await asyncio.shield(task))

    def _landed(self, flight: str, task: asyncio.Future[Any]) -> None:
        del self._flights[flight]
        if not task.cancelled():
            task.exception()  # retrieved: it reached (or was abandoned by) every reader

    async def _load(self, entry: _Entry[T], key: str | None) -> T:
        """Load ``entry`` from the store; cache it under ``key`` (None: the cache failed)
        if it may be cached."""
        value, cacheable = await entry.load()
        self.stats.loads += 1
        if key is not None and cacheable:
            data = self._codec.dumps(value)
            try:
                await self._cache.set(key, data, ttl=entry.ttl)
            except Exception as exc:
                self._failed(exc)
        return value

    async def _key(self, entry: _Entry[Any]) -> str:
        tokens = [await self._token(name) for name in entry.versions]
        kind = entry.kind
        if self._organization_id is not None:  # an organization's view keys its own entries
            kind = f"{kind}@{self._organization_id}"
        return entry_key(kind, entry.cls, ".".join(tokens) or _IMMUTABLE, *entry.parts)

    async def _token(self, version_key: str) -> str:
        """The current token of ``version_key``, created if missing (once for concurrent
        readers, so that they share one key)."""
        token = await self._cache.get(version_key)
        if token is None:
            token = await self._once(version_key, lambda: self._new_token(version_key))
        return token.hex()

    async def _new_token(self, version_key: str) -> bytes:
        """The token of ``version_key``, created unless another reader made it meanwhile."""
        token = await self._cache.get(version_key)
        if token is None:
            token = secrets.token_bytes(8)
            await self._cache.set(version_key, token, ttl=VERSION_TTL)
        return token

    def _failed(self, exc: Exception) -> None:
        self.stats.errors += 1
        if not self._outage:
            self._outage = True
            log.warning(
                "the cache failed, reading from the store until it answers again: %s: %s",
                type(exc).__name__,
                exc,
            )

    def _answered(self) -> None:
        if self._outage:
            self._outage = False
            log.info("the cache answers again")


def _ttl(field: str, value: float) -> float:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{field} must be a positive number of seconds, got {value!r}")
    return float(value)
