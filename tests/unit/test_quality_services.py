"""New-code, quality-gate and measure services, against the in-memory store."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest

from adapters.memory.unit_of_work import MemoryUnitOfWork
from application import (
    assign_quality_gate,
    begin_analysis,
    complete_analysis,
    create_quality_gate,
    latest_gate,
    list_quality_gates,
    live_measures,
    measure_history,
    new_code_period,
    new_code_setting,
    record_file_snapshot,
    register_organization,
    register_repository,
    resolve_organization,
    set_new_code_period,
)
from application import create_project as create_project_service
from domain.analysis import AnalysisJob, AnalysisResult
from domain.enums import GateStatus, JobStatus, NewCodeKind
from domain.errors import ValidationError
from domain.ids import GateId, JobId, OrganizationId, ProjectId, RuleId, new_id
from domain.projects import Project
from domain.quality import (
    DEFAULT_CONDITIONS,
    GateCondition,
    GateEvaluation,
    NewCodePeriod,
    evaluate_gate,
)
from domain.values import SourceLocation
from ports.errors import DuplicateError, NotFoundError
from tests.contract import builders
from tests.unit.fakes import Committed

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
STRICT = (GateCondition.parse("issues > 0"), GateCondition.parse("new_issues_low > 3"))


async def store_job(uow: MemoryUnitOfWork, project_id: ProjectId, **fields: Any) -> AnalysisJob:
    job = AnalysisJob(project_id=project_id, **fields)
    async with uow:
        await uow.analysis.create_job(job)
        await uow.commit()
    return job


async def record(
    uow: MemoryUnitOfWork, job: AnalysisJob, measures: dict[str, float], *, failed: bool
) -> GateEvaluation:
    """The measures and the gate of ``job``, as a completing analysis records them."""
    branch = job.branch or ""
    conditions = [GateCondition.parse("issues > 2")]
    evaluation = evaluate_gate(
        "default",
        conditions,
        measures,
        job_id=job.id,
        project_id=job.project_id,
        branch=branch,
        at=job.created_at,
    )
    assert evaluation.passed is not failed
    async with uow:
        await uow.measures.record(job.id, job.project_id, branch, measures, at=job.created_at)
        await uow.measures.record_gate(evaluation)
        await uow.commit()
    return evaluation


@pytest.fixture
async def history(uow: MemoryUnitOfWork, project: Project) -> list[AnalysisJob]:
    """Three analyses: "main" (2 issues, passed), "feature" (5 issues, failed), then
    "main" again (1 issue, passed), the latest."""
    jobs: list[AnalysisJob] = []
    for hours, branch, issues in ((0, "main", 2), (1, "feature", 5), (2, "main", 1)):
        job = await store_job(
            uow,
            project.id,
            branch=branch,
            status=JobStatus.COMPLETED,
            created_at=T0 + dt.timedelta(hours=hours),
        )
        await record(uow, job, {"issues": issues, "score": 100 - issues}, failed=issues > 2)
        jobs.append(job)
    return jobs


# ---------------------------------------------------------------------------- new code


async def test_new_code_period_falls_back_from_branch_to_project_to_previous_analysis(
    uow: MemoryUnitOfWork, project: Project
) -> None:
    """Without any period set it is the previous analysis; a project period applies to
    every branch without its own; a branch's own wins on that branch."""
    assert await new_code_period(uow, project.id) == NewCodePeriod()

    thirty = NewCodePeriod(kind=NewCodeKind.DAYS, days=30)
    release = NewCodePeriod(kind=NewCodeKind.REFERENCE_BRANCH, reference_branch="main")
    await set_new_code_period(uow, project.id, thirty)
    await set_new_code_period(uow, project.id, release, branch="feature")

    assert await new_code_period(uow, project.id, branch="main") == thirty
    assert await new_code_period(uow, project.id, branch="feature") == release
    assert await new_code_period(uow, project.id) == thirty  # "" before any analysis


async def test_new_code_setting_says_where_the_period_in_effect_is_set(
    uow: MemoryUnitOfWork, project: Project, history: list[AnalysisJob]
) -> None:
    """The period in effect comes from the default, then the project, then the branch's
    own, and names the branch it was read for (the latest analysis' without one)."""
    default = await new_code_setting(uow, project.id)
    assert (default.branch, default.period, default.source) == ("main", NewCodePeriod(), "default")

    thirty = NewCodePeriod(kind=NewCodeKind.DAYS, days=30)
    await set_new_code_period(uow, project.id, thirty)
    shared = await new_code_setting(uow, project.id, branch="feature")
    assert (shared.branch, shared.period, shared.source) == ("feature", thirty, "project")

    release = NewCodePeriod(kind=NewCodeKind.REFERENCE_BRANCH, reference_branch="main")
    await set_new_code_period(uow, project.id, release, branch="feature")
    own = await new_code_setting(uow, project.id, branch="feature")
    assert (own.period, own.source) == (release, "branch")
    assert (await new_code_setting(uow, project.id)).source == "project"
    with pytest.raises(NotFoundError):
        await new_code_setting(uow, ProjectId(new_id()))


async def test_resolve_organization_is_the_named_one_or_the_only_one(uow: MemoryUnitOfWork) -> None:
    """Without a slug the only organization is the one; two make the slug necessary,
    and an unknown slug is not found."""
    with pytest.raises(NotFoundError):
        await resolve_organization(uow, None)
    acme = await register_organization(uow, name="Acme", slug="acme")
    assert (await resolve_organization(uow, None)).id == acme.id
    other = await register_organization(uow, name="Other", slug="other")
    with pytest.raises(ValidationError, match="ambiguous"):
        await resolve_organization(uow, None)
    assert (await resolve_organization(uow, "other")).id == other.id
    with pytest.raises(NotFoundError):
        await resolve_organization(uow, "nope")


async def test_new_code_period_without_branch_is_the_latest_analysis_branch(
    uow: MemoryUnitOfWork, project: Project, history: list[AnalysisJob]
) -> None:
    """A branch left out is the branch of the project's latest completed analysis."""
    release = NewCodePeriod(kind=NewCodeKind.REFERENCE_BRANCH, reference_branch="feature")
    await set_new_code_period(uow, project.id, release, branch="main")
    assert await new_code_period(uow, project.id) == release


async def test_an_analysis_period_must_name_a_completed_analysis_of_the_project(
    uow: MemoryUnitOfWork, project: Project, history: list[AnalysisJob], committed: Committed
) -> None:
    """The analysis of a period is one of the project's completed ones: another
    project's or an unknown job is NotFoundError, a failed one a ValidationError."""
    other = await create_project_service(
        uow,
        project.organization_id,
        name="Other",
        slug="other",
        repository_url="https://git.example.com/acme/other.git",
    )
    foreign = await store_job(uow, other.id, status=JobStatus.COMPLETED)
    failed = await store_job(uow, project.id, status=JobStatus.FAILED)
    before = committed()
    for job_id in (foreign.id, JobId(new_id())):
        with pytest.raises(NotFoundError, match="analysis job"):
            await set_new_code_period(
                uow, project.id, NewCodePeriod(kind=NewCodeKind.ANALYSIS, job_id=job_id)
            )
    with pytest.raises(ValidationError, match="failed"):
        await set_new_code_period(
            uow, project.id, NewCodePeriod(kind=NewCodeKind.ANALYSIS, job_id=failed.id)
        )
    assert committed() == before

    pinned = NewCodePeriod(kind=NewCodeKind.ANALYSIS, job_id=history[0].id)
    await set_new_code_period(uow, project.id, pinned, branch="main")
    assert await new_code_period(uow, project.id, branch="main") == pinned


async def test_set_new_code_period_refuses_a_branch_as_its_own_reference(
    uow: MemoryUnitOfWork, project: Project, committed: Committed
) -> None:
    """A branch cannot measure its new code against itself; an unknown project is
    NotFoundError; nothing is written either way."""
    before = committed()
    with pytest.raises(ValidationError, match="own reference"):
        await set_new_code_period(
            uow,
            project.id,
            NewCodePeriod(kind=NewCodeKind.REFERENCE_BRANCH, reference_branch="main"),
            branch="main",
        )
    with pytest.raises(NotFoundError, match="project"):
        await set_new_code_period(uow, ProjectId(new_id()), NewCodePeriod())
    with pytest.raises(NotFoundError, match="project"):
        await new_code_period(uow, ProjectId(new_id()))
    assert committed() == before


# ---------------------------------------------------------------------------- gates


async def test_a_new_default_gate_takes_the_place_of_the_previous_one(
    uow: MemoryUnitOfWork, project: Project
) -> None:
    """Creating a default gate un-defaults the previous default in the same unit; the
    list is by name; projects without a gate get the default."""
    first = await create_quality_gate(
        uow, project.organization_id, "relaxed", list(DEFAULT_CONDITIONS), is_default=True
    )
    second = await create_quality_gate(
        uow, project.organization_id, "strict", STRICT, is_default=True
    )
    plain = await create_quality_gate(uow, project.organization_id, "audit", STRICT[:1])

    gates = await list_quality_gates(uow, project.organization_id)

    assert [(g.name, g.is_default) for g in gates] == [
        ("audit", False),
        ("relaxed", False),
        ("strict", True),
    ]
    assert {g.id for g in gates} == {first.id, second.id, plain.id}
    assert next(g for g in gates if g.name == "strict").conditions == STRICT
    async with uow:
        assigned = await uow.quality_gates.assigned(project.id)
        assert assigned is not None
        assert assigned.id == second.id


async def test_create_quality_gate_refuses_a_taken_name_and_an_unknown_organization(
    uow: MemoryUnitOfWork, project: Project, committed: Committed
) -> None:
    """Names are unique within an organization (DuplicateError); an unknown
    organization is NotFoundError; a bad condition list a ValidationError."""
    await create_quality_gate(uow, project.organization_id, "strict", STRICT, is_default=True)
    before = committed()
    with pytest.raises(DuplicateError):
        await create_quality_gate(
            uow, project.organization_id, "strict", STRICT[:1], is_default=True
        )
    with pytest.raises(NotFoundError, match="organization"):
        await create_quality_gate(uow, OrganizationId(new_id()), "strict", STRICT)
    with pytest.raises(ValidationError, match="conditions"):
        await create_quality_gate(uow, project.organization_id, "odd", cast(Any, ["issues > 0"]))
    with pytest.raises(ValidationError, match="name"):
        await create_quality_gate(uow, project.organization_id, "", STRICT)
    assert committed() == before
    [gate] = await list_quality_gates(uow, project.organization_id)
    assert gate.is_default


async def test_assign_quality_gate_takes_a_gate_of_the_projects_organization(
    uow: MemoryUnitOfWork, project: Project, committed: Committed
) -> None:
    """A gate of the project's organization is assigned, and None goes back to the
    default; another organization's gate, or an unknown one, is NotFoundError."""
    default = await create_quality_gate(
        uow, project.organization_id, "default", STRICT, is_default=True
    )
    chosen = await create_quality_gate(uow, project.organization_id, "chosen", STRICT[:1])
    other = await register_organization(uow, name="Globex", slug="globex")
    foreign = await create_quality_gate(uow, other.id, "foreign", STRICT)

    await assign_quality_gate(uow, project.id, chosen.id)
    async with uow:
        assigned = await uow.quality_gates.assigned(project.id)
        assert assigned is not None
        assert assigned.id == chosen.id

    before = committed()
    for gate_id in (foreign.id, GateId(new_id())):
        with pytest.raises(NotFoundError, match="quality gate"):
            await assign_quality_gate(uow, project.id, gate_id)
    with pytest.raises(NotFoundError, match="project"):
        await assign_quality_gate(uow, ProjectId(new_id()), chosen.id)
    assert committed() == before

    await assign_quality_gate(uow, project.id, None)
    async with uow:
        assigned = await uow.quality_gates.assigned(project.id)
        assert assigned is not None
        assert assigned.id == default.id


async def test_list_quality_gates_of_an_unknown_organization_is_not_found(
    uow: MemoryUnitOfWork,
) -> None:
    """Listing the gates of an organization that does not exist is NotFoundError."""
    with pytest.raises(NotFoundError, match="organization"):
        await list_quality_gates(uow, OrganizationId(new_id()))


# ---------------------------------------------------------------------------- measures


async def test_latest_gate_is_the_branchs_latest_analysis_gate(
    uow: MemoryUnitOfWork, project: Project, history: list[AnalysisJob]
) -> None:
    """Without a branch, the gate of the latest analysis' branch; with one, that
    branch's latest gate; None for a branch never analysed."""
    _, feature, main_latest = history
    gate = await latest_gate(uow, project.id)
    assert gate is not None and gate.job_id == main_latest.id and gate.passed
    failed = await latest_gate(uow, project.id, branch="feature")
    assert failed is not None and failed.job_id == feature.id
    assert failed.status is GateStatus.FAILED
    assert await latest_gate(uow, project.id, branch="nowhere") is None
    with pytest.raises(NotFoundError, match="project"):
        await latest_gate(uow, ProjectId(new_id()))


async def test_measure_history_lists_a_measure_per_analysis_of_the_branch(
    uow: MemoryUnitOfWork, project: Project, history: list[AnalysisJob]
) -> None:
    """The history holds one point per analysis of the branch, oldest first."""
    main_first, feature, main_latest = history
    points = await measure_history(uow, project.id, "issues")
    assert [(p.job_id, p.value) for p in points] == [(main_first.id, 2), (main_latest.id, 1)]
    assert [p.at for p in points] == [main_first.created_at, main_latest.created_at]
    feature_points = await measure_history(uow, project.id, "score", branch="feature")
    assert [(p.job_id, p.value) for p in feature_points] == [(feature.id, 95)]
    assert await measure_history(uow, project.id, "new_issues") == []


async def test_measure_history_refuses_an_unknown_metric_naming_the_known_ones(
    uow: MemoryUnitOfWork, project: Project, history: list[AnalysisJob]
) -> None:
    """A metric that is no measure is a ValidationError listing the measures."""
    with pytest.raises(ValidationError, match="metric") as caught:
        await measure_history(uow, project.id, "complexity")
    assert "issues_critical" in str(caught.value) and "new_lines" in str(caught.value)
    with pytest.raises(NotFoundError, match="project"):
        await measure_history(uow, ProjectId(new_id()), "issues")


async def test_live_measures_are_the_latest_analysis_measures(
    uow: MemoryUnitOfWork, project: Project, history: list[AnalysisJob]
) -> None:
    """The live measures are those of the branch's latest analysis; {} for a branch
    never analysed."""
    assert await live_measures(uow, project.id) == {"issues": 1.0, "score": 99.0}
    assert await live_measures(uow, project.id, branch="feature") == {"issues": 5.0, "score": 95.0}
    assert await live_measures(uow, project.id, branch="nowhere") == {}
    with pytest.raises(NotFoundError, match="project"):
        await live_measures(uow, ProjectId(new_id()))


async def test_a_completed_analysis_is_measured_and_gated(
    uow: MemoryUnitOfWork, project: Project
) -> None:
    """After an analysis that found a critical issue, the services show its failed
    gate (the project's strict gate), its measures live and in the history."""
    await create_quality_gate(uow, project.organization_id, "strict", STRICT, is_default=True)
    repository = await register_repository(
        uow, project.id, local_path="/srv/billing", remote_url="", default_branch="main"
    )
    file = builders.file_index(repository.id, relative_path="src/app.py")
    await record_file_snapshot(uow, repository.id, [file])
    job = await begin_analysis(uow, project.id, owner="tests", branch="main")
    finding = AnalysisResult(
        job_id=job.id,
        file_id=file.id,
        rule_id=RuleId("sql-injection"),
        severity="critical",
        category="security",
        title="Query built from input",
        description="Use parameters.",
        location=SourceLocation(file_path="src/app.py", line_start=3, line_end=3),
    )
    await complete_analysis(uow, job.id, results=[finding])

    gate = await latest_gate(uow, project.id)
    assert gate is not None and gate.job_id == job.id and gate.gate_name == "strict"
    assert gate.status is GateStatus.FAILED
    assert (await live_measures(uow, project.id))["issues_critical"] == 1
    assert [(p.job_id, p.value) for p in await measure_history(uow, project.id, "issues")] == [
        (job.id, 1)
    ]


async def test_on_a_reference_branch_period_only_what_the_reference_lacks_is_new(
    uow: MemoryUnitOfWork, project: Project
) -> None:
    """A branch measured against "main": of its first analysis' findings, the one "main"
    also has is not new code, the two "main" lacks are."""
    repository = await register_repository(
        uow, project.id, local_path="/srv/billing", remote_url="", default_branch="main"
    )
    file = builders.file_index(repository.id, relative_path="src/app.py")
    await record_file_snapshot(uow, repository.id, [file])

    def finding(job: AnalysisJob, line: int, title: str) -> AnalysisResult:
        return AnalysisResult(
            job_id=job.id, file_id=file.id, rule_id=RuleId("todo-marker"), severity="low",
            category="maintainability", title=title, description=title, line_hash=f"{line:032x}",
            location=SourceLocation(file_path="src/app.py", line_start=line, line_end=line),
        )  # fmt: skip

    main = await begin_analysis(uow, project.id, owner="tests", branch="main")
    await complete_analysis(uow, main.id, results=[finding(main, 3, "shared")])
    await set_new_code_period(
        uow,
        project.id,
        NewCodePeriod(kind=NewCodeKind.REFERENCE_BRANCH, reference_branch="main"),
        branch="feature",
    )
    feature = await begin_analysis(uow, project.id, owner="tests", branch="feature")
    found = [finding(feature, 3, "shared"), finding(feature, 7, "new"), finding(feature, 9, "new")]
    await complete_analysis(uow, feature.id, results=found)

    async with uow:
        issues = await uow.issues.for_tracking(project.id, "feature", closed_since=T0)
    assert sorted((i.line, i.new_code) for i in issues) == [(3, False), (7, True), (9, True)]
    assert (await live_measures(uow, project.id, branch="feature"))["new_issues"] == 2
