"""Read models returned by the reporting queries."""

from __future__ import annotations

import datetime as dt

import attrs

from domain.enums import Category, MetricType, Severity
from domain.ids import FileId, JobId, ProjectId

__all__ = [
    "FileHotspot",
    "FileRef",
    "FileRename",
    "IssuesSummary",
    "IssuesSummaryRow",
    "MetricAggregation",
    "MetricStats",
    "SnapshotResult",
]


@attrs.frozen(kw_only=True)
class IssuesSummaryRow:
    severity: Severity
    category: Category
    count: int
    avg_confidence: float


@attrs.frozen(kw_only=True)
class IssuesSummary:
    """Issues of a project's completed jobs in a window (30 days by default), grouped by
    severity and category: most severe first, then the largest groups."""

    project_id: ProjectId
    since: dt.datetime
    rows: tuple[IssuesSummaryRow, ...]

    @property
    def total(self) -> int:
        return sum(r.count for r in self.rows)

    def by_severity(self) -> dict[Severity, int]:
        out: dict[Severity, int] = {}
        for row in self.rows:
            out[row.severity] = out.get(row.severity, 0) + row.count
        return out

    def by_category(self) -> dict[Category, int]:
        out: dict[Category, int] = {}
        for row in self.rows:
            out[row.category] = out.get(row.category, 0) + row.count
        return out


@attrs.frozen(kw_only=True)
class MetricStats:
    metric_name: str
    count: int
    min: float
    max: float
    avg: float
    sum: float
    violations: int


@attrs.frozen(kw_only=True)
class MetricAggregation:
    """Statistics of one metric type over the files of a project's latest completed job
    (``job_id`` is None and ``metrics`` empty when the project has none)."""

    project_id: ProjectId
    metric_type: MetricType
    job_id: JobId | None
    metrics: tuple[MetricStats, ...]

    def get(self, metric_name: str) -> MetricStats | None:
        return next((m for m in self.metrics if m.metric_name == metric_name), None)


@attrs.frozen(kw_only=True)
class FileHotspot:
    file_id: FileId
    relative_path: str
    issues: int
    worst_severity: Severity


@attrs.frozen
class FileRef:
    id: FileId
    relative_path: str


@attrs.frozen
class FileRename:
    id: FileId
    relative_path: str
    previous_path: str


@attrs.frozen(kw_only=True)
class SnapshotResult:
    """What recording a file-index snapshot changed: the files added, modified (their
    hash changed at the same path), renamed (a known file at a new path, whatever its
    content), restored (a removed file that came back), removed (absent from the
    snapshot: kept, marked deleted), and how many were unchanged."""

    added: tuple[FileRef, ...] = ()
    modified: tuple[FileRef, ...] = ()
    renamed: tuple[FileRename, ...] = ()
    restored: tuple[FileRef, ...] = ()
    removed: tuple[FileRef, ...] = ()
    unchanged: int = 0

    @property
    def changed(self) -> int:
        return (
            len(self.added)
            + len(self.modified)
            + len(self.renamed)
            + len(self.restored)
            + len(self.removed)
        )
