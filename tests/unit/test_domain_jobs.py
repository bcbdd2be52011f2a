"""The analysis-job lifecycle: pending -> running -> completed | failed | cancelled (a pending
job may also fail or be cancelled), never backwards, by method or by assignment."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Callable
from typing import Any, cast

import hypothesis.strategies as st
import pytest
from hypothesis import given

from domain.analysis import AnalysisJob
from domain.enums import FileChange, JobStatus
from domain.errors import InvalidTransitionError, ValidationError
from domain.files import FileHistoryEntry
from domain.ids import FileId, ProjectId, new_id

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
    return AnalysisJob(project_id=ProjectId(uuid.uuid4()), status=status)


def test_a_new_job_is_pending_with_no_progress() -> None:
    """A job starts pending, at 0 %, with no start or completion time."""
    job = AnalysisJob(project_id=ProjectId(uuid.uuid4()))

    assert (job.status, job.progress, job.started_at, job.completed_at) == (P, 0, None, None)
    assert job.duration is None


def test_start_report_and_complete_walk_the_happy_path() -> None:
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
def test_pending_or_running_jobs_can_fail_or_be_cancelled(start: JobStatus) -> None:
    """fail records its message and cancel its time, from pending as from running."""
    failed, cancelled = job_in(start), job_in(start)

    failed.fail("worker crashed", at=T0)
    cancelled.cancel(at=T0)

    assert (failed.status, failed.error_message, failed.completed_at) == (F, "worker crashed", T0)
    assert (cancelled.status, cancelled.completed_at) == (CA, T0)


def test_finishing_before_the_start_records_the_start_time() -> None:
    """A completion time earlier than the start is raised to the start time."""
    job = job_in(P)
    job.start(at=T0)

    job.complete(at=T0 - dt.timedelta(seconds=1))

    assert job.completed_at == T0
    assert job.duration == dt.timedelta(0)


@pytest.mark.parametrize(("current", "target"), FORBIDDEN, ids=[f"{a}->{b}" for a, b in FORBIDDEN])
def test_assigning_a_status_off_the_lifecycle_raises_and_changes_nothing(
    current: JobStatus, target: JobStatus
) -> None:
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
def test_methods_moving_a_finished_job_elsewhere_raise_invalid_transition(
    finished: JobStatus,
) -> None:
    """A finished job cannot be started, nor moved to another final status."""
    job = job_in(finished)
    moves: dict[JobStatus, Callable[[], object]] = {
        R: job.start,
        CO: job.complete,
        CA: job.cancel,
        F: lambda: job.fail("again"),
    }

    for target, move in moves.items():
        if target is not finished:
            with pytest.raises(InvalidTransitionError):
                move()
    assert job.status is finished
    assert job.completed_at is None


def test_assigning_an_unknown_status_names_the_field() -> None:
    """A status string that is no status is refused with the status field named."""
    job = job_in(P)

    with pytest.raises(ValidationError) as caught:
        job.status = cast(Any, "paused")

    assert caught.value.field == "status"
    assert job.status is P


def test_a_status_string_is_accepted_on_assignment() -> None:
    """Assigning a stored status string moves the job as the member would."""
    job = job_in(P)

    job.status = cast(Any, "running")

    assert job.status is R


@given(st.lists(st.sampled_from(list(JobStatus)), max_size=12))
def test_status_only_moves_forward_along_the_lifecycle(targets: list[JobStatus]) -> None:
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
def test_progress_is_reported_only_while_running(status: JobStatus) -> None:
    """report_progress on a job that is not running is refused naming progress."""
    job = job_in(status)

    with pytest.raises(ValidationError) as caught:
        job.report_progress(10)

    assert caught.value.field == "progress"


@pytest.mark.parametrize("progress", [-1, 101])
def test_reported_progress_stays_within_0_and_100(progress: int) -> None:
    """Progress outside 0-100 is refused even while running, and the old value stays."""
    job = job_in(P)
    job.start()

    with pytest.raises(ValidationError) as caught:
        job.report_progress(progress)

    assert caught.value.field == "progress"
    assert job.progress == 0


@pytest.mark.parametrize("message", ["", "   "])
def test_failing_needs_a_message(message: str) -> None:
    """fail with a blank message is refused naming error_message, leaving the job as it was."""
    job = job_in(R)

    with pytest.raises(ValidationError) as caught:
        job.fail(message)

    assert caught.value.field == "error_message"
    assert job.status is R


def test_starting_takes_a_lease_that_heartbeats_renew_and_ending_drops() -> None:
    """A started job is held by its owner until the lease runs out; a heartbeat moves the
    end of the lease; a finished job is held by no one."""
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    job = AnalysisJob(project_id=ProjectId(new_id()))
    job.start(at=start, owner="host/boot/1/2", lease=dt.timedelta(minutes=5))
    assert (job.owner, job.heartbeat_at) == ("host/boot/1/2", start)
    assert job.lease_expires_at == start + dt.timedelta(minutes=5)
    job.heartbeat(at=start + dt.timedelta(minutes=4), lease=dt.timedelta(minutes=5))
    assert job.lease_expires_at == start + dt.timedelta(minutes=9)
    job.complete(at=start + dt.timedelta(minutes=6))
    assert job.lease_expires_at is None
    with pytest.raises(ValidationError, match="only be reported while running"):
        job.heartbeat()


def test_a_lease_must_be_a_positive_duration() -> None:
    job = AnalysisJob(project_id=ProjectId(new_id()))
    for lease in (dt.timedelta(0), dt.timedelta(seconds=-1), cast(Any, 60)):
        with pytest.raises(ValidationError, match="lease"):
            job.start(lease=lease)
    assert job.status is JobStatus.PENDING


def test_abandonment_names_why_a_running_job_is_abandoned() -> None:
    """A running job is abandoned without a lease, with its owner gone, or past its lease;
    a job that is not running, or whose owner may live within its lease, is not."""
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    job = AnalysisJob(project_id=ProjectId(new_id()))
    assert job.abandonment(start) is None
    job.start(at=start, owner="o", lease=dt.timedelta(minutes=5))
    soon = start + dt.timedelta(minutes=1)
    later = start + dt.timedelta(minutes=6)
    assert job.abandonment(soon) is None
    assert job.abandonment(soon, owner_alive=True) is None
    assert job.abandonment(soon, owner_alive=False) == "its process (o) is gone"
    expired = job.abandonment(later)
    assert expired is not None
    assert expired.startswith("its lease expired at 2024-01-01T00:05:00")
    legacy = AnalysisJob(project_id=ProjectId(new_id()), status=JobStatus.RUNNING)
    assert legacy.abandonment(soon) == "it was left running without a lease"


def test_a_job_records_what_it_analysed() -> None:
    """Branch, commit and uncommitted changes are validated like the rest."""
    job = AnalysisJob(
        project_id=ProjectId(new_id()), branch="main", commit_hash="a" * 40, dirty=True
    )
    assert (job.branch, job.commit_hash, job.dirty) == ("main", "a" * 40, True)
    wrong: list[dict[str, Any]] = [{"commit_hash": "abc"}, {"branch": ""}, {"dirty": "yes"}]
    for bad in wrong:
        with pytest.raises(ValidationError):
            AnalysisJob(project_id=ProjectId(new_id()), **bad)


def test_a_history_entry_names_a_former_path_for_a_rename_only() -> None:
    file_id = FileId(new_id())
    renamed = FileHistoryEntry(
        file_id=file_id, change="renamed", relative_path="b.py", previous_path="a.py"
    )
    assert renamed.change is FileChange.RENAMED
    with pytest.raises(ValidationError, match="former path"):
        FileHistoryEntry(file_id=file_id, change="renamed", relative_path="b.py")
    with pytest.raises(ValidationError, match="former path"):
        FileHistoryEntry(
            file_id=file_id, change="renamed", relative_path="b.py", previous_path="b.py"
        )
    with pytest.raises(ValidationError, match="only given for a rename"):
        FileHistoryEntry(
            file_id=file_id, change="modified", relative_path="b.py", previous_path="a.py"
        )
    with pytest.raises(ValidationError, match="relative"):
        FileHistoryEntry(file_id=file_id, change="added", relative_path="/etc/passwd")
