"""Contract of MeasureRepository (each analysis' measures, the branches' live measures,
the gate of each analysis), QualityGateRepository (named gates, one default, assignment
to projects) and NewCodeRepository (per project, overridable per branch)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from domain.analysis import AnalysisJob
from domain.enums import GateStatus, NewCodeKind
from domain.ids import GateId, JobId, OrganizationId, ProjectId, new_id
from domain.quality import (
    DEFAULT_CONDITIONS,
    GateCondition,
    GateOperator,
    MeasurePoint,
    NewCodePeriod,
    QualityGate,
    evaluate_gate,
)
from ports.errors import ConcurrencyError, DuplicateError, NotFoundError
from tests.contract.builders import Scaffold, analysis_job, at, project, read, scaffold, store
from tests.contract.conftest import Backend


def gate(organization_id: OrganizationId, **overrides: Any) -> QualityGate:
    fields = {
        "organization_id": organization_id,
        "name": "strict",
        "conditions": (
            GateCondition(metric="issues", operator=">", threshold=10),
            GateCondition(metric="issues_high", operator=">=", threshold=1.5, on_new_code=True),
        ),
        "created_at": at(0),
        "updated_at": at(0),
    }
    return QualityGate(**{**fields, **overrides})


async def create_gates(backend: Backend, *gates: QualityGate) -> None:
    async with backend.uow() as uow:
        for g in gates:
            await uow.quality_gates.create(g)
        await uow.commit()


async def jobs_of(
    backend: Backend, count: int, **fields: Any
) -> tuple[Scaffold, list[AnalysisJob]]:
    """A stored project with ``count`` completed jobs of branch "main", a minute apart."""
    base = await scaffold(backend)
    jobs = [
        analysis_job(base.project.id, status="completed", branch="main", created_at=at(n),
                     **fields)
        for n in range(count)
    ]  # fmt: skip
    await store(backend, *jobs)
    return base, jobs


# ---------------------------------------------------------------------------- measures


async def test_record_keeps_each_analysis_and_the_branch_live_measures(backend: Backend) -> None:
    """record returns how many measures it stored; live answers the branch's latest
    recorded ones ({} before any), history each analysis' value of one measure, oldest
    first, skipping those without it and other branches."""
    base, (first, second, third) = await jobs_of(backend, 3)
    pid = base.project.id
    assert await read(backend, lambda uow: uow.measures.live(pid, "main")) == {}

    async with backend.uow() as uow:
        assert await uow.measures.record(first.id, pid, "main", {"issues": 4, "score": 90.5},
                                         at=at(0)) == 2  # fmt: skip
        await uow.measures.record(second.id, pid, "main", {"score": 95.0}, at=at(1))
        await uow.measures.record(third.id, pid, "feature", {"issues": 7.0}, at=at(2))
        await uow.commit()

    assert await read(backend, lambda uow: uow.measures.live(pid, "main")) == {"score": 95.0}
    assert await read(backend, lambda uow: uow.measures.live(pid, "feature")) == {"issues": 7.0}
    issues = await read(backend, lambda uow: uow.measures.history(pid, "main", "issues"))
    assert issues == [MeasurePoint(job_id=first.id, at=at(0), value=4.0)]
    assert all(isinstance(p.value, float) for p in issues)
    score = await read(backend, lambda uow: uow.measures.history(pid, "main", "score"))
    assert score == [
        MeasurePoint(job_id=first.id, at=at(0), value=90.5),
        MeasurePoint(job_id=second.id, at=at(1), value=95.0),
    ]
    assert await read(backend, lambda uow: uow.measures.history(pid, "main", "lines")) == []


async def test_record_twice_for_one_analysis_raises_duplicate(backend: Backend) -> None:
    """An analysis has one set of measures: a second record raises DuplicateError."""
    base, (job,) = await jobs_of(backend, 1)
    async with backend.uow() as uow:
        await uow.measures.record(job.id, base.project.id, "main", {"issues": 1.0}, at=at(0))
        await uow.commit()

    with pytest.raises(DuplicateError):
        async with backend.uow() as uow:
            await uow.measures.record(job.id, base.project.id, "main", {"issues": 2.0}, at=at(1))
            await uow.commit()

    assert await read(backend, lambda uow: uow.measures.live(base.project.id, "main")) == {
        "issues": 1.0
    }


async def test_record_of_an_unknown_job_raises_not_found(backend: Backend) -> None:
    """Measures need their analysis."""
    base = await scaffold(backend)

    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.measures.record(JobId(new_id()), base.project.id, "main", {}, at=at(0))
            await uow.commit()


async def test_gate_of_an_analysis_round_trips_and_latest_follows_the_jobs(
    backend: Backend,
) -> None:
    """record_gate stores an analysis' gate with each condition's value and outcome; a
    second raises DuplicateError; latest_gate is the gate of the branch's latest job that
    has one."""
    base, (first, second, third) = await jobs_of(backend, 3)
    pid = base.project.id
    measures = {"issues": 12.0, "new_issues_high": 0.0}
    conditions = (
        *DEFAULT_CONDITIONS,
        GateCondition(metric="issues", operator=GateOperator.GT, threshold=10),
    )
    failed = evaluate_gate("strict", conditions, measures, job_id=second.id, project_id=pid,
                           branch="main", min_score=80, at=at(1))  # fmt: skip
    passed = evaluate_gate("strict", (), measures, job_id=first.id, project_id=pid,
                           branch="main", at=at(5))  # fmt: skip
    assert failed.status is GateStatus.FAILED

    async with backend.uow() as uow:
        assert await uow.measures.latest_gate(pid, "main") is None
        await uow.measures.record_gate(failed)
        await uow.measures.record_gate(passed)
        await uow.commit()

    found = await read(backend, lambda uow: uow.measures.gate(second.id))
    assert found is not None
    assert attrs.asdict(found) == attrs.asdict(failed)
    assert [o.value for o in found.conditions] == [None, 0.0, None, 12.0, None]
    assert await read(backend, lambda uow: uow.measures.gate(third.id)) is None
    latest = await read(backend, lambda uow: uow.measures.latest_gate(pid, "main"))
    assert latest is not None
    assert latest.job_id == second.id  # by the jobs' creation, not by evaluation time
    assert await read(backend, lambda uow: uow.measures.latest_gate(pid, "feature")) is None
    with pytest.raises(DuplicateError):
        async with backend.uow() as uow:
            await uow.measures.record_gate(attrs.evolve(failed, gate_name="other"))
            await uow.commit()


# ---------------------------------------------------------------------------- gates


async def test_create_gate_then_find_by_id_and_name_round_trips(backend: Backend) -> None:
    """A gate reads back by id and by name with its conditions; other names and
    organizations find nothing."""
    org = (await scaffold(backend)).organization
    strict = gate(org.id, is_default=True)
    await create_gates(backend, strict)

    by_id = await read(backend, lambda uow: uow.quality_gates.find_by_id(strict.id))
    assert by_id is not None
    assert attrs.asdict(by_id) == attrs.asdict(strict)
    by_name = await read(backend, lambda uow: uow.quality_gates.find_by_name(org.id, "strict"))
    assert by_name is not None
    assert attrs.asdict(by_name) == attrs.asdict(strict)
    assert await read(backend, lambda uow: uow.quality_gates.find_by_name(org.id, "lax")) is None
    other = OrganizationId(new_id())
    assert await read(backend, lambda uow: uow.quality_gates.find_by_name(other, "strict")) is None
    assert await read(backend, lambda uow: uow.quality_gates.find_by_id(GateId(new_id()))) is None


async def test_gate_names_are_unique_and_one_gate_is_the_default(backend: Backend) -> None:
    """A second gate of one name, or a second default, in an organization raises
    DuplicateError; another organization may have both; an unknown organization raises
    NotFoundError."""
    org, other = (await scaffold(backend)).organization, (await scaffold(backend)).organization
    await create_gates(backend, gate(org.id, is_default=True))

    for clash in (gate(org.id), gate(org.id, name="lax", is_default=True)):
        with pytest.raises(DuplicateError):
            await create_gates(backend, clash)
    await create_gates(backend, gate(other.id, is_default=True), gate(org.id, name="lax"))
    with pytest.raises(NotFoundError):
        await create_gates(backend, gate(OrganizationId(new_id())))

    names = [g.name for g in await read(backend, lambda uow: uow.quality_gates.list(org.id))]
    assert names == ["lax", "strict"]


async def test_update_gate_is_optimistic(backend: Backend) -> None:
    """update stores the change with a later updated_at; a stale copy raises
    ConcurrencyError, a missing gate NotFoundError."""
    org = (await scaffold(backend)).organization
    stored = gate(org.id)
    await create_gates(backend, stored)
    renamed = attrs.evolve(stored, name="renamed", conditions=DEFAULT_CONDITIONS)

    async with backend.uow() as uow:
        updated = await uow.quality_gates.update(renamed)
        await uow.commit()

    assert updated.updated_at > stored.updated_at
    found = await read(backend, lambda uow: uow.quality_gates.find_by_id(stored.id))
    assert found is not None
    assert attrs.asdict(found) == attrs.asdict(updated)
    assert found.conditions == DEFAULT_CONDITIONS
    with pytest.raises(ConcurrencyError):
        async with backend.uow() as uow:
            await uow.quality_gates.update(attrs.evolve(stored, name="stale"))
    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.quality_gates.update(gate(org.id))


async def test_assigned_gate_falls_back_to_the_default(backend: Backend) -> None:
    """assigned answers the project's gate, else its organization's default, else None;
    assigning None, or deleting the assigned gate, falls back to the default."""
    base = await scaffold(backend)
    pid, org = base.project.id, base.organization.id

    async def assigned() -> GateId | None:
        found = await read(backend, lambda uow: uow.quality_gates.assigned(pid))
        return None if found is None else found.id

    assert await assigned() is None
    default, strict = gate(org, name="default", is_default=True), gate(org)
    await create_gates(backend, default, strict)
    assert await assigned() == default.id

    async with backend.uow() as uow:
        await uow.quality_gates.assign(pid, strict.id)
        await uow.quality_gates.assign(pid, strict.id)
        await uow.commit()
    assert await assigned() == strict.id
    async with backend.uow() as uow:
        await uow.quality_gates.assign(pid, None)
        await uow.commit()
    assert await assigned() == default.id

    async with backend.uow() as uow:
        await uow.quality_gates.assign(pid, strict.id)
        await uow.quality_gates.delete(strict.id)
        await uow.commit()
    assert await assigned() == default.id
    assert await read(backend, lambda uow: uow.quality_gates.find_by_id(strict.id)) is None
    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.quality_gates.delete(strict.id)


async def test_assign_needs_the_project_and_a_gate_of_its_organization(backend: Backend) -> None:
    """Assigning to an unknown project, or an unknown gate, raises NotFoundError; a unit of
    the project's organization does not find another organization's gate."""
    base, theirs = await scaffold(backend), await scaffold(backend)
    their_gate = gate(theirs.organization.id)
    await create_gates(backend, their_gate)

    for project_id, gate_id in (
        (ProjectId(new_id()), their_gate.id),
        (ProjectId(new_id()), None),
        (base.project.id, GateId(new_id())),
    ):
        with pytest.raises(NotFoundError):
            async with backend.uow() as uow:
                await uow.quality_gates.assign(project_id, gate_id)
                await uow.commit()
    with pytest.raises(NotFoundError):
        async with backend.uow(organization_id=base.organization.id) as uow:
            await uow.quality_gates.assign(base.project.id, their_gate.id)
            await uow.commit()

    async with backend.uow(organization_id=base.organization.id) as uow:
        assert await uow.quality_gates.find_by_id(their_gate.id) is None
        assert await uow.quality_gates.list(theirs.organization.id) == []
        assert await uow.quality_gates.assigned(base.project.id) is None


# ---------------------------------------------------------------------------- new code


async def test_new_code_periods_are_set_per_project_and_per_branch(backend: Backend) -> None:
    """set stores (or replaces) the period of exactly one branch, None being the
    project's; get answers that one; clear removes it and says whether there was one."""
    base = await scaffold(backend)
    pid = base.project.id
    other = project(base.organization.id)
    await store(backend, other)
    job = JobId(new_id())
    periods = {
        None: NewCodePeriod(kind=NewCodeKind.DAYS, days=30),
        "main": NewCodePeriod(),
        "feature": NewCodePeriod(kind=NewCodeKind.REFERENCE_BRANCH, reference_branch="main"),
        "": NewCodePeriod(kind=NewCodeKind.ANALYSIS, job_id=job),
    }

    async with backend.uow() as uow:
        for branch, period in periods.items():
            await uow.new_code.set(pid, branch, period)
        await uow.new_code.set(pid, None, NewCodePeriod(kind=NewCodeKind.DAYS, days=7))
        await uow.commit()

    async def get(branch: str | None, project_id: ProjectId = pid) -> NewCodePeriod | None:
        return await read(backend, lambda uow: uow.new_code.get(project_id, branch))

    assert await get(None) == NewCodePeriod(kind=NewCodeKind.DAYS, days=7)
    for branch in ("main", "feature", ""):
        assert await get(branch) == periods[branch]
    assert await get("other") is None
    assert await get(None, other.id) is None

    async with backend.uow() as uow:
        assert await uow.new_code.clear(pid, None) is True
        assert await uow.new_code.clear(pid, None) is False
        assert await uow.new_code.clear(pid, "nowhere") is False
        await uow.commit()
    assert await get(None) is None
    assert await get("main") == periods["main"]


async def test_new_code_period_of_an_unknown_project_raises_not_found(backend: Backend) -> None:
    """A period needs its project."""
    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.new_code.set(ProjectId(new_id()), None, NewCodePeriod())
            await uow.commit()
