"""Contract of Outbox: committed events wait oldest first until delivered; failed attempts
are counted and keep the message pending."""

from __future__ import annotations

import datetime as dt

from domain.enums import JobStatus, MemberRole
from domain.events import (
    AnalysisCompleted,
    AnalysisFailed,
    ConfigurationChanged,
    FileChanged,
    MemberAdded,
    ProjectUpdated,
    RepositorySynced,
    RuleChanged,
)
from domain.ids import (
    FileId,
    JobId,
    OrganizationId,
    ProjectId,
    RepositoryId,
    RuleId,
    UserId,
    new_id,
)
from tests.contract.builders import commit_hash


async def commit_events(backend, *events):
    """Add ``events`` to one unit of work and commit it."""
    async with backend.uow() as uow:
        for event in events:
            uow.add_event(event)
        await uow.commit()


def updated(*changed):
    return ProjectUpdated(
        project_id=ProjectId(new_id()), organization_id=OrganizationId(new_id()), changed=changed
    )


async def test_pending_is_empty_when_nothing_was_committed(backend):
    """A fresh store has no pending messages."""
    assert await backend.outbox().pending() == []


async def test_pending_lists_committed_events_oldest_first_up_to_limit(backend):
    """Messages come out in commit order, at most limit of them."""
    first, second, third, fourth = (updated(f"field{i}") for i in range(4))
    await commit_events(backend, first)
    await commit_events(backend, second, third)
    await commit_events(backend, fourth)

    events = [m.event for m in await backend.outbox().pending(limit=10)]

    assert events[0] == first and events[-1] == fourth
    assert set(events[1:3]) == {second, third} and len(events) == 4
    assert [m.event for m in await backend.outbox().pending(limit=2)] == events[:2]


async def test_messages_carry_events_structurally_equal_to_those_added(backend):
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


async def test_mark_delivered_removes_messages_from_pending(backend):
    """Delivered messages leave the pending list; mark_delivered returns how many."""
    kept = updated("kept")
    await commit_events(backend, updated("a"), updated("b"))
    await commit_events(backend, kept)
    outbox = backend.outbox()
    delivered = [m.id for m in (await outbox.pending())[:2]]

    assert await outbox.mark_delivered(delivered) == 2

    assert [m.event for m in await outbox.pending()] == [kept]


async def test_mark_failed_keeps_the_message_pending_with_attempts_and_error(backend):
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


async def test_a_failed_message_waits_for_its_retry_time(backend):
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


async def test_stats_count_pending_failing_and_delivered(backend):
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
