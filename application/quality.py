"""Use cases of new code, quality gates and measures: what new code of a branch is measured
from, the organization's quality gates and the one of each project, and the measures and
gate of each analysis.

A ``branch`` left None names the branch of the project's latest completed analysis ("" for
a detached HEAD, or before any analysis), except in :func:`set_new_code_period`, where None
names the project's own period (the one every branch without its own follows).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from application._boundary import service
from application._lookup import require_organization, require_project
from application.tracking import effective_period
from domain.enums import JobStatus, NewCodeKind
from domain.errors import ValidationError
from domain.ids import GateId, OrganizationId, ProjectId
from domain.quality import (
    MEASURES,
    NEW_CODE_MEASURES,
    GateCondition,
    GateEvaluation,
    MeasurePoint,
    NewCodePeriod,
    QualityGate,
)
from domain.validation import check_text
from ports.errors import NotFoundError
from ports.unit_of_work import UnitOfWork

# branch_of and check_branch are helpers of the other services, not services
__all__ = [
    "NewCodeSetting",
    "assign_quality_gate",
    "create_quality_gate",
    "latest_gate",
    "list_quality_gates",
    "live_measures",
    "measure_history",
    "new_code_period",
    "new_code_setting",
    "set_new_code_period",
]

MAX_BRANCH = 255


def check_branch(branch: str | None) -> str | None:
    """``branch`` if it is None or a branch name that can be stored ("" a detached HEAD)."""
    if branch is None:
        return None
    return check_text("branch", branch, max_length=MAX_BRANCH, allow_empty=True)


async def branch_of(uow: UnitOfWork, project_id: ProjectId, branch: str | None) -> str:
    """``branch`` if given, else the branch of the project's latest completed analysis
    ("" when it had none, a detached HEAD, or when the project has no completed analysis).
    Runs inside the caller's unit of work."""
    if branch is not None:
        return branch
    latest = await uow.analysis.latest_job(project_id)
    return (latest.branch or "") if latest is not None else ""


# ---------------------------------------------------------------------------- new code


@service
async def new_code_period(
    uow: UnitOfWork, project_id: ProjectId, *, branch: str | None = None
) -> NewCodePeriod:
    """The new-code period in effect on the branch: its own, else the project's, else the
    previous analysis. NotFoundError for an unknown project."""
    check_branch(branch)
    async with uow:
        project = await require_project(uow, project_id)
        return await effective_period(uow, project, await branch_of(uow, project_id, branch))


@attrs.frozen(kw_only=True)
class NewCodeSetting:
    """The new-code period in effect on ``branch`` and where it is set: on the branch
    itself (``"branch"``), on its project (``"project"``), or nowhere, the default
    (``"default"``)."""

    branch: str
    period: NewCodePeriod
    source: str


@service
async def new_code_setting(
    uow: UnitOfWork, project_id: ProjectId, *, branch: str | None = None
) -> NewCodeSetting:
    """The new-code period in effect on the branch, as :func:`new_code_period` finds it,
    with where it comes from. NotFoundError for an unknown project."""
    check_branch(branch)
    async with uow:
        await require_project(uow, project_id)
        name = await branch_of(uow, project_id, branch)
        own = await uow.new_code.get(project_id, name)
        if own is not None:
            return NewCodeSetting(branch=name, period=own, source="branch")
        shared = await uow.new_code.get(project_id, None)
        if shared is not None:
            return NewCodeSetting(branch=name, period=shared, source="project")
        return NewCodeSetting(branch=name, period=NewCodePeriod(), source="default")


@service
async def set_new_code_period(
    uow: UnitOfWork,
    project_id: ProjectId,
    period: NewCodePeriod,
    *,
    branch: str | None = None,
) -> None:
    """Set what new code is measured from: the project's period (``branch`` None), or the
    branch's own. An ``analysis`` period must name an analysis of the project (else
    NotFoundError); a branch cannot be its own reference branch (ValidationError). It
    applies from the branch's next analysis on."""
    check_branch(branch)
    if (
        branch is not None
        and period.kind is NewCodeKind.REFERENCE_BRANCH
        and period.reference_branch == branch
    ):
        raise ValidationError(
            "period", str(period), f"branch {branch!r} cannot be its own reference branch"
        )
    async with uow:
        await require_project(uow, project_id)
        if period.kind is NewCodeKind.ANALYSIS:
            job = (
                await uow.analysis.find_job_by_id(period.job_id)
                if period.job_id is not None
                else None
            )
            if job is None or job.project_id != project_id:
                raise NotFoundError("analysis job", period.job_id)
            if job.status is not JobStatus.COMPLETED:
                raise ValidationError(
                    "period", str(period), f"names a {job.status} job, not a completed analysis"
                )
        await uow.new_code.set(project_id, branch, period)
        await uow.commit()


# ---------------------------------------------------------------------------- gates


@service
async def create_quality_gate(
    uow: UnitOfWork,
    organization_id: OrganizationId,
    name: str,
    conditions: Sequence[GateCondition],
    *,
    is_default: bool = False,
) -> QualityGate:
    """Create a quality gate of the organization (names are unique within it:
    DuplicateError). A gate made the default takes the place of the previous default,
    which stops being it in the same unit of work. NotFoundError for an unknown
    organization."""
    gate = QualityGate(
        organization_id=organization_id,
        name=name,
        conditions=tuple(conditions),
        is_default=is_default,
    )
    async with uow:
        await require_organization(uow, organization_id)
        if is_default:
            for previous in await uow.quality_gates.list(organization_id):
                if previous.is_default:
                    await uow.quality_gates.update(attrs.evolve(previous, is_default=False))
        created = await uow.quality_gates.create(gate)
        await uow.commit()
    return created


@service
async def assign_quality_gate(
    uow: UnitOfWork, project_id: ProjectId, gate_id: GateId | None
) -> None:
    """Assign a gate of the project's organization to the project (None: back to the
    organization's default). NotFoundError for an unknown project, or a gate that is not
    one of the project's organization."""
    async with uow:
        project = await require_project(uow, project_id)
        if gate_id is not None:
            gate = await uow.quality_gates.find_by_id(gate_id)
            if gate is None or gate.organization_id != project.organization_id:
                raise NotFoundError("quality gate", gate_id)
        await uow.quality_gates.assign(project_id, gate_id)
        await uow.commit()


@service
async def list_quality_gates(uow: UnitOfWork, organization_id: OrganizationId) -> list[QualityGate]:
    """The organization's quality gates by name; NotFoundError for an unknown
    organization."""
    async with uow:
        await require_organization(uow, organization_id)
        return await uow.quality_gates.list(organization_id)


# ---------------------------------------------------------------------------- measures


@service
async def latest_gate(
    uow: UnitOfWork, project_id: ProjectId, *, branch: str | None = None
) -> GateEvaluation | None:
    """The quality gate of the branch's latest analysis that has one (None before any).
    NotFoundError for an unknown project."""
    check_branch(branch)
    async with uow:
        await require_project(uow, project_id)
        return await uow.measures.latest_gate(project_id, await branch_of(uow, project_id, branch))


@service
async def measure_history(
    uow: UnitOfWork, project_id: ProjectId, metric: str, *, branch: str | None = None
) -> list[MeasurePoint]:
    """The measure ``metric`` (one of MEASURES or NEW_CODE_MEASURES, else
    ValidationError) in each of the branch's analyses still kept, oldest first.
    NotFoundError for an unknown project."""
    if metric not in MEASURES and metric not in NEW_CODE_MEASURES:
        known = ", ".join([*MEASURES, *NEW_CODE_MEASURES])
        raise ValidationError("metric", metric, f"must be one of {known}")
    check_branch(branch)
    async with uow:
        await require_project(uow, project_id)
        return await uow.measures.history(
            project_id, await branch_of(uow, project_id, branch), metric
        )


@service
async def live_measures(
    uow: UnitOfWork, project_id: ProjectId, *, branch: str | None = None
) -> dict[str, float]:
    """The measures of the branch's latest analysis ({} before any). NotFoundError for an
    unknown project."""
    check_branch(branch)
    async with uow:
        await require_project(uow, project_id)
        return await uow.measures.live(project_id, await branch_of(uow, project_id, branch))
