"""Read-only reports of a project: issues summary, metric aggregations, hotspots."""

from __future__ import annotations

import attrs

from application._boundary import service
from application._lookup import require_project
from domain.enums import MetricType
from domain.ids import ProjectId
from domain.projects import Project
from domain.reports import FileHotspot, IssuesSummary, MetricAggregation
from domain.validation import check_int
from ports.unit_of_work import UnitOfWork

__all__ = [
    "MAX_HOTSPOTS",
    "MAX_SUMMARY_DAYS",
    "ProjectReport",
    "hotspots",
    "issues_summary",
    "metric_aggregation",
    "project_report",
]

MAX_SUMMARY_DAYS = 3650
MAX_HOTSPOTS = 1000


@attrs.frozen(kw_only=True)
class ProjectReport:
    """Everything the project dashboard shows, read in one consistent unit of work."""

    project: Project
    summary: IssuesSummary
    aggregations: dict[MetricType, MetricAggregation]
    hotspots: tuple[FileHotspot, ...]


@service
async def issues_summary(
    uow: UnitOfWork, project_id: ProjectId, days: int = 30, *, latest_only: bool = False
) -> IssuesSummary:
    """Issues of the project's completed jobs of the last ``days`` days (of its latest
    completed job only, with ``latest_only``), grouped by severity and category."""
    check_int("days", days, 1, MAX_SUMMARY_DAYS)
    async with uow:
        await require_project(uow, project_id)
        return await uow.analysis.issues_summary(project_id, days=days, latest_only=latest_only)


@service
async def metric_aggregation(
    uow: UnitOfWork, project_id: ProjectId, metric_type: MetricType
) -> MetricAggregation:
    """Statistics per metric name of ``metric_type`` over the latest completed job."""
    async with uow:
        await require_project(uow, project_id)
        return await uow.analysis.aggregate_metrics(project_id, metric_type)


@service
async def hotspots(uow: UnitOfWork, project_id: ProjectId, limit: int = 10) -> list[FileHotspot]:
    """The files with the most issues in the latest completed job, most first."""
    check_int("limit", limit, 1, MAX_HOTSPOTS)
    async with uow:
        await require_project(uow, project_id)
        return await uow.analysis.hotspots(project_id, limit=limit)


@service
async def project_report(
    uow: UnitOfWork,
    project_id: ProjectId,
    *,
    days: int = 30,
    hotspot_limit: int = 10,
    latest_only: bool = False,
) -> ProjectReport:
    """The issues summary (of the latest completed job only, with ``latest_only``, like
    the hotspots and aggregations), the aggregation of every metric type and the hotspots
    of a project, all read in one unit of work."""
    check_int("days", days, 1, MAX_SUMMARY_DAYS)
    check_int("hotspot_limit", hotspot_limit, 1, MAX_HOTSPOTS)
    async with uow:
        project = await require_project(uow, project_id)
        summary = await uow.analysis.issues_summary(project_id, days=days, latest_only=latest_only)
        aggregations = {
            metric_type: await uow.analysis.aggregate_metrics(project_id, metric_type)
            for metric_type in MetricType
        }
        spots = await uow.analysis.hotspots(project_id, limit=hotspot_limit)
    return ProjectReport(
        project=project, summary=summary, aggregations=aggregations, hotspots=tuple(spots)
    )
