"""Contract of Outbox: committed events wait oldest first until delivered; failed attempts
are counted and keep the message pending; claims hand each due message to one relay at a
time; postponing is not a failed attempt."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from domain.enums import JobStatus, MemberRole
from domain.events import (
    AnalysisCompleted,
    AnalysisFailed,
    ConfigurationChanged,
    DomainEvent,
    FileChanged,
    MemberAdded,
    ProjectUpdated,
    RepositorySynced,
    RuleChanged,
)
from domain.ids import (
    EventId,
    FileId,
    JobId,
    OrganizationId,
    ProjectId,
    RepositoryId,
    RuleId,
    UserId,
    new_id,
)
from ports.errors import ValidationError
from tests.contract.builders import commit_hash
from tests.contract.conftest import Backend


async def commit_events(backend: Backend, *events: DomainEvent) -> None:
    """Add ``events`` to one unit of work and commit it."""
    async with backend.uow() as uow:
        for event in events:
            uow.add_event(event)
        await uow.commit()


def updated(*changed: str) -> ProjectUpdated:
    return ProjectUpdated(
        project_id=ProjectId(new_id()), organization_id=OrganizationId(new_id()), changed=changed
    )


async def test_pending_is_empty_when_nothing_was_committed(backend: Backend) -> None:
    """A fresh store has no pending messages."""
    assert await backend.outbox().pending() == []


async def test_pending_lists_committed_events_oldest_first_up_to_limit(backend: Backend) -> None:
    """Messages come out in commit order, at most limit of them."""
    first, second, third, fourth = (updated(f"field{i}") for i in range(4))
    await commit_events(backend, first)
    await commit_events(backend, second, third)
    await commit_events(backend, fourth)

    events = [m.event for m in await backend.outbox().pending(limit=10)]

    assert events[0] == first and events[-1] == fourth
    assert set(events[1:3]) == {second, third} and len(events) == 4
    assert [m.event for m in await backend.outbox().pending(limit=2)] == events[:2]


async def test_messages_carry_events_structurally_equal_to_those_added(backend: Backend) -> None:
    """Every kind of event comes back equal, field by field, in a fresh message."""
    job, project = JobId(new_id()), ProjectId(new_id())
    events = [
        updated("name", "settings"),
        AnalysisCompleted(job_id=job, project_id=project, result_count=12, metric_count=40),
        AnalysisFailed(job_id=job, project_id=project, status=JobStatus.CANCELLED, error=None),
        FileChanged(
            file_id=FileId(new_id()),
            repository_id=RepositoryId(new_id()),
            project_id=project,
            relative_path="src/app.py",
            change="modified",
        ),
        RepositorySynced(
            repository_id=RepositoryId(new_id()),
            project_id=project,
            commit=commit_hash("head"),
            branches=3,
        ),
        MemberAdded(
            organization_id=OrganizationId(new_id()),
            user_id=UserId(new_id()),
            role=MemberRole.ADMIN,
        ),
        ConfigurationChanged(project_id=project),
        RuleChanged(rule_id=RuleId("complex-function")),
    ]
    for event in events:
        await commit_events(backend, event)

    messages = await backend.outbox().pending()

    assert [m.event for m in messages] == events
    assert [type(m.event) for m in messages] == [type(e) for e in events]
    assert len({m.id for m in messages}) == len(events)
    assert all(m.attempts == 0 and m.last_error is None for m in messages)
    assert all(m.created_at.tzinfo is not None for m in messages)


async def test_mark_delivered_removes_messages_from_pending(backend: Backend) -> None:
    """Delivered messages leave the pending list; mark_delivered returns how many."""
    kept = updated("kept")
    await commit_events(backend, updated("a"), updated("b"))
    await commit_events(backend, kept)
    outbox = backend.outbox()
    delivered = [m.id for m in (await outbox.pending())[:2]]

    assert await outbox.mark_delivered(delivered) == 2

    assert [m.event for m in await outbox.pending()] == [kept]


async def test_mark_failed_keeps_the_message_pending_with_attempts_and_error(
    backend: Backend,
) -> None:
    """Each failed attempt increments attempts and records the last error; the message
    stays pending and others are untouched."""
    flaky, other = updated("flaky"), updated("other")
    await commit_events(backend, flaky)
    await commit_events(backend, other)
    outbox = backend.outbox()
    message = (await outbox.pending())[0]

    await outbox.mark_failed(message.id, "redis down")
    await outbox.mark_failed(message.id, "qdrant down")

    pending = {m.event: m for m in await outbox.pending()}
    assert set(pending) == {flaky, other}
    assert (pending[flaky].attempts, pending[flaky].last_error) == (2, "qdrant down")
    assert pending[flaky].id == message.id
    assert (pending[other].attempts, pending[other].last_error) == (0, None)


async def test_a_failed_message_waits_for_its_retry_time(backend: Backend) -> None:
    """A message marked failed with retry_at is not due before that time, is due after
    it, and max_attempts leaves aside the messages that failed that often."""
    flaky = updated("flaky")
    await commit_events(backend, flaky)
    outbox = backend.outbox()
    message = (await outbox.pending())[0]
    now = message.created_at + dt.timedelta(minutes=1)

    await outbox.mark_failed(message.id, "down", retry_at=now + dt.timedelta(seconds=30))

    assert await outbox.pending(now=now) == []
    due = await outbox.pending(now=now + dt.timedelta(seconds=31))
    assert [m.event for m in due] == [flaky]
    assert await outbox.pending(max_attempts=1) == []
    assert [m.event for m in await outbox.pending(max_attempts=2)] == [flaky]


async def test_stats_count_pending_failing_and_delivered(backend: Backend) -> None:
    """stats counts waiting, failing and delivered messages and dates the oldest waiting."""
    outbox = backend.outbox()
    empty = await outbox.stats()
    assert (empty.pending, empty.failing, empty.delivered) == (0, 0, 0)
    assert empty.oldest_pending_at is None

    await commit_events(backend, updated("a"), updated("b"), updated("c"))
    first, second, _ = await outbox.pending()
    await outbox.mark_delivered([first.id])
    await outbox.mark_failed(second.id, "down")
    await outbox.mark_failed(second.id, "down")

    stats = await outbox.stats()
    assert (stats.pending, stats.failing, stats.delivered, stats.max_attempts) == (2, 1, 1, 2)
    assert stats.oldest_pending_at == second.created_at


# --------------------------------------------------------------------------- claims


async def _claimable(backend: Backend, *labels: str) -> tuple[list[ProjectUpdated], dt.datetime]:
    """Commit one event per label, each in its own unit; returns the events and a time at
    which all of them are due."""
    events = [updated(label) for label in labels]
    for event in events:
        await commit_events(backend, event)
    [first, *_] = await backend.outbox().pending()
    return events, first.created_at + dt.timedelta(minutes=1)


async def test_claim_takes_due_messages_oldest_first_and_holds_them_for_the_lease(
    backend: Backend,
) -> None:
    """A claim returns the oldest due messages up to its limit; until the lease is over a
    second claim gets the others, then nothing; after it, the claimed ones again."""
    events, now = await _claimable(backend, "a", "b", "c")
    outbox = backend.outbox()

    first = await outbox.claim(limit=2, now=now, lease=30)
    second = await outbox.claim(limit=2, now=now, lease=30)
    meanwhile = await outbox.claim(now=now + dt.timedelta(seconds=29), lease=30)
    after = await outbox.claim(now=now + dt.timedelta(seconds=31), lease=30)

    assert [m.event for m in first] == events[:2]
    assert [m.event for m in second] == events[2:]
    assert meanwhile == []
    assert [m.event for m in after] == events
    assert len(await outbox.pending()) == 3  # claimed messages stay pending


async def test_concurrent_claims_never_share_a_message(backend: Backend) -> None:
    """Ten claims made at once hand out each message to one of them only."""
    events, now = await _claimable(backend, *(f"e{i}" for i in range(12)))
    outbox = backend.outbox()

    batches = await asyncio.gather(*(outbox.claim(limit=3, now=now, lease=30) for _ in range(10)))

    claimed = [m.id for batch in batches for m in batch]
    assert len(claimed) == len(set(claimed)) == len(events)


async def test_claim_skips_messages_waiting_for_a_retry_or_failed_too_often(
    backend: Backend,
) -> None:
    """A message failed with a retry time is not claimed before it, and max_attempts leaves
    aside messages that failed that often."""
    (flaky, steady), now = await _claimable(backend, "flaky", "steady")
    outbox = backend.outbox()
    message = next(m for m in await outbox.pending() if m.event == flaky)
    await outbox.mark_failed(message.id, "down", retry_at=now + dt.timedelta(seconds=10))

    early = await outbox.claim(now=now, lease=60)
    late = await outbox.claim(now=now + dt.timedelta(seconds=11), lease=1, max_attempts=1)
    allowed = await outbox.claim(now=now + dt.timedelta(seconds=11), lease=1, max_attempts=2)

    assert [m.event for m in early] == [steady]
    assert late == []
    assert [(m.event, m.attempts) for m in allowed] == [(flaky, 1)]


@pytest.mark.parametrize("lease", [0, -1, float("inf"), float("nan"), True, "30", 86_401])
async def test_claim_refuses_a_bad_lease(backend: Backend, lease: Any) -> None:
    """A lease that is not a positive number of seconds (at most a day) is a ValidationError
    naming it, and nothing is claimed."""
    _, now = await _claimable(backend, "kept")

    with pytest.raises(ValidationError, match="lease"):
        await backend.outbox().claim(now=now, lease=lease)

    assert len(await backend.outbox().claim(now=now, lease=30)) == 1


async def test_postpone_keeps_messages_pending_without_counting_an_attempt(
    backend: Backend,
) -> None:
    """Postponed messages stay pending with the reason as their last error and zero
    attempts, are not due before their retry time, and count as failing."""
    (first, second, other), now = await _claimable(backend, "a", "b", "other")
    outbox = backend.outbox()
    claimed = await outbox.claim(limit=2, now=now, lease=30)
    retry_at = now + dt.timedelta(seconds=5)

    await outbox.postpone([m.id for m in claimed], "UnavailableError: down", retry_at=retry_at)

    waiting = {m.event: m for m in await outbox.pending()}
    assert {(waiting[e].attempts, waiting[e].last_error) for e in (first, second)} == {
        (0, "UnavailableError: down")
    }
    assert [m.event for m in await outbox.claim(now=now + dt.timedelta(seconds=4), lease=30)] == [
        other
    ]
    due = await outbox.claim(now=now + dt.timedelta(seconds=6), lease=30, max_attempts=1)
    assert [m.event for m in due] == [first, second]
    assert (await outbox.stats()).failing == 2


async def test_mark_events_delivered_marks_the_messages_of_those_events(backend: Backend) -> None:
    """Messages are marked delivered by their events' ids; the count leaves out unknown
    events and messages delivered already."""
    (handled, waiting), _ = await _claimable(backend, "handled", "waiting")
    outbox = backend.outbox()

    assert await outbox.mark_events_delivered([handled.event_id, EventId(new_id())]) == 1
    assert await outbox.mark_events_delivered([handled.event_id]) == 0
    assert await outbox.mark_events_delivered([]) == 0

    assert [m.event for m in await outbox.pending()] == [waiting]


async def test_marks_after_delivery_change_nothing(backend: Backend) -> None:
    """Once a message is delivered (by another relay whose claim came after a lease ended),
    a late failure or postponement of it changes nothing."""
    _, now = await _claimable(backend, "once")
    outbox = backend.outbox()
    [message] = await outbox.claim(now=now, lease=1)
    await outbox.mark_delivered([message.id])

    await outbox.mark_failed(message.id, "late")
    await outbox.postpone([message.id], "late", retry_at=now)

    stats = await outbox.stats()
    assert (stats.pending, stats.failing, stats.delivered) == (0, 0, 1)
    assert await outbox.claim(now=now + dt.timedelta(hours=1), lease=1) == []


# --------------------------------------------------------------------------- purge


async def test_purge_delivered_deletes_delivered_messages_only(backend: Backend) -> None:
    """purge_delivered deletes the messages delivered before the given time and returns
    how many; pending messages stay, failed ones with their attempts, however old; a
    dry run counts them and deletes nothing; purging again finds none."""
    (done, also_done, flaky, waiting), now = await _claimable(
        backend, "done", "also done", "flaky", "waiting"
    )
    outbox = backend.outbox()
    messages = {m.event: m for m in await outbox.pending()}
    await outbox.mark_delivered([messages[done].id, messages[also_done].id])
    await outbox.mark_failed(messages[flaky].id, "down")
    long_after = now + dt.timedelta(days=1)

    assert await outbox.purge_delivered(messages[done].created_at - dt.timedelta(hours=1)) == 0
    assert await outbox.purge_delivered(long_after, dry_run=True) == 2
    assert (await outbox.stats()).delivered == 2

    assert await outbox.purge_delivered(long_after) == 2

    stats = await outbox.stats()
    assert (stats.pending, stats.failing, stats.delivered) == (2, 1, 0)
    left = {m.event: m for m in await outbox.pending()}
    assert set(left) == {flaky, waiting}
    assert (left[flaky].attempts, left[flaky].last_error) == (1, "down")
    assert await outbox.purge_delivered(long_after) == 0


@pytest.mark.parametrize("before", [dt.datetime(2026, 1, 1), "2026-01-01", None])
async def test_purge_delivered_refuses_a_time_that_is_not_aware(
    backend: Backend, before: Any
) -> None:
    """A purge time that is not a timezone-aware datetime is a ValidationError naming it,
    and nothing is deleted."""
    await _claimable(backend, "kept")
    outbox = backend.outbox()
    await outbox.mark_delivered([m.id for m in await outbox.pending()])

    with pytest.raises(ValidationError, match="before"):
        await outbox.purge_delivered(before)

    assert (await outbox.stats()).delivered == 1
