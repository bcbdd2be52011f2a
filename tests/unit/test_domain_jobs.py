"""The analysis-job lifecycle: pending -> running -> completed | failed | cancelled (a pending
job may also fail or be cancelled), never backwards, by method or by assignment."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import hypothesis.strategies as st
import pytest
from hypothesis import given

from domain.analysis import AnalysisJob
from domain.enums import JobStatus
from domain.errors import InvalidTransitionError, ValidationError

P, R, CO, F, CA = (
    JobStatus.PENDING,
    JobStatus.RUNNING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
)
ALLOWED = {(P, R), (P, F), (P, CA), (R, CO), (R, F), (R, CA)}
FORBIDDEN = [(a, b) for a, b in itertools.permutations(JobStatus, 2) if (a, b) not in ALLOWED]
T0 = dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC)


def job_in(status: JobStatus) -> AnalysisJob:
    return AnalysisJob(project_id=uuid.uuid4(), status=status)


def test_a_new_job_is_pending_with_no_progress():
    """A job starts pending, at 0 %, with no start or completion time."""
    job = AnalysisJob(project_id=uuid.uuid4())

    assert (job.status, job.progress, job.started_at, job.completed_at) == (P, 0, None, None)
    assert job.duration is None


def test_start_report_and_complete_walk_the_happy_path():
    """start, report_progress and complete move a job to completed at 100 % with its times."""
    job = job_in(P)

    job.start(at=T0)
    job.report_progress(40)
    assert (job.status, job.progress, job.started_at) == (R, 40, T0)
    job.complete(at=T0 + dt.timedelta(minutes=5))

    assert (job.status, job.progress) == (CO, 100)
    assert job.completed_at == T0 + dt.timedelta(minutes=5)
    assert job.duration == dt.timedelta(minutes=5)


@pytest.mark.parametrize("start", [P, R])
def test_pending_or_running_jobs_can_fail_or_be_cancelled(start):
    """fail records its message and cancel its time, from pending as from running."""
    failed, cancelled = job_in(start), job_in(start)

    failed.fail("worker crashed", at=T0)
    cancelled.cancel(at=T0)

    assert (failed.status, failed.error_message, failed.completed_at) == (F, "worker crashed", T0)
    assert (cancelled.status, cancelled.completed_at) == (CA, T0)


def test_finishing_before_the_start_records_the_start_time():
    """A completion time earlier than the start is raised to the start time."""
    job = job_in(P)
    job.start(at=T0)

    job.complete(at=T0 - dt.timedelta(seconds=1))

    assert job.completed_at == T0
    assert job.duration == dt.timedelta(0)


@pytest.mark.parametrize(("current", "target"), FORBIDDEN, ids=[f"{a}->{b}" for a, b in FORBIDDEN])
def test_assigning_a_status_off_the_lifecycle_raises_and_changes_nothing(current, target):
    """Direct assignment along an edge the lifecycle lacks raises InvalidTransitionError
    naming the status field, and the job keeps its status."""
    job = job_in(current)

    with pytest.raises(InvalidTransitionError) as caught:
        job.status = target

    assert (caught.value.field, caught.value.current, caught.value.target) == (
        "status",
        current,
        target,
    )
    assert isinstance(caught.value, ValidationError)
    assert job.status is current


@pytest.mark.parametrize("finished", [CO, F, CA])
def test_methods_moving_a_finished_job_elsewhere_raise_invalid_transition(finished):
    """A finished job cannot be started, nor moved to another final status."""
    job = job_in(finished)
    moves = {R: job.start, CO: job.complete, CA: job.cancel, F: lambda: job.fail("again")}

    for target, move in moves.items():
        if target is not finished:
            with pytest.raises(InvalidTransitionError):
                move()
    assert job.status is finished
    assert job.completed_at is None


def test_assigning_an_unknown_status_names_the_field():
    """A status string that is no status is refused with the status field named."""
    job = job_in(P)

    with pytest.raises(ValidationError) as caught:
        job.status = "paused"

    assert caught.value.field == "status"
    assert job.status is P


def test_a_status_string_is_accepted_on_assignment():
    """Assigning a stored status string moves the job as the member would."""
    job = job_in(P)

    job.status = "running"

    assert job.status is R


@given(st.lists(st.sampled_from(list(JobStatus)), max_size=12))
def test_status_only_moves_forward_along_the_lifecycle(targets):
    """Whatever statuses are assigned, each assignment succeeds exactly when the lifecycle
    has that edge (or it is the current status), so a job never goes back."""
    job = job_in(P)
    for target in targets:
        current = job.status
        if target == current or (current, target) in ALLOWED:
            job.status = target
            assert job.status is target
        else:
            with pytest.raises(InvalidTransitionError):
                job.status = target
            assert job.status is current


@pytest.mark.parametrize("status", [P, CO, F, CA])
def test_progress_is_reported_only_while_running(status):
    """report_progress on a job that is not running is refused naming progress."""
    job = job_in(status)

    with pytest.raises(ValidationError) as caught:
        job.report_progress(10)

    assert caught.value.field == "progress"


@pytest.mark.parametrize("progress", [-1, 101])
def test_reported_progress_stays_within_0_and_100(progress):
    """Progress outside 0-100 is refused even while running, and the old value stays."""
    job = job_in(P)
    job.start()

    with pytest.raises(ValidationError) as caught:
        job.report_progress(progress)

    assert caught.value.field == "progress"
    assert job.progress == 0


@pytest.mark.parametrize("message", ["", "   "])
def test_failing_needs_a_message(message):
    """fail with a blank message is refused naming error_message, leaving the job as it was."""
    job = job_in(R)

    with pytest.raises(ValidationError) as caught:
        job.fail(message)

    assert caught.value.field == "error_message"
    assert job.status is R
