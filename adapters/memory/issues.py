"""In-memory issues, measures, quality gates and new-code periods (see ports.repositories)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any

import attrs

from adapters.memory._query import copied, paginate
from adapters.memory.repositories import _Base
from domain.enums import IssueStatus, Severity
from domain.ids import FileId, GateId, IssueId, JobId, OrganizationId, ProjectId
from domain.issues import Issue, IssueChange
from domain.quality import GateEvaluation, IssueCount, MeasurePoint, NewCodePeriod, QualityGate
from ports.errors import DuplicateError, NotFoundError
from ports.pagination import Page, PageRequest
from ports.repositories import ISSUE_SORTS, IssueFilters

__all__ = [
    "MemoryIssueRepository",
    "MemoryMeasureRepository",
    "MemoryNewCodeRepository",
    "MemoryQualityGateRepository",
]


class MemoryIssueRepository(_Base):
    table = "issues"

    async def add_many(self, issues: Sequence[Issue]) -> int:
        tx = self._tx()
        for issue in issues:
            tx.insert(self.table, issue)
        return len(issues)

    async def update_many(self, issues: Sequence[Issue]) -> int:
        tx = self._tx()
        for issue in issues:
            current = tx.get(self.table, issue.id)
            if current is None:
                raise NotFoundError("issue", issue.id)
            stored = copied(issue)
            for fixed in ("project_id", "branch", "created_at"):
                object.__setattr__(stored, fixed, getattr(current, fixed))
            tx.replace(self.table, stored)
        return len(issues)

    async def find_by_id(self, id: IssueId) -> Issue | None:
        row = self._get(id)
        return copied(row) if row is not None else None

    async def lock(self, id: IssueId) -> Issue:
        row = await self._tx().lock(self.table, id)
        if row is None:
            raise NotFoundError("issue", id)
        issue: Issue = copied(row)
        return issue

    async def for_tracking(
        self,
        project_id: ProjectId,
        branch: str,
        *,
        closed_since: dt.datetime,
        file_ids: Sequence[FileId | None] | None = None,
    ) -> list[Issue]:
        wanted = None if file_ids is None else set(file_ids)
        return [
            copied(r)
            for r in self._tx().scan(self.table)
            if r.project_id == project_id
            and r.branch == branch
            and (r.status is not IssueStatus.CLOSED or r.closed_at >= closed_since)
            and (wanted is None or r.file_id in wanted)
        ]

    async def add_changes(self, changes: Sequence[IssueChange]) -> int:
        tx = self._tx()
        for change in changes:
            tx.insert("issue_changes", change)
        return len(changes)

    async def changelog(self, issue_id: IssueId) -> list[IssueChange]:
        rows = [r for r in self._tx().scan("issue_changes") if r.issue_id == issue_id]
        rows.sort(key=lambda r: (r.at, str(r.id)))
        return [copied(r) for r in rows]

    async def mark_new_code(
        self, project_id: ProjectId, branch: str, *, since: dt.datetime | None
    ) -> int:
        tx = self._tx()
        changed = 0
        for row in list(tx.scan(self.table)):
            if row.project_id != project_id or row.branch != branch:
                continue
            new = since is not None and row.first_seen_at > since
            if row.new_code != new:
                stored = copied(row)
                stored.new_code = new
                tx.replace(self.table, stored)
                changed += 1
        return changed

    async def counts(self, project_id: ProjectId, branch: str) -> list[IssueCount]:
        counter: Counter[tuple[Any, ...]] = Counter(
            (r.status, r.resolution, r.severity, r.new_code)
            for r in self._tx().scan(self.table)
            if r.project_id == project_id and r.branch == branch
        )
        return [
            IssueCount(status=s, resolution=res, severity=sev, new_code=new, count=n)
            for (s, res, sev, new), n in sorted(counter.items(), key=lambda kv: str(kv[0]))
        ]

    async def delete_closed(self, *, before: dt.datetime) -> int:
        tx = self._tx()
        gone = [
            r.id
            for r in tx.scan(self.table)
            if r.status is IssueStatus.CLOSED and r.closed_at < before
        ]
        for issue_id in gone:
            tx.delete(self.table, issue_id)
        return len(gone)

    async def list(
        self, project_id: ProjectId, page: PageRequest, *, filters: IssueFilters | None = None
    ) -> Page[Issue]:
        f = filters or IssueFilters()
        rows = (
            r
            for r in self._tx().scan(self.table)
            if r.project_id == project_id
            and (f.branch is None or r.branch == f.branch)
            and (f.statuses is None or r.status in f.statuses)
            and (f.min_severity is None or r.severity >= f.min_severity)
            and (f.new_code is None or r.new_code == f.new_code)
            and (f.file_id is None or r.file_id == f.file_id)
            and (f.rule_id is None or r.rule_id == f.rule_id)
        )
        return paginate(rows, page, sorts=ISSUE_SORTS, key=_sort_value)


def _sort_value(row: Issue, field: str) -> Any:
    if field == "severity":  # most severe first, then by place: one string, for a cursor
        return f"{Severity(row.severity).rank}{row.path}\x00{row.line or 0:010d}"
    return getattr(row, field)


# ---------------------------------------------------------------------------- measures


@attrs.frozen(kw_only=True)
class _Measures:
    id: JobId
    job_id: JobId
    project_id: ProjectId
    branch: str
    measures: dict[str, float]
    at: dt.datetime


@attrs.frozen(kw_only=True)
class _LiveMeasures:
    id: tuple[ProjectId, str]
    project_id: ProjectId
    branch: str
    job_id: JobId
    measures: dict[str, float]
    updated_at: dt.datetime


@attrs.frozen(kw_only=True)
class _Gate:
    id: JobId
    job_id: JobId
    evaluation: GateEvaluation


class MemoryMeasureRepository(_Base):
    table = "analysis_measures"

    async def record(
        self,
        job_id: JobId,
        project_id: ProjectId,
        branch: str,
        measures: dict[str, float],
        *,
        at: dt.datetime,
    ) -> int:
        tx = self._tx()
        values = {name: float(value) for name, value in measures.items()}
        row = _Measures(
            id=job_id, job_id=job_id, project_id=project_id, branch=branch, measures=values, at=at
        )
        if tx.get(self.table, job_id) is not None:
            raise DuplicateError("analysis measures", "job_id", job_id)
        tx.insert(self.table, row)
        live = _LiveMeasures(
            id=(project_id, branch),
            project_id=project_id,
            branch=branch,
            job_id=job_id,
            measures=values,
            updated_at=at,
        )
        if tx.get("live_measures", live.id) is None:
            tx.insert("live_measures", live)
        else:
            tx.replace("live_measures", live)
        return len(values)

    async def live(self, project_id: ProjectId, branch: str) -> dict[str, float]:
        row = self._tx().get("live_measures", (project_id, branch))
        return dict(row.measures) if row is not None else {}

    async def history(self, project_id: ProjectId, branch: str, metric: str) -> list[MeasurePoint]:
        rows = sorted(
            (
                r
                for r in self._tx().scan(self.table)
                if r.project_id == project_id and r.branch == branch and metric in r.measures
            ),
            key=lambda r: (r.at, str(r.job_id)),
        )
        return [MeasurePoint(job_id=r.job_id, at=r.at, value=r.measures[metric]) for r in rows]

    async def record_gate(self, evaluation: GateEvaluation) -> None:
        tx = self._tx()
        if tx.get("analysis_gates", evaluation.job_id) is not None:
            raise DuplicateError("analysis gate", "job_id", evaluation.job_id)
        tx.insert(
            "analysis_gates",
            _Gate(id=evaluation.job_id, job_id=evaluation.job_id, evaluation=evaluation),
        )

    async def gate(self, job_id: JobId) -> GateEvaluation | None:
        row = self._tx().get("analysis_gates", job_id)
        return copied(row.evaluation) if row is not None else None

    async def latest_gate(self, project_id: ProjectId, branch: str) -> GateEvaluation | None:
        tx = self._tx()
        gates = []
        for row in tx.scan("analysis_gates"):
            e = row.evaluation
            job = tx.get("analysis_jobs", row.job_id)
            if e.project_id == project_id and e.branch == branch and job is not None:
                gates.append(((job.created_at, str(job.id)), e))
        if not gates:
            return None
        latest: GateEvaluation = max(gates, key=lambda g: g[0])[1]
        return copied(latest)


# ---------------------------------------------------------------------------- gates


@attrs.frozen(kw_only=True)
class _Assignment:
    id: ProjectId
    project_id: ProjectId
    gate_id: GateId


class MemoryQualityGateRepository(_Base):
    table = "quality_gates"

    async def create(self, gate: QualityGate) -> QualityGate:
        return self._create(gate)

    async def find_by_id(self, id: GateId) -> QualityGate | None:
        row = self._get(id)
        return copied(row) if row is not None else None

    async def find_by_name(self, organization_id: OrganizationId, name: str) -> QualityGate | None:
        row = self._tx().find_unique(
            self.table, ("organization_id", "name"), (organization_id, name)
        )
        return copied(row) if row is not None else None

    async def update(self, gate: QualityGate) -> QualityGate:
        return self._update_versioned(gate)

    async def delete(self, id: GateId) -> None:
        self._tx().delete(self.table, id)

    async def assign(self, project_id: ProjectId, gate_id: GateId | None) -> None:
        tx = self._tx()
        project = tx.get("projects", project_id)
        if project is None:
            raise NotFoundError("project", project_id)
        if gate_id is not None:
            gate = tx.get(self.table, gate_id)
            if gate is None or gate.organization_id != project.organization_id:
                raise NotFoundError("quality gate", gate_id)
        current = tx.get("project_quality_gates", project_id)
        if gate_id is None:
            if current is not None:
                tx.delete("project_quality_gates", project_id)
            return
        row = _Assignment(id=project_id, project_id=project_id, gate_id=gate_id)
        if current is None:
            tx.insert("project_quality_gates", row)
        else:
            tx.replace("project_quality_gates", row)

    async def assigned(self, project_id: ProjectId) -> QualityGate | None:
        tx = self._tx()
        row = tx.get("project_quality_gates", project_id)
        if row is not None:
            gate: QualityGate | None = tx.get(self.table, row.gate_id)
            if gate is not None:
                return copied(gate)
        project = tx.get("projects", project_id)
        if project is None:
            return None
        default = tx.find_unique(
            self.table, ("organization_id", "is_default"), (project.organization_id, True)
        )
        return copied(default) if default is not None else None

    async def list(self, organization_id: OrganizationId) -> list[QualityGate]:
        rows = [r for r in self._tx().scan(self.table) if r.organization_id == organization_id]
        rows.sort(key=lambda r: (r.name, str(r.id)))
        return [copied(r) for r in rows]


# ---------------------------------------------------------------------------- new code


@attrs.frozen(kw_only=True)
class _Period:
    id: tuple[ProjectId, str | None]
    project_id: ProjectId
    branch: str | None
    period: NewCodePeriod


class MemoryNewCodeRepository(_Base):
    table = "new_code_periods"

    async def set(self, project_id: ProjectId, branch: str | None, period: NewCodePeriod) -> None:
        tx = self._tx()
        row = _Period(id=(project_id, branch), project_id=project_id, branch=branch, period=period)
        if tx.get(self.table, row.id) is None:
            tx.insert(self.table, row)
        else:
            tx.replace(self.table, row)

    async def get(self, project_id: ProjectId, branch: str | None) -> NewCodePeriod | None:
        row = self._tx().get(self.table, (project_id, branch))
        return copied(row.period) if row is not None else None

    async def clear(self, project_id: ProjectId, branch: str | None) -> bool:
        tx = self._tx()
        if tx.get(self.table, (project_id, branch)) is None:
            return False
        tx.delete(self.table, (project_id, branch))
        return True
