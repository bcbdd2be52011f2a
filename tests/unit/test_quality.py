"""New-code periods, measures, quality gates and retention (domain.quality): parsing and
validation, the gate's verdict on an analysis' measures, and which analyses housekeeping
keeps, with fixed times."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from domain.enums import GateStatus, IssueStatus, NewCodeKind, Resolution, Severity
from domain.errors import ValidationError
from domain.ids import JobId, OrganizationId, ProjectId
from domain.quality import (
    DEFAULT_CONDITIONS,
    MEASURES,
    NEW_CODE_MEASURES,
    Analysis,
    GateCondition,
    GateEvaluation,
    GateOperator,
    IssueCount,
    NewCodePeriod,
    QualityGate,
    RetentionPolicy,
    analyses_to_keep,
    evaluate_gate,
    issue_measures,
    quality_score,
)

UTC = dt.UTC
JOB = JobId(uuid.UUID(int=5))
PROJECT = ProjectId(uuid.UUID(int=6))
NOW = dt.datetime(2024, 6, 30, 12, tzinfo=UTC)  # a Sunday


# ---------------------------------------------------------------------------- new code


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("previous-analysis", NewCodePeriod()),
        ("days:30", NewCodePeriod(kind=NewCodeKind.DAYS, days=30)),
        ("30", NewCodePeriod(kind=NewCodeKind.DAYS, days=30)),
        ("days:3650", NewCodePeriod(kind=NewCodeKind.DAYS, days=3650)),
        ("branch:main", NewCodePeriod(kind=NewCodeKind.REFERENCE_BRANCH, reference_branch="main")),
        ("branch:release/1:2", NewCodePeriod(kind="reference-branch",
                                             reference_branch="release/1:2")),
        (f"analysis:{JOB}", NewCodePeriod(kind=NewCodeKind.ANALYSIS, job_id=JOB)),
    ],
)  # fmt: skip
def test_a_period_parses_from_its_text(text: Any, period: NewCodePeriod) -> None:
    """previous-analysis, days:N (or N), branch:NAME and analysis:JOB-ID each parse to
    their period."""
    parsed = NewCodePeriod.parse(text)

    assert parsed == period
    assert isinstance(parsed.kind, NewCodeKind)


@pytest.mark.parametrize(
    "period",
    [
        NewCodePeriod(),
        NewCodePeriod(kind=NewCodeKind.DAYS, days=14),
        NewCodePeriod(kind=NewCodeKind.REFERENCE_BRANCH, reference_branch="feature/x y"),
        NewCodePeriod(kind=NewCodeKind.ANALYSIS, job_id=JOB),
    ],
)
def test_a_period_parses_back_from_its_string(period: NewCodePeriod) -> None:
    """str() of a period is a text parse() reads back to an equal period."""
    assert NewCodePeriod.parse(str(period)) == period


def test_the_period_of_no_setting_is_the_previous_analysis() -> None:
    """The default period is previous-analysis, with nothing else set."""
    period = NewCodePeriod()

    assert period.kind is NewCodeKind.PREVIOUS_ANALYSIS
    assert (period.days, period.reference_branch, period.job_id) == (None, None, None)
    assert str(period) == "previous-analysis"


@pytest.mark.parametrize(
    "text",
    [
        "", "   ", "days:", "days:0", "days:-3", "days:3651", "days:ten", "0", "-5", "1.5",
        "branch:", "analysis:", "analysis:not-a-uuid", "weeks:2", "previous-analysis:x",
        "Previous-Analysis", "x" * 301, 42,
    ],
)  # fmt: skip
def test_a_bad_period_text_is_refused(text: Any) -> None:
    """Anything else is a ValidationError naming the new code period."""
    with pytest.raises(ValidationError) as refused:
        NewCodePeriod.parse(text)

    assert refused.value.field == "new code period"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": NewCodeKind.DAYS}, "days"),
        ({"kind": NewCodeKind.REFERENCE_BRANCH}, "reference_branch"),
        ({"kind": NewCodeKind.ANALYSIS}, "job_id"),
        ({"days": 5}, "days"),
        ({"kind": NewCodeKind.DAYS, "days": 5, "reference_branch": "main"}, "reference_branch"),
        ({"kind": NewCodeKind.ANALYSIS, "job_id": JOB, "days": 3}, "days"),
        ({"kind": NewCodeKind.REFERENCE_BRANCH, "reference_branch": ""}, "reference_branch"),
        ({"kind": NewCodeKind.REFERENCE_BRANCH, "reference_branch": "b" * 256},
         "reference_branch"),
        ({"kind": NewCodeKind.DAYS, "days": 0}, "days"),
        ({"kind": NewCodeKind.DAYS, "days": True}, "days"),
        ({"kind": NewCodeKind.DAYS, "days": "7"}, "days"),
        ({"kind": "weeks"}, "kind"),
    ],
)  # fmt: skip
def test_a_period_holds_exactly_what_its_kind_needs(fields: dict[str, Any], field: str) -> None:
    """Each kind requires its own value and refuses the others' (and bad values)."""
    with pytest.raises(ValidationError) as refused:
        NewCodePeriod(**fields)

    assert refused.value.field == field


def test_the_baseline_of_each_kind() -> None:
    """previous-analysis starts at the previous analysis (none on a first analysis),
    days:N N days before now, analysis: at that analysis, a reference branch nowhere."""
    previous = NOW - dt.timedelta(hours=6)
    chosen = NOW - dt.timedelta(days=90)

    assert NewCodePeriod().baseline(now=NOW, previous=previous) == previous
    assert NewCodePeriod().baseline(now=NOW, previous=None) is None
    days = NewCodePeriod(kind=NewCodeKind.DAYS, days=30)
    assert days.baseline(now=NOW, previous=previous) == NOW - dt.timedelta(days=30)
    analysis = NewCodePeriod(kind=NewCodeKind.ANALYSIS, job_id=JOB)
    assert analysis.baseline(now=NOW, previous=previous, analysis=chosen) == chosen
    branch = NewCodePeriod(kind=NewCodeKind.REFERENCE_BRANCH, reference_branch="main")
    assert branch.baseline(now=NOW, previous=previous, analysis=chosen) is None


# ---------------------------------------------------------------------------- measures


def count(
    status: IssueStatus,
    severity: Severity,
    n: int,
    *,
    new: bool = False,
    resolution: Resolution | None = None,
) -> IssueCount:
    return IssueCount(status=status, resolution=resolution, severity=severity, new_code=new,
                      count=n)  # fmt: skip


def test_issue_measures_count_unresolved_issues_by_severity_overall_and_on_new_code() -> None:
    """Open, confirmed and reopened issues count, by severity and on new code; confirmed,
    false positives and won't-fix have their own counts; fixed and closed ones count
    nowhere; the code size is copied and the score follows the weighted issues."""
    counts = [
        count(IssueStatus.OPEN, Severity.CRITICAL, 2, new=True),
        count(IssueStatus.CONFIRMED, Severity.HIGH, 3),
        count(IssueStatus.REOPENED, Severity.INFO, 4, new=True),
        count(IssueStatus.OPEN, Severity.CRITICAL, 1),
        count(IssueStatus.RESOLVED, Severity.CRITICAL, 5, new=True,
              resolution=Resolution.FALSE_POSITIVE),
        count(IssueStatus.RESOLVED, Severity.LOW, 6, resolution=Resolution.WONT_FIX),
        count(IssueStatus.RESOLVED, Severity.HIGH, 7, resolution=Resolution.FIXED),
        count(IssueStatus.CLOSED, Severity.MEDIUM, 8, resolution=Resolution.FALSE_POSITIVE),
    ]  # fmt: skip

    m = issue_measures(counts, files=40, lines=10_000, new_files=3, new_lines=250)

    assert m.keys() == {*MEASURES, *NEW_CODE_MEASURES}
    assert (m["issues"], m["issues_critical"], m["issues_high"], m["issues_info"]) == (10, 3, 3, 4)
    assert (m["issues_medium"], m["issues_low"]) == (0, 0)
    assert (m["new_issues"], m["new_issues_critical"], m["new_issues_info"]) == (6, 2, 4)
    assert m["new_issues_high"] == 0
    assert (m["confirmed_issues"], m["false_positives"], m["wont_fix"]) == (3, 5, 6)
    assert (m["files"], m["lines"], m["new_files"], m["new_lines"]) == (40, 10_000, 3, 250)
    # weighted: 3 critical * 10 + 3 high * 5 + 4 info * 0 = 45 over 10,000 lines
    assert m["score"] == quality_score(45, 10_000) == 91.0


def test_issue_measures_of_no_issue() -> None:
    """No issue: every count 0 and a perfect score."""
    m = issue_measures([], files=0, lines=0, new_files=0, new_lines=0)

    assert m["score"] == 100.0
    assert all(value == 0 for key, value in m.items() if key != "score")


@pytest.mark.parametrize(
    ("weighted", "lines", "score"),
    [
        (0, 0, 100.0),
        (0, 5_000, 100.0),
        (1, 50, 80.0),  # fewer than 100 lines count as 100
        (1, 100, 80.0),
        (10, 1_000, 80.0),
        (1, 3_000, 99.3),  # rounded to one decimal
        (5, 100, 0.0),
        (1_000, 1_000, 0.0),  # never below 0
    ],
)
def test_quality_score(weighted: float, lines: int, score: float) -> None:
    """100 * (1 - 20 * weighted / lines), lines from 100 up, at least 0, one decimal."""
    assert quality_score(weighted, lines) == score


# ---------------------------------------------------------------------------- conditions


@pytest.mark.parametrize(
    ("text", "metric", "operator", "threshold", "on_new"),
    [
        ("new_issues_critical > 0", "issues_critical", GateOperator.GT, 0.0, True),
        ("issues >= 10", "issues", GateOperator.GE, 10.0, False),
        ("score < 80.5", "score", GateOperator.LT, 80.5, False),
        ("new_lines <= 1e3", "lines", GateOperator.LE, 1000.0, True),
        ("wont_fix == 0", "wont_fix", GateOperator.EQ, 0.0, False),
        ("  false_positives   !=  -1 ", "false_positives", GateOperator.NE, -1.0, False),
    ],
)
def test_a_condition_parses_from_its_text(
    text: Any, metric: str, operator: str, threshold: float, on_new: bool
) -> None:
    """METRIC OPERATOR THRESHOLD, a new_ prefix meaning the measure of new code."""
    condition = GateCondition.parse(text)

    assert (condition.metric, condition.operator) == (metric, operator)
    assert (condition.threshold, condition.on_new_code) == (threshold, on_new)
    assert condition.measure == (f"new_{metric}" if on_new else metric)


def test_a_condition_reads_as_text() -> None:
    """str() names the metric, new code, the operator and the threshold."""
    on_new = GateCondition(metric="issues_high", operator=">", threshold=0, on_new_code=True)
    overall = GateCondition(metric="score", operator="<", threshold=72.5)

    assert str(on_new) == "issues_high on new code > 0"
    assert str(overall) == "score < 72.5"


@pytest.mark.parametrize(
    "text",
    [
        "", "issues >", "issues > 0 extra", "issues > ten", "issues > nan", "issues > inf",
        "issues > 1e12", "issues >> 0", "issues => 0", "bugs > 0", "new_score < 80",
        "new_confirmed_issues > 0", "new_new_issues > 0", "ISSUES > 0", "x" * 201, None,
    ],
)  # fmt: skip
def test_a_bad_condition_text_is_refused(text: Any) -> None:
    """A malformed condition, an unknown metric, a measure new code lacks or a threshold
    that is no finite number is a ValidationError."""
    with pytest.raises(ValidationError):
        GateCondition.parse(text)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"metric": "bugs"}, "metric"),
        ({"metric": "new_issues"}, "metric"),
        ({"metric": ""}, "metric"),
        ({"metric": 3}, "metric"),
        ({"metric": "score", "on_new_code": True}, "metric"),
        ({"metric": "false_positives", "on_new_code": True}, "metric"),
        ({"operator": "~"}, "operator"),
        ({"threshold": float("nan")}, "threshold"),
        ({"threshold": "1"}, "threshold"),
        ({"threshold": True}, "threshold"),
        ({"threshold": -1e12}, "threshold"),
        ({"on_new_code": 1}, "on_new_code"),
    ],
)
def test_a_bad_condition_is_refused_naming_its_field(fields: dict[str, Any], field: str) -> None:
    """Unknown metrics, the score (or other overall-only measures) on new code, unknown
    operators, non-finite or non-number thresholds are refused."""
    given = {"metric": "issues", "operator": ">", "threshold": 0, **fields}

    with pytest.raises(ValidationError) as refused:
        GateCondition(**given)

    assert refused.value.field == field


def test_every_new_code_measure_is_a_condition_on_new_code() -> None:
    """Each new-code measure can be a condition's, and each overall measure too."""
    for measure in NEW_CODE_MEASURES:
        metric = measure.removeprefix("new_")
        condition = GateCondition(metric=metric, operator=">", threshold=0, on_new_code=True)
        assert condition.measure == measure
    for measure in MEASURES:
        assert GateCondition(metric=measure, operator=">", threshold=0).measure == measure


def test_a_gate_holds_its_conditions_as_a_tuple_and_refuses_bad_ones() -> None:
    """A list of conditions becomes a tuple (none at all is allowed); a string, a list
    holding a non-condition or more than 50 conditions are refused, and so is no name."""
    org = OrganizationId(uuid.UUID(int=9))
    gate = QualityGate(organization_id=org, name="strict", conditions=list(DEFAULT_CONDITIONS))

    assert gate.conditions == DEFAULT_CONDITIONS and not gate.is_default
    assert QualityGate(organization_id=org, name="none", conditions=[]).conditions == ()
    for bad in (["issues > 0"], [DEFAULT_CONDITIONS[0]] * 51, "issues > 0"):
        with pytest.raises(ValidationError) as refused:
            QualityGate(organization_id=org, name="bad", conditions=bad)
        assert refused.value.field == "conditions"
    with pytest.raises(ValidationError):
        QualityGate(organization_id=org, name="", conditions=[])


# ---------------------------------------------------------------------------- gates


def evaluate(
    conditions: Sequence[GateCondition], measures: Mapping[str, float], **kw: Any
) -> GateEvaluation:
    return evaluate_gate(
        "default", conditions, measures, job_id=JOB, project_id=PROJECT, branch="main", at=NOW,
        **kw,
    )  # fmt: skip


CLEAN = {"issues_critical": 0.0, "new_issues_critical": 0.0, "new_issues_high": 0.0}


def test_a_gate_passes_when_no_condition_fails() -> None:
    """No new critical or high issue and no critical issue: the default gate passes, each
    outcome holding its value."""
    evaluation = evaluate(DEFAULT_CONDITIONS, {**CLEAN, "issues_high": 9.0})

    assert evaluation.status is GateStatus.PASSED and evaluation.passed
    assert [o.condition for o in evaluation.conditions] == list(DEFAULT_CONDITIONS)
    assert [(o.value, o.failed) for o in evaluation.conditions] == [(0.0, False)] * 3
    assert (evaluation.job_id, evaluation.project_id, evaluation.branch) == (JOB, PROJECT, "main")
    assert (evaluation.gate_name, evaluation.evaluated_at) == ("default", NOW)


def test_a_gate_fails_when_one_condition_fails() -> None:
    """A new high issue fails the default gate on that condition alone."""
    evaluation = evaluate(DEFAULT_CONDITIONS, {**CLEAN, "new_issues_high": 2.0})

    assert evaluation.status is GateStatus.FAILED and not evaluation.passed
    assert [o.failed for o in evaluation.conditions] == [False, True, False]
    assert evaluation.conditions[1].value == 2.0


def test_a_measure_missing_or_not_a_number_passes() -> None:
    """A condition whose measure was not taken (or is NaN) does not fail the gate; its
    value is None (or NaN)."""
    evaluation = evaluate(DEFAULT_CONDITIONS, {"issues_critical": float("nan")})

    assert evaluation.passed
    assert evaluation.conditions[1].value is None
    assert not any(o.failed for o in evaluation.conditions)


@pytest.mark.parametrize(
    ("operator", "value", "failed"),
    [
        (">", 5.0, True), (">", 3.0, False), (">=", 3.0, True), (">=", 2.0, False),
        ("<", 2.0, True), ("<", 3.0, False), ("<=", 3.0, True), ("<=", 4.0, False),
        ("==", 3.0, True), ("==", 4.0, False), ("!=", 4.0, True), ("!=", 3.0, False),
    ],
)  # fmt: skip
def test_a_condition_fails_when_its_comparison_holds(
    operator: str, value: float, failed: bool
) -> None:
    """``value OPERATOR threshold`` holding is what fails a condition (threshold 3)."""
    condition = GateCondition(metric="issues", operator=operator, threshold=3)

    evaluation = evaluate([condition], {"issues": value})

    assert evaluation.conditions[0].failed is failed
    assert evaluation.passed is not failed


@pytest.mark.parametrize(("score", "passed"), [(79.9, False), (80.0, True), (95.0, True)])
def test_a_minimum_score_adds_a_condition(score: float, passed: bool) -> None:
    """min_score appends ``score < min_score``: below it the gate fails."""
    evaluation = evaluate(DEFAULT_CONDITIONS, {**CLEAN, "score": score}, min_score=80)

    extra = evaluation.conditions[-1]
    assert len(evaluation.conditions) == len(DEFAULT_CONDITIONS) + 1
    assert (extra.condition.metric, extra.condition.operator) == ("score", GateOperator.LT)
    assert (extra.condition.threshold, extra.value) == (80, score)
    assert evaluation.passed is passed


def test_no_condition_passes_and_a_bad_minimum_score_is_refused() -> None:
    """A gate of no condition passes; a minimum score that is no number is refused."""
    assert evaluate([], {}).passed
    with pytest.raises(ValidationError):
        evaluate([], {}, min_score=float("nan"))


# ---------------------------------------------------------------------------- retention


def at(year: int, month: int, day: int, hour: int) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


class History:
    """Analyses of branches, each with a readable job id."""

    def __init__(self) -> None:
        self.analyses: list[Analysis] = []
        self.names: dict[JobId, str] = {}

    def add(self, when: dt.datetime, branch: str = "main", name: str | None = None) -> None:
        job = JobId(uuid.uuid4())
        self.names[job] = name or f"{branch}@{when:%Y-%m-%d %H:%M}"
        self.analyses.append(Analysis(job_id=job, branch=branch, at=when))

    def kept(self, now: dt.datetime = NOW, policy: RetentionPolicy | None = None) -> set[str]:
        policy = policy or RetentionPolicy()
        jobs = analyses_to_keep(reversed(self.analyses), now=now, policy=policy)
        return {self.names[j] for j in jobs}


def test_every_analysis_of_the_last_day_is_kept() -> None:
    """Every analysis up to a day old is kept, the one exactly a day old included."""
    history = History()
    for hours in (0, 1, 5, 23, 24):
        history.add(NOW - dt.timedelta(hours=hours))

    assert history.kept() == {f"main@{NOW - dt.timedelta(hours=h):%Y-%m-%d %H:%M}"
                              for h in (0, 1, 5, 23, 24)}  # fmt: skip


def test_one_analysis_a_day_is_kept_for_four_weeks() -> None:
    """From 2 to 28 days old, the latest analysis of each calendar day is kept."""
    history = History()
    history.add(NOW)
    for days in range(2, 28):
        day = (NOW - dt.timedelta(days=days)).date()
        for hour in (8, 12, 16):
            history.add(at(day.year, day.month, day.day, hour))

    kept = history.kept()

    expected = {f"main@{NOW - dt.timedelta(days=d):%Y-%m-%d} 16:00" for d in range(2, 28)}
    assert kept == expected | {f"main@{NOW:%Y-%m-%d %H:%M}"}


def test_one_analysis_an_iso_week_is_kept_for_a_year() -> None:
    """Beyond four weeks and up to a year, the latest analysis of each ISO week is kept."""
    history = History()
    history.add(NOW)
    week_21 = [at(2024, 5, 20, 9)]  # a Monday
    week_22 = [at(2024, 5, 27, 9), at(2024, 5, 29, 9), at(2024, 6, 2, 9)]  # Mon, Wed, Sun
    a_year_ago = [at(2023, 7, 10, 9)]  # 356 days old, week 28 of 2023
    for when in week_21 + week_22 + a_year_ago:
        history.add(when)

    assert history.kept() == {
        "main@2024-06-30 12:00", "main@2024-05-20 09:00", "main@2024-06-02 09:00",
        "main@2023-07-10 09:00",
    }  # fmt: skip


def test_the_iso_week_spans_the_turn_of_the_year() -> None:
    """30 December 2024 and 2 January 2025 lie in one ISO week (2025-W01): one is kept;
    29 December 2024 lies in the week before."""
    now = at(2025, 6, 30, 12)
    history = History()
    history.add(now)
    for when in (at(2024, 12, 29, 9), at(2024, 12, 30, 9), at(2025, 1, 2, 9)):
        history.add(when)

    assert history.kept(now) == {
        "main@2025-06-30 12:00", "main@2024-12-29 09:00", "main@2025-01-02 09:00",
    }  # fmt: skip


def test_one_analysis_a_month_is_kept_for_five_years_and_none_older() -> None:
    """Beyond a year and up to five, the latest analysis of each calendar month is kept;
    older ones are not."""
    history = History()
    history.add(NOW)
    two_years_ago = [at(2022, 3, 5, 9), at(2022, 3, 20, 9), at(2022, 4, 1, 9)]
    within_five_years = [at(2019, 7, 5, 9)]  # 1,822 days old (five years: 1,825 days)
    older = [at(2019, 6, 28, 9), at(2018, 1, 1, 9)]
    for when in two_years_ago + within_five_years + older:
        history.add(when)

    assert history.kept() == {
        "main@2024-06-30 12:00", "main@2022-03-20 09:00", "main@2022-04-01 09:00",
        "main@2019-07-05 09:00",
    }  # fmt: skip


def test_the_latest_analysis_of_each_branch_is_always_kept() -> None:
    """A branch analysed last ten years ago keeps that analysis, and only that one."""
    history = History()
    history.add(NOW)
    history.add(at(2014, 6, 1, 9), branch="legacy")
    history.add(at(2014, 5, 1, 9), branch="legacy")

    assert history.kept() == {"main@2024-06-30 12:00", "legacy@2014-06-01 09:00"}


def test_branches_are_thinned_independently() -> None:
    """Two branches analysed the same days each keep their own latest of each day."""
    history = History()
    for branch in ("main", "feature"):
        history.add(NOW, branch=branch)
        history.add(at(2024, 6, 20, 8), branch=branch)
        history.add(at(2024, 6, 20, 17 if branch == "main" else 7), branch=branch)

    assert history.kept() == {
        "main@2024-06-30 12:00", "feature@2024-06-30 12:00",
        "main@2024-06-20 17:00", "feature@2024-06-20 08:00",
    }  # fmt: skip


def test_of_two_analyses_at_one_time_one_is_kept_whatever_the_order() -> None:
    """Analyses of the same time in one bucket: exactly one is kept, the same one in any
    input order."""
    history = History()
    history.add(NOW)
    history.add(at(2024, 6, 10, 9), name="a")
    history.add(at(2024, 6, 10, 9), name="b")

    forward = history.kept()
    history.analyses.reverse()

    assert forward == history.kept()
    assert len(forward & {"a", "b"}) == 1


def test_a_policy_of_nothing_keeps_only_the_latest_of_each_branch() -> None:
    """With every period 0, each branch keeps its latest analysis and nothing else; no
    analysis at all keeps nothing."""
    zero = dt.timedelta(0)
    policy = RetentionPolicy(keep_all=zero, daily=zero, weekly=zero, monthly=zero)
    history = History()
    for hours in (1, 2, 30):
        history.add(NOW - dt.timedelta(hours=hours))
    history.add(NOW - dt.timedelta(hours=3), branch="dev")

    assert history.kept(policy=policy) == {
        f"main@{NOW - dt.timedelta(hours=1):%Y-%m-%d %H:%M}",
        f"dev@{NOW - dt.timedelta(hours=3):%Y-%m-%d %H:%M}",
    }
    assert analyses_to_keep([], now=NOW, policy=RetentionPolicy()) == set()


def test_the_default_policy() -> None:
    """A day of everything, four weeks of days, a year of weeks, five years of months;
    closed issues 30 days, delivered events 7."""
    policy = RetentionPolicy()

    assert (policy.keep_all, policy.daily) == (dt.timedelta(days=1), dt.timedelta(days=28))
    assert (policy.weekly, policy.monthly) == (dt.timedelta(days=365), dt.timedelta(days=1825))
    assert (policy.closed_issues, policy.delivered_events) == (
        dt.timedelta(days=30), dt.timedelta(days=7),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"keep_all": dt.timedelta(seconds=-1)}, "keep_all"),
        ({"closed_issues": dt.timedelta(days=-1)}, "closed_issues"),
        ({"delivered_events": 7}, "delivered_events"),
        ({"weekly": None}, "weekly"),
        ({"keep_all": dt.timedelta(days=30)}, "monthly"),  # above daily
        ({"daily": dt.timedelta(days=400)}, "monthly"),  # above weekly
        ({"monthly": dt.timedelta(days=100)}, "monthly"),  # below weekly
    ],
)
def test_a_bad_retention_policy_is_refused(fields: dict[str, Any], field: str) -> None:
    """Every period is a duration of 0 or more, and the thinning periods grow."""
    with pytest.raises(ValidationError) as refused:
        RetentionPolicy(**fields)

    assert refused.value.field == field
