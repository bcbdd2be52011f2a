"""Analysis jobs, their results (issues) and the code metrics they measure."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from domain import validation as v
from domain._base import Entity, utc_now
from domain.enums import (
    Category,
    JobStatus,
    MetricType,
    Severity,
    to_category,
    to_job_status,
    to_metric_type,
    to_severity,
)
from domain.errors import InvalidTransitionError, ValidationError
from domain.ids import (
    AnalysisResultId,
    FileId,
    IssueId,
    JobId,
    MetricId,
    ProjectId,
    RuleId,
    new_id,
)
from domain.values import SourceLocation

__all__ = ["DEFAULT_LEASE", "AnalysisJob", "AnalysisResult", "CodeMetric"]

_METRIC_MAX_ABS = 1_000_000  # DECIMAL(10,4)

DEFAULT_LEASE = dt.timedelta(minutes=10)
"""How long a running job stays its runner's without a heartbeat."""


def _guard_transition(instance: AnalysisJob, attribute: attrs.Attribute[Any], new: Any) -> Any:
    new = to_job_status(new)
    v.enum_member(JobStatus)(instance, attribute, new)
    current = instance.status
    if new != current and not current.can_move_to(new):
        raise InvalidTransitionError("status", current, new, entity="AnalysisJob")
    return new


def _job_type(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    v.text(max_length=50)(instance, attribute, value)
    if not value.replace("_", "").replace("-", "").isalnum():
        v.fail(instance, attribute, value, "must be letters, digits, '_' or '-'")


def _lease(value: Any) -> dt.timedelta:
    if not isinstance(value, dt.timedelta) or value <= dt.timedelta(0):
        raise ValidationError("lease", value, "must be a positive duration", entity="AnalysisJob")
    return value


@attrs.define(kw_only=True, eq=False)
class AnalysisJob(Entity):
    """One run of analysis over a project.

    Its status only moves forward: pending -> running -> completed | failed | cancelled
    (a pending job may also fail or be cancelled). Assigning ``status`` directly is held
    to the same rule; use :meth:`start`, :meth:`report_progress`, :meth:`heartbeat`,
    :meth:`complete`, :meth:`fail` and :meth:`cancel`, which also keep the timestamps
    right.

    ``branch``, ``commit_hash`` and ``dirty`` say what was analysed: the checked-out branch
    (None for a detached HEAD), its commit, and whether the working tree had uncommitted
    changes. A running job is held by its ``owner`` (which process runs it) under a lease
    that the owner renews (:meth:`heartbeat`) until ``lease_expires_at``; a job whose owner
    is gone or whose lease ran out is abandoned (:meth:`abandonment`) and is failed by the
    next runner, so that no job stays running for ever.
    """

    id: JobId = attrs.field(factory=lambda: JobId(new_id()))
    project_id: ProjectId
    job_type: str = attrs.field(default="full", validator=_job_type)
    status: JobStatus = attrs.field(
        default=JobStatus.PENDING,
        converter=to_job_status,
        validator=v.enum_member(JobStatus),
        on_setattr=_guard_transition,
    )
    priority: int = attrs.field(default=5, validator=v.int_range(1, 10))
    config: dict[str, Any] = attrs.field(factory=dict, validator=v.json_document())
    progress: int = attrs.field(default=0, validator=v.int_range(0, 100))
    started_at: dt.datetime | None = attrs.field(
        default=None, validator=v.optional(v.aware_datetime())
    )
    completed_at: dt.datetime | None = attrs.field(
        default=None, validator=v.optional(v.aware_datetime())
    )
    error_message: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict, validator=v.json_document())
    created_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    updated_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    branch: str | None = attrs.field(default=None, validator=v.optional(v.text(max_length=255)))
    commit_hash: str | None = attrs.field(default=None, validator=v.optional(v.hex_digest(40)))
    dirty: bool = attrs.field(default=False, validator=v.boolean())
    owner: str | None = attrs.field(default=None, validator=v.optional(v.text(max_length=255)))
    heartbeat_at: dt.datetime | None = attrs.field(
        default=None, validator=v.optional(v.aware_datetime())
    )
    lease_expires_at: dt.datetime | None = attrs.field(
        default=None, validator=v.optional(v.aware_datetime())
    )

    def __attrs_post_init__(self) -> None:
        if (
            self.started_at is not None
            and self.completed_at is not None
            and self.completed_at < self.started_at
        ):
            raise ValidationError(
                "completed_at",
                self.completed_at,
                f"must not be before started_at ({self.started_at.isoformat()})",
                entity="AnalysisJob",
            )

    def start(
        self,
        at: dt.datetime | None = None,
        *,
        owner: str | None = None,
        lease: dt.timedelta = DEFAULT_LEASE,
    ) -> None:
        """Run the job, held by ``owner`` for ``lease`` (renewed by :meth:`heartbeat`)."""
        lease = _lease(lease)
        self._move(JobStatus.RUNNING)
        now = at or utc_now()
        self.started_at = now
        self.owner = owner
        self.heartbeat_at = now
        self.lease_expires_at = now + lease

    def heartbeat(
        self, at: dt.datetime | None = None, *, lease: dt.timedelta = DEFAULT_LEASE
    ) -> None:
        """Renew the lease of a running job: its owner is alive and working."""
        lease = _lease(lease)
        self._require_running("heartbeat", at)
        now = at or utc_now()
        self.heartbeat_at = now
        self.lease_expires_at = now + lease

    def report_progress(self, progress: int, *, lease: dt.timedelta = DEFAULT_LEASE) -> None:
        """Record progress (0-100) of a running job; this renews its lease too."""
        self._require_running("progress", progress)
        self.progress = progress
        self.heartbeat(lease=lease)

    def abandonment(self, now: dt.datetime, *, owner_alive: bool | None = None) -> str | None:
        """Why this job is abandoned, or None while it may still be running. A running job
        is abandoned when it has no lease (left by an earlier version), when its owner is
        known to be gone (``owner_alive`` False; None when that cannot be told, as for a
        process on another machine), or when its lease expired before ``now``."""
        if self.status is not JobStatus.RUNNING:
            return None
        if self.lease_expires_at is None:
            return "it was left running without a lease"
        if owner_alive is False:
            return f"its process ({self.owner}) is gone"
        if self.lease_expires_at < now:
            last = self.heartbeat_at.isoformat() if self.heartbeat_at else "never"
            return (
                f"its lease expired at {self.lease_expires_at.isoformat()}"
                f" (last heartbeat: {last}, owner: {self.owner or 'unknown'})"
            )
        return None

    def complete(self, at: dt.datetime | None = None) -> None:
        self._move(JobStatus.COMPLETED)
        self.progress = 100
        self._finish(at)

    def fail(self, message: str, at: dt.datetime | None = None) -> None:
        v.text()(self, attrs.fields(AnalysisJob).error_message, message)
        self._move(JobStatus.FAILED)
        self.error_message = message
        self._finish(at)

    def cancel(self, at: dt.datetime | None = None) -> None:
        self._move(JobStatus.CANCELLED)
        self._finish(at)

    def _require_running(self, field: str, value: Any) -> None:
        if self.status is not JobStatus.RUNNING:
            raise ValidationError(
                field,
                value,
                f"can only be reported while running (job is {self.status})",
                entity="AnalysisJob",
            )

    def _move(self, target: JobStatus) -> None:
        """Move along a lifecycle edge; unlike a plain assignment, staying put is refused
        (a job is started, or finished, once)."""
        if not self.status.can_move_to(target):
            raise InvalidTransitionError("status", self.status, target, entity="AnalysisJob")
        self.status = target

    def _finish(self, at: dt.datetime | None) -> None:
        finished = at or utc_now()
        if self.started_at is not None and finished < self.started_at:
            finished = self.started_at
        self.completed_at = finished
        self.lease_expires_at = None  # nothing holds a finished job

    @property
    def duration(self) -> dt.timedelta | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return self.completed_at - self.started_at


def _rule_id(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    v.text(max_length=100)(instance, attribute, value)


@attrs.frozen(kw_only=True)
class AnalysisResult:
    """A finding of a rule in one analysis, optionally located in a file: an observation
    of the tracked issue ``issue_id`` (:class:`domain.issues.Issue`)."""

    id: AnalysisResultId = attrs.field(factory=lambda: AnalysisResultId(new_id()))
    job_id: JobId
    file_id: FileId | None = None
    rule_id: RuleId = attrs.field(validator=_rule_id)
    severity: Severity = attrs.field(converter=to_severity, validator=v.enum_member(Severity))
    category: Category = attrs.field(converter=to_category, validator=v.enum_member(Category))
    title: str = attrs.field(validator=v.text(max_length=500))
    # bounded: the covering index of the issues queries includes it (btree rows < 2.7 kB)
    description: str = attrs.field(validator=v.text(max_length=2000))
    location: SourceLocation | None = None
    suggestion: str | None = None
    confidence: float = attrs.field(default=1.0, validator=v.confidence())
    metadata: dict[str, Any] = attrs.field(factory=dict, validator=v.json_document())
    created_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    # the hash of the located line's content (domain.issues.line_hash), "" when unknown,
    # and the tracked issue the result is an observation of (set when its job completes)
    line_hash: str = attrs.field(default="", validator=v.text(max_length=64, allow_empty=True))
    issue_id: IssueId | None = None


def _threshold(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        v.finite_number(max_abs=_METRIC_MAX_ABS, decimals=4)(instance, attribute, value)


@attrs.frozen(kw_only=True)
class CodeMetric:
    """A measured value of a file in a job. ``(file_id, job_id, metric_type, metric_name)``
    is unique. ``is_violation`` is derived: the value lies outside ``[threshold_min,
    threshold_max]``."""

    id: MetricId = attrs.field(factory=lambda: MetricId(new_id()))
    file_id: FileId
    job_id: JobId
    metric_type: MetricType = attrs.field(
        converter=to_metric_type, validator=v.enum_member(MetricType)
    )
    metric_name: str = attrs.field(validator=v.text(max_length=100))
    value: float = attrs.field(validator=v.finite_number(max_abs=_METRIC_MAX_ABS, decimals=4))
    threshold_min: float | None = attrs.field(default=None, validator=_threshold)
    threshold_max: float | None = attrs.field(default=None, validator=_threshold)
    metadata: dict[str, Any] = attrs.field(factory=dict, validator=v.json_document())
    created_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())

    def __attrs_post_init__(self) -> None:
        if (
            self.threshold_min is not None
            and self.threshold_max is not None
            and self.threshold_min > self.threshold_max
        ):
            raise ValidationError(
                "threshold_max",
                self.threshold_max,
                f"must be >= threshold_min ({self.threshold_min})",
                entity="CodeMetric",
            )

    @property
    def is_violation(self) -> bool:
        if self.threshold_min is not None and self.value < self.threshold_min:
            return True
        return self.threshold_max is not None and self.value > self.threshold_max
