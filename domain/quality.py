"""New code, measures, quality gates and retention: what a branch's analyses add up to.

* :class:`NewCodePeriod`: what "new code" of a branch is measured from (the previous
  analysis, a number of days, a reference branch, or a given analysis); set per project and
  overridable per branch.
* Measures: named values of an analysis (:data:`MEASURES`), overall and on new code
  (``new_`` prefixed), kept per analysis (their history) and as the branch's live values.
* :class:`QualityGate`: named conditions on measures, evaluated when an analysis completes
  (:func:`evaluate_gate`); :data:`DEFAULT_CONDITIONS` is the gate of a project none is
  assigned to.
* :class:`RetentionPolicy`: which analyses housekeeping keeps (:func:`analyses_to_keep`).
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from domain import validation as v
from domain._base import Entity, utc_now
from domain.enums import (
    GateStatus,
    IssueStatus,
    NewCodeKind,
    Resolution,
    Severity,
    coerce_enum,
    to_gate_status,
    to_new_code_kind,
)
from domain.errors import ValidationError
from domain.ids import GateId, JobId, OrganizationId, ProjectId, new_id

__all__ = [
    "DEFAULT_CONDITIONS",
    "DEFAULT_GATE_NAME",
    "MEASURES",
    "NEW_CODE_MEASURES",
    "Analysis",
    "ConditionOutcome",
    "GateCondition",
    "GateEvaluation",
    "GateOperator",
    "IssueCount",
    "MeasurePoint",
    "NewCodePeriod",
    "QualityGate",
    "RetentionPolicy",
    "analyses_to_keep",
    "evaluate_gate",
    "issue_measures",
    "quality_score",
]


# ---------------------------------------------------------------------------- new code


@attrs.frozen(kw_only=True)
class NewCodePeriod:
    """What a branch's new code is measured from: ``previous-analysis`` (what changed
    since the branch's previous analysis), ``days`` (the last ``days`` days), a
    ``reference-branch`` (what that branch does not have) or an ``analysis`` (since that
    analysis, ``job_id``)."""

    kind: NewCodeKind = attrs.field(
        default=NewCodeKind.PREVIOUS_ANALYSIS,
        converter=to_new_code_kind,
        validator=v.enum_member(NewCodeKind),
    )
    days: int | None = attrs.field(default=None, validator=v.optional(v.int_range(1, 3650)))
    reference_branch: str | None = attrs.field(
        default=None, validator=v.optional(v.text(max_length=255))
    )
    job_id: JobId | None = None

    def __attrs_post_init__(self) -> None:
        wanted = {
            NewCodeKind.DAYS: ("days", self.days),
            NewCodeKind.REFERENCE_BRANCH: ("reference_branch", self.reference_branch),
            NewCodeKind.ANALYSIS: ("job_id", self.job_id),
        }
        given = {
            name: value
            for name, value in (
                ("days", self.days),
                ("reference_branch", self.reference_branch),
                ("job_id", self.job_id),
            )
            if value is not None
        }
        needed = wanted.get(self.kind)
        if needed is not None and needed[1] is None:
            raise ValidationError(needed[0], None, f"is required for a {self.kind} period")
        extra = set(given) - ({needed[0]} if needed else set())
        if extra:
            name = sorted(extra)[0]
            raise ValidationError(name, given[name], f"does not apply to a {self.kind} period")

    @classmethod
    def parse(cls, text: str) -> NewCodePeriod:
        """``previous-analysis``, ``days:N`` (or just ``N``), ``branch:NAME`` or
        ``analysis:JOB-ID``."""
        v.check_text("new code period", text, max_length=300)
        kind, _, value = text.partition(":")
        try:
            if text == NewCodeKind.PREVIOUS_ANALYSIS:
                return cls()
            if text.isdigit() or kind == "days":
                return cls(kind=NewCodeKind.DAYS, days=int(value or text))
            if kind == "branch" and value:
                return cls(kind=NewCodeKind.REFERENCE_BRANCH, reference_branch=value)
            if kind == "analysis" and value:
                return cls(kind=NewCodeKind.ANALYSIS, job_id=JobId(uuid.UUID(value)))
        except ValueError as error:
            raise ValidationError("new code period", text, str(error)) from error
        raise ValidationError(
            "new code period",
            text,
            "must be previous-analysis, days:N, branch:NAME or analysis:JOB-ID",
        )

    def __str__(self) -> str:
        if self.kind is NewCodeKind.DAYS:
            return f"days:{self.days}"
        if self.kind is NewCodeKind.REFERENCE_BRANCH:
            return f"branch:{self.reference_branch}"
        if self.kind is NewCodeKind.ANALYSIS:
            return f"analysis:{self.job_id}"
        return str(self.kind)

    def baseline(
        self,
        *,
        now: dt.datetime,
        previous: dt.datetime | None,
        analysis: dt.datetime | None = None,
    ) -> dt.datetime | None:
        """The moment new code starts: the previous analysis' time (``previous``; None on
        a branch's first analysis, which has no new code), ``now`` less the days, or the
        given analysis' time (``analysis``). None for a reference branch, whose new code is
        what that branch does not have."""
        if self.kind is NewCodeKind.PREVIOUS_ANALYSIS:
            return previous
        if self.kind is NewCodeKind.DAYS:
            return now - dt.timedelta(days=self.days or 0)
        if self.kind is NewCodeKind.ANALYSIS:
            return analysis
        return None


# ---------------------------------------------------------------------------- measures

_SEVERITY_WEIGHT = {
    Severity.CRITICAL: 10,
    Severity.HIGH: 5,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}

MEASURES: Mapping[str, str] = {
    "issues": "unresolved issues (open, confirmed, reopened)",
    **{f"issues_{s}": f"unresolved {s} issues" for s in Severity},
    "confirmed_issues": "confirmed issues",
    "false_positives": "issues resolved as false positives",
    "wont_fix": "issues resolved as won't fix",
    "files": "files",
    "lines": "lines of text files",
    "score": "quality score, 0-100: 100 less the severity-weighted issues per line",
}
"""Every measure of an analysis, with what it counts."""

NEW_CODE_MEASURES: Mapping[str, str] = {
    "new_issues": "unresolved issues on new code",
    **{f"new_issues_{s}": f"unresolved {s} issues on new code" for s in Severity},
    "new_files": "files added or changed on new code",
    "new_lines": "lines of the files added or changed on new code",
}
"""The measures of new code (each also a condition's measure ``on_new_code``)."""


@attrs.frozen(kw_only=True)
class IssueCount:
    """How many of a branch's issues share a status, resolution, severity and new-code
    flag."""

    status: IssueStatus
    resolution: Resolution | None
    severity: Severity
    new_code: bool
    count: int


def quality_score(weighted_issues: float, lines: int) -> float:
    """The score of code with ``weighted_issues`` (a critical issue weighs 10, high 5,
    medium 2, low 1, info 0) in ``lines``: ``100 * (1 - 20 * weighted / lines)``, at least
    0, lines counted from 100 up; each weighted issue per 1,000 lines costs 2 points, so
    one critical issue per 200 lines scores 0."""
    return round(100 * max(0.0, 1 - 20 * weighted_issues / max(lines, 100)), 1)


def issue_measures(
    counts: Iterable[IssueCount], *, files: int, lines: int, new_files: int, new_lines: int
) -> dict[str, float]:
    """The measures of a branch from its issue counts and its code size."""
    m: dict[str, float] = dict.fromkeys([*MEASURES, *NEW_CODE_MEASURES], 0.0)
    weighted = 0.0
    for c in counts:
        if c.status.is_unresolved:
            m["issues"] += c.count
            m[f"issues_{c.severity}"] += c.count
            weighted += _SEVERITY_WEIGHT[c.severity] * c.count
            if c.new_code:
                m["new_issues"] += c.count
                m[f"new_issues_{c.severity}"] += c.count
        if c.status is IssueStatus.CONFIRMED:
            m["confirmed_issues"] += c.count
        if c.status is IssueStatus.RESOLVED and c.resolution is Resolution.FALSE_POSITIVE:
            m["false_positives"] += c.count
        if c.status is IssueStatus.RESOLVED and c.resolution is Resolution.WONT_FIX:
            m["wont_fix"] += c.count
    m.update(files=files, lines=lines, new_files=new_files, new_lines=new_lines)
    m["score"] = quality_score(weighted, lines)
    return m


@attrs.frozen(kw_only=True)
class MeasurePoint:
    """A measure's value in one analysis."""

    job_id: JobId
    at: dt.datetime
    value: float


# ---------------------------------------------------------------------------- gates


class GateOperator(enum.StrEnum):
    """How a condition compares a measure with its threshold: the condition *fails* when
    ``value <operator> threshold`` holds."""

    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    EQ = "=="
    NE = "!="

    def holds(self, value: float, threshold: float) -> bool:
        return {
            GateOperator.GT: value > threshold,
            GateOperator.GE: value >= threshold,
            GateOperator.LT: value < threshold,
            GateOperator.LE: value <= threshold,
            GateOperator.EQ: value == threshold,
            GateOperator.NE: value != threshold,
        }[self]


def _to_operator(value: Any) -> Any:
    return coerce_enum(GateOperator, value)


def _measure_name(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    v.text(max_length=100)(instance, attribute, value)
    if value not in MEASURES and f"new_{value}" not in NEW_CODE_MEASURES:
        v.fail(instance, attribute, value, f"must be one of {', '.join(sorted(MEASURES))}")


@attrs.frozen(kw_only=True)
class GateCondition:
    """Fails the gate when the measure ``metric`` (of new code when ``on_new_code``)
    compares to ``threshold`` by ``operator``: ``issues_critical > 0`` on new code."""

    metric: str = attrs.field(validator=_measure_name)
    operator: GateOperator = attrs.field(
        converter=_to_operator, validator=v.enum_member(GateOperator)
    )
    threshold: float = attrs.field(validator=v.finite_number(max_abs=1e12))
    on_new_code: bool = attrs.field(default=False, validator=v.boolean())

    def __attrs_post_init__(self) -> None:
        if self.on_new_code and self.measure not in NEW_CODE_MEASURES:
            raise ValidationError(
                "metric", self.metric, "has no new-code measure", entity="GateCondition"
            )
        if not self.on_new_code and self.metric not in MEASURES:
            raise ValidationError(
                "metric", self.metric, "is measured on new code only", entity="GateCondition"
            )

    @property
    def measure(self) -> str:
        """The measure's key: ``new_<metric>`` on new code."""
        return f"new_{self.metric}" if self.on_new_code else self.metric

    def __str__(self) -> str:
        scope = " on new code" if self.on_new_code else ""
        return f"{self.metric}{scope} {self.operator} {_number(self.threshold)}"

    @classmethod
    def parse(cls, text: str) -> GateCondition:
        """``[new_]METRIC OPERATOR THRESHOLD``, e.g. ``new_issues_critical > 0``."""
        v.check_text("condition", text, max_length=200)
        parts = text.split()
        if len(parts) != 3:
            raise ValidationError("condition", text, "must be METRIC OPERATOR THRESHOLD")
        metric, operator, threshold = parts
        on_new = metric.startswith("new_")
        try:
            value = float(threshold)
        except ValueError as error:
            raise ValidationError("condition", text, "threshold must be a number") from error
        return cls(
            metric=metric.removeprefix("new_") if on_new else metric,
            operator=operator,
            threshold=value,
            on_new_code=on_new,
        )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


DEFAULT_GATE_NAME = "default"
DEFAULT_CONDITIONS: tuple[GateCondition, ...] = (
    GateCondition(
        metric="issues_critical", operator=GateOperator.GT, threshold=0, on_new_code=True
    ),
    GateCondition(metric="issues_high", operator=GateOperator.GT, threshold=0, on_new_code=True),
    GateCondition(metric="issues_critical", operator=GateOperator.GT, threshold=0),
)
"""The gate of a project none is assigned to: no new critical or high issue, and no
critical issue at all."""


def _conditions(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _condition_list(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple) or not all(isinstance(c, GateCondition) for c in value):
        v.fail(instance, attribute, value, "must be a sequence of GateCondition")
    if len(value) > 50:
        v.fail(instance, attribute, value, "must hold at most 50 conditions")


@attrs.define(kw_only=True, eq=False)
class QualityGate(Entity):
    """A named set of conditions of an organization; the one ``is_default`` applies to the
    organization's projects no gate is assigned to."""

    id: GateId = attrs.field(factory=lambda: GateId(new_id()))
    organization_id: OrganizationId
    name: str = attrs.field(validator=v.text(max_length=100))
    conditions: tuple[GateCondition, ...] = attrs.field(
        converter=_conditions, validator=_condition_list
    )
    is_default: bool = attrs.field(default=False, validator=v.boolean())
    created_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    updated_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())


@attrs.frozen(kw_only=True)
class ConditionOutcome:
    """A condition with the value it was evaluated on (None: not measured, which passes)."""

    condition: GateCondition
    value: float | None
    failed: bool


@attrs.frozen(kw_only=True)
class GateEvaluation:
    """The gate of an analysis: passed unless a condition failed."""

    job_id: JobId
    project_id: ProjectId
    branch: str
    gate_name: str = attrs.field(validator=v.text(max_length=100))
    status: GateStatus = attrs.field(converter=to_gate_status, validator=v.enum_member(GateStatus))
    conditions: tuple[ConditionOutcome, ...] = attrs.field(converter=_conditions)
    evaluated_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())

    @property
    def passed(self) -> bool:
        return self.status is GateStatus.PASSED


def evaluate_gate(
    name: str,
    conditions: Sequence[GateCondition],
    measures: Mapping[str, float],
    *,
    job_id: JobId,
    project_id: ProjectId,
    branch: str,
    min_score: float | None = None,
    at: dt.datetime | None = None,
) -> GateEvaluation:
    """Evaluate ``conditions`` on an analysis' ``measures``. A project's
    ``quality_gate_min_score`` (``min_score``) adds the condition ``score < min_score``."""
    every = list(conditions)
    if min_score is not None:
        every.append(GateCondition(metric="score", operator=GateOperator.LT, threshold=min_score))
    outcomes = []
    for condition in every:
        value = measures.get(condition.measure)
        failed = (
            value is not None
            and not math.isnan(value)
            and condition.operator.holds(value, condition.threshold)
        )
        outcomes.append(ConditionOutcome(condition=condition, value=value, failed=failed))
    status = GateStatus.FAILED if any(o.failed for o in outcomes) else GateStatus.PASSED
    return GateEvaluation(
        job_id=job_id,
        project_id=project_id,
        branch=branch,
        gate_name=name,
        status=status,
        conditions=tuple(outcomes),
        evaluated_at=at or utc_now(),
    )


# ---------------------------------------------------------------------------- retention


@attrs.frozen(kw_only=True)
class RetentionPolicy:
    """Which analyses and records housekeeping keeps: every analysis for ``keep_all``,
    then the latest of each day up to ``daily``, of each week up to ``weekly``, of each
    month up to ``monthly``, none older; closed issues for ``closed_issues`` after they
    closed; delivered outbox events for ``delivered_events``. The latest analysis of each
    branch is always kept."""

    keep_all: dt.timedelta = dt.timedelta(days=1)
    daily: dt.timedelta = dt.timedelta(weeks=4)
    weekly: dt.timedelta = dt.timedelta(days=365)
    monthly: dt.timedelta = dt.timedelta(days=5 * 365)
    closed_issues: dt.timedelta = dt.timedelta(days=30)
    delivered_events: dt.timedelta = dt.timedelta(days=7)

    def __attrs_post_init__(self) -> None:
        for field in attrs.fields(RetentionPolicy):
            value = getattr(self, field.name)
            if not isinstance(value, dt.timedelta) or value < dt.timedelta(0):
                raise ValidationError(
                    field.name, value, "must be a duration of 0 or more", entity="RetentionPolicy"
                )
        if not self.keep_all <= self.daily <= self.weekly <= self.monthly:
            raise ValidationError(
                "monthly",
                self.monthly,
                "the periods must grow: keep_all <= daily <= weekly <= monthly",
                entity="RetentionPolicy",
            )


@attrs.frozen(kw_only=True)
class Analysis:
    """A completed analysis as retention sees it."""

    job_id: JobId
    branch: str
    at: dt.datetime


def analyses_to_keep(
    analyses: Iterable[Analysis], *, now: dt.datetime, policy: RetentionPolicy
) -> set[JobId]:
    """The analyses ``policy`` keeps: per branch, every one younger than ``keep_all``,
    then the latest of each calendar day, ISO week and month in their periods, and always
    the branch's latest."""
    keep: set[JobId] = set()
    by_branch: dict[str, list[Analysis]] = {}
    for a in analyses:
        by_branch.setdefault(a.branch, []).append(a)
    for items in by_branch.values():
        items.sort(key=lambda a: (a.at, str(a.job_id)), reverse=True)
        keep.add(items[0].job_id)
        seen: set[tuple[str, object]] = set()
        for a in items:  # newest first: the first of each bucket is its latest
            age = now - a.at
            if age <= policy.keep_all:
                keep.add(a.job_id)
                continue
            day = a.at.date()
            if age <= policy.daily:
                bucket: tuple[str, object] = ("day", day)
            elif age <= policy.weekly:
                bucket = ("week", tuple(day.isocalendar())[:2])
            elif age <= policy.monthly:
                bucket = ("month", (day.year, day.month))
            else:
                continue
            if bucket not in seen:
                seen.add(bucket)
                keep.add(a.job_id)
    return keep
