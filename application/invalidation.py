"""Cache invalidation: which cached reads of :class:`~application.caching.CachedQueries`
each domain event makes stale.

=====================================================  ====================================
Event                                                  Made stale
=====================================================  ====================================
ProjectCreated, ProjectUpdated, ProjectArchived        the project; its organization's
                                                       project lists and slug lookups
ProjectDeleted                                         the same and the project's analysis
                                                       data
AnalysisCompleted                                      the job's results, the project
                                                       (``last_analyzed_at``) and its
                                                       analysis data
AnalysisFailed                                         the job's results and the project's
                                                       analysis data
FileChanged, ConfigurationChanged                      the project's analysis data (a
                                                       removed file takes its results and
                                                       metrics; rule sets are analysis
                                                       data)
RuleChanged                                            every project's rule sets
=====================================================  ====================================

Other events change nothing cached. "Analysis data" is a project's metric aggregations,
issues summaries and rule sets.
"""

from __future__ import annotations

from application.caching import (
    analysis_version,
    bump_version,
    organization_version,
    project_version,
    results_key,
    rules_version,
)
from domain.events import (
    AnalysisCompleted,
    AnalysisFailed,
    ConfigurationChanged,
    DomainEvent,
    FileChanged,
    ProjectArchived,
    ProjectCreated,
    ProjectDeleted,
    ProjectUpdated,
    RuleChanged,
)
from ports.cache import Cache

__all__ = ["CacheInvalidator", "stale_keys"]


def stale_keys(event: DomainEvent) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The version keys whose token ``event`` replaces, and the keys it deletes."""
    match event:
        case ProjectCreated() | ProjectUpdated() | ProjectArchived():
            project = project_version(event.project_id)
            return (project, organization_version(event.organization_id)), ()
        case ProjectDeleted():
            project = project_version(event.project_id)
            organization = organization_version(event.organization_id)
            return (project, organization, analysis_version(event.project_id)), ()
        case AnalysisCompleted():
            versions = (project_version(event.project_id), analysis_version(event.project_id))
            return versions, (results_key(event.job_id),)
        case AnalysisFailed():
            return (analysis_version(event.project_id),), (results_key(event.job_id),)
        case FileChanged() | ConfigurationChanged():
            return (analysis_version(event.project_id),), ()
        case RuleChanged():
            return (rules_version(),), ()
    return (), ()


class CacheInvalidator:
    """The cache-invalidation handler of domain events, for the outbox relay.

    :meth:`handle` is idempotent: delivering an event again only costs cache misses.
    """

    def __init__(self, cache: Cache) -> None:
        self._cache = cache

    async def handle(self, event: DomainEvent) -> None:
        """Make what ``event`` changed stale in the cache (a no-op for other events).
        A failing cache raises (:class:`~ports.errors.UnavailableError`), so the relay
        delivers the event again later."""
        versions, keys = stale_keys(event)
        for version in versions:
            await bump_version(self._cache, version)
        if keys:
            await self._cache.delete(*keys)
