"""Issue tracking, new code, measures and the quality gate of a completing analysis.

:func:`track_analysis` runs inside the unit of work that completes a job
(:func:`application.analysis.complete_analysis`), so an analysis and what it did to the
branch's issues commit together or not at all:

1. the job's findings are matched with the branch's issues (:func:`domain.issues.track`):
   only the issues of the files the job analysed or saw removed, when the branch's previous
   analysis is the project's previous one (the usual incremental run); every issue of the
   branch, against everything the job holds, when another branch's analysis came between
   (the files the job did not analyse may hold other findings than the branch last saw);
2. a matched issue follows its finding (and comes back if it was closed); a finding no
   issue matched is a new issue; an issue of those files no finding matched is closed;
   each move is written to the issue's changelog, each result of the job names its issue;
3. each issue's new-code flag is set from the branch's new-code period;
4. the branch's measures (overall and on new code) are recorded, with the quality gate
   evaluated on them.

What the job did not analyse is not read again, so the cost follows the files that
changed, not the issues the branch has.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import attrs

from application._walk import every_result
from domain.analysis import AnalysisJob, AnalysisResult
from domain.enums import IssueStatus, NewCodeKind
from domain.ids import FileId
from domain.issues import Finding, Issue, IssueChange, line_hash, track
from domain.projects import Project
from domain.quality import (
    DEFAULT_CONDITIONS,
    DEFAULT_GATE_NAME,
    GateEvaluation,
    NewCodePeriod,
    evaluate_gate,
    issue_measures,
)
from ports.unit_of_work import UnitOfWork

__all__ = [
    "CLOSED_MATCH_WINDOW",
    "TrackingOutcome",
    "effective_period",
    "track_analysis",
    "with_line_hashes",
]

CLOSED_MATCH_WINDOW = dt.timedelta(days=30)
"""How long a closed issue can still come back with its id (else a new issue is found)."""

RUN_ACTOR = "analysis"
"""Who the changelog names for the moves an analysis makes when its unit names no actor."""


@attrs.frozen(kw_only=True)
class TrackingOutcome:
    """What one analysis did to its branch's issues, and its gate."""

    tracked: int
    new: int
    reopened: int
    closed: int
    gate: GateEvaluation
    measures: Mapping[str, float]

    def summary(self) -> dict[str, object]:
        """The outcome as the job's metadata records it."""
        return {
            "issues": {
                "tracked": self.tracked,
                "new": self.new,
                "reopened": self.reopened,
                "closed": self.closed,
            },
            "gate": str(self.gate.status),
        }


def with_line_hashes(
    results: Sequence[AnalysisResult], texts: Mapping[FileId, str]
) -> list[AnalysisResult]:
    """``results`` with the hash of their first line's content (domain.issues.line_hash),
    read from their file's text in ``texts``."""
    lines: dict[FileId, list[str]] = {}
    out = []
    for result in results:
        if result.file_id is None or result.location is None or result.line_hash:
            out.append(result)
            continue
        text = texts.get(result.file_id)
        if text is None:
            out.append(result)
            continue
        split = lines.get(result.file_id)
        if split is None:
            split = lines[result.file_id] = text.splitlines()
        number = result.location.line_start
        if number > len(split):
            out.append(result)
            continue
        out.append(attrs.evolve(result, line_hash=line_hash(split[number - 1])))
    return out


async def effective_period(uow: UnitOfWork, project: Project, branch: str) -> NewCodePeriod:
    """The branch's new-code period: its own, else its project's, else the previous
    analysis."""
    return (
        await uow.new_code.get(project.id, branch)
        or await uow.new_code.get(project.id, None)
        or NewCodePeriod()
    )


def _finding(result: AnalysisResult) -> Finding:
    location = result.location
    return Finding(
        rule_id=result.rule_id,
        severity=result.severity,
        category=result.category,
        title=result.title,
        description=result.description,
        file_id=result.file_id,
        path=location.file_path if location is not None else "",
        line=location.line_start if location is not None else None,
        line_hash=result.line_hash,
    )


async def track_analysis(
    uow: UnitOfWork,
    job: AnalysisJob,
    project: Project,
    results: Sequence[AnalysisResult],
    touched: Sequence[FileId],
) -> tuple[list[AnalysisResult], TrackingOutcome]:
    """Track the issues of ``job`` (completing in ``uow``, its results not yet written):
    ``results`` are the job's own, ``touched`` the files it analysed or saw removed.
    Returns the results, each naming its issue, and the outcome (see the module
    docstring). The job's file history must already be written."""
    at = job.created_at  # the analysis' date: new code is measured in these
    branch = job.branch or ""
    actor = uow.actor or RUN_ACTOR
    previous = await uow.analysis.latest_job(job.project_id, branch=branch, before=job.id)
    last = await uow.analysis.latest_job(job.project_id, before=job.id)
    incremental = previous is not None and last is not None and previous.id == last.id
    own = list(results)
    held: list[AnalysisResult] = []
    if incremental:
        scope: list[FileId | None] | None = [*dict.fromkeys(touched), None]
    else:
        scope = None  # the branch's every issue, against everything the job holds
        if last is not None:
            mine = set(touched)
            held = [
                r
                for r in await every_result(uow, last.id)
                if r.file_id is not None and r.file_id not in mine
            ]
    candidates = await uow.issues.for_tracking(
        job.project_id, branch, closed_since=at - CLOSED_MATCH_WINDOW, file_ids=scope
    )
    findings = [_finding(r) for r in (*own, *held)]
    tracking = track(findings, candidates)

    period = await effective_period(uow, project, branch)
    baseline = await _baseline(uow, period, previous, at)
    reference = await _reference_issues(uow, project, branch, period, at)

    created: list[Issue] = []
    changed: dict[object, Issue] = {}
    changes: list[IssueChange] = []
    linked: list[AnalysisResult] = []
    reopened = 0
    unmatched = [finding for finding, issue in tracking.matches if issue is None]
    on_new_code = iter(_on_new_code(unmatched, baseline, reference))
    for n, (finding, issue) in enumerate(tracking.matches):
        if issue is None:
            issue = Issue.found(
                finding, job.project_id, branch, job.id, at, new_code=next(on_new_code)
            )
            created.append(issue)
            changes.append(
                IssueChange(
                    issue_id=issue.id,
                    job_id=job.id,
                    actor=actor,
                    at=at,
                    from_status=None,
                    to_status=IssueStatus.OPEN,
                    comment="found",
                )
            )
        else:
            move = issue.observe(finding, job.id, at, actor=actor)
            if move is not None:
                changes.append(move)
                reopened += move.to_status is IssueStatus.REOPENED
            changed[issue.id] = issue
        if n < len(own):
            linked.append(attrs.evolve(own[n], issue_id=issue.id))
    closed = 0
    for issue in tracking.missing:
        move = issue.disappear(job.id, at, actor=actor)
        if move is not None:
            changes.append(move)
            changed[issue.id] = issue
            closed += 1
    if created:
        await uow.issues.add_many(created)
    if changed:
        await uow.issues.update_many(list(changed.values()))
    if changes:
        await uow.issues.add_changes(changes)
    if period.kind is not NewCodeKind.REFERENCE_BRANCH:
        await uow.issues.mark_new_code(job.project_id, branch, since=baseline)

    gate, measures = await _measure_and_gate(uow, job, project, branch, baseline, at)
    outcome = TrackingOutcome(
        tracked=len(findings),
        new=len(created),
        reopened=reopened,
        closed=closed,
        gate=gate,
        measures=measures,
    )
    return linked, outcome


async def _baseline(
    uow: UnitOfWork, period: NewCodePeriod, previous: AnalysisJob | None, at: dt.datetime
) -> dt.datetime | None:
    analysis = None
    if period.kind is NewCodeKind.ANALYSIS and period.job_id is not None:
        found = await uow.analysis.find_job_by_id(period.job_id)
        analysis = found.created_at if found is not None else None
    return period.baseline(
        now=at, previous=previous.created_at if previous is not None else None, analysis=analysis
    )


async def _reference_issues(
    uow: UnitOfWork, project: Project, branch: str, period: NewCodePeriod, at: dt.datetime
) -> list[Issue] | None:
    """The issues of the reference branch that new findings are compared with (None when
    the period is not a reference branch)."""
    if period.kind is not NewCodeKind.REFERENCE_BRANCH or period.reference_branch is None:
        return None
    if period.reference_branch == branch:
        return None
    return await uow.issues.for_tracking(project.id, period.reference_branch, closed_since=at)


def _on_new_code(
    findings: list[Finding], baseline: dt.datetime | None, reference: list[Issue] | None
) -> list[bool]:
    """Whether each finding no issue matched lies on new code: on a reference-branch
    period, when that branch has no such issue (one tracking pass for them all); else
    when new code has begun (a branch's first analysis has none on the previous-analysis
    period)."""
    if reference is not None:
        return [issue is None for _, issue in track(findings, reference).matches]
    return [baseline is not None] * len(findings)


async def _measure_and_gate(
    uow: UnitOfWork,
    job: AnalysisJob,
    project: Project,
    branch: str,
    baseline: dt.datetime | None,
    at: dt.datetime,
) -> tuple[GateEvaluation, dict[str, float]]:
    size = await uow.analysis.code_size(job.id, since=baseline)
    counts = await uow.issues.counts(job.project_id, branch)
    measures = issue_measures(
        counts,
        files=size.files,
        lines=size.lines,
        new_files=size.new_files,
        new_lines=size.new_lines,
    )
    await uow.measures.record(job.id, job.project_id, branch, measures, at=at)
    gate = await uow.quality_gates.assigned(project.id)
    evaluation = evaluate_gate(
        gate.name if gate is not None else DEFAULT_GATE_NAME,
        gate.conditions if gate is not None else DEFAULT_CONDITIONS,
        measures,
        job_id=job.id,
        project_id=job.project_id,
        branch=branch,
        min_score=project.settings.quality_gate_min_score,
        at=at,
    )
    await uow.measures.record_gate(evaluation)
    return evaluation, measures
