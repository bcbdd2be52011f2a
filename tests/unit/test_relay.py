"""The outbox relay and the post-commit hook, on the in-memory adapters."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from adapters.memory.database import MemoryDatabase
from adapters.memory.outbox import MemoryOutbox
from adapters.memory.unit_of_work import MemoryUnitOfWork
from application.relay import EventDispatcher, OutboxRelay, RelayResult
from domain.events import DomainEvent, ProjectUpdated
from domain.ids import OrganizationId, ProjectId, new_id


def updated(label: str) -> ProjectUpdated:
    return ProjectUpdated(
        project_id=ProjectId(new_id()), organization_id=OrganizationId(new_id()), changed=(label,)
    )


class Recorder:
    """A handler that records what it receives and fails while ``failing`` is set."""

    def __init__(self) -> None:
        self.seen: list[DomainEvent] = []
        self.failing = False

    async def __call__(self, event: DomainEvent) -> None:
        self.seen.append(event)
        if self.failing:
            raise ConnectionError("cache down")


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


async def commit(db: MemoryDatabase, *events: DomainEvent, hook: object = None) -> None:
    async with MemoryUnitOfWork(db, on_commit=hook) as uow:  # type: ignore[arg-type]
        for event in events:
            uow.add_event(event)
        await uow.commit()


async def test_relay_delivers_committed_events_once_and_marks_them() -> None:
    """Every committed event reaches the handler and leaves the pending list; a second
    pass delivers nothing."""
    db, recorder = MemoryDatabase(), Recorder()
    events = [updated(str(i)) for i in range(5)]
    await commit(db, *events)
    relay = OutboxRelay(MemoryOutbox(db), EventDispatcher([recorder]), batch_size=2)

    result = await relay.drain()

    assert (result.delivered, result.failed) == (5, 0)
    assert recorder.seen == events
    assert await MemoryOutbox(db).pending() == []
    assert (await relay.drain()).delivered == 0


async def test_a_failed_delivery_is_retried_after_its_backoff() -> None:
    """A handler failure keeps the message, which is not retried before its backoff and
    is delivered again (at least once) when the handler recovers."""
    db, recorder, clock = MemoryDatabase(), Recorder(), Clock()
    event = updated("x")
    await commit(db, event)
    relay = OutboxRelay(
        MemoryOutbox(db), EventDispatcher([recorder]), base_delay=10, max_delay=60, clock=clock
    )
    recorder.failing = True

    assert (await relay.run_once()).failed == 1
    (message,) = await MemoryOutbox(db).pending()
    assert message.attempts == 1 and "cache down" in (message.last_error or "")
    clock.now += dt.timedelta(seconds=4)
    assert await relay.run_once() == RelayResult()  # nothing due yet

    recorder.failing = False
    clock.now += dt.timedelta(seconds=20)
    assert (await relay.run_once()).delivered == 1
    assert recorder.seen == [event, event]
    assert await MemoryOutbox(db).pending() == []


async def test_messages_failing_max_attempts_times_are_left_aside() -> None:
    """After max_attempts failures a message is no longer tried but stays in the outbox."""
    db, recorder, clock = MemoryDatabase(), Recorder(), Clock()
    await commit(db, updated("poison"))
    relay = OutboxRelay(
        MemoryOutbox(db), EventDispatcher([recorder]), max_attempts=2, base_delay=0, clock=clock
    )
    recorder.failing = True

    for _ in range(4):
        await relay.run_once()

    assert len(recorder.seen) == 2
    stats = await MemoryOutbox(db).stats()
    assert (stats.pending, stats.failing, stats.max_attempts) == (1, 1, 2)


async def test_the_commit_hook_sees_events_only_after_a_commit() -> None:
    """on_commit receives a unit's events once it committed, and nothing on rollback."""
    db, recorder = MemoryDatabase(), Recorder()
    dispatcher = EventDispatcher([recorder])
    event = updated("kept")
    async with MemoryUnitOfWork(db, on_commit=dispatcher) as uow:
        uow.add_event(updated("dropped"))
    assert recorder.seen == []
    await commit(db, event, hook=dispatcher)
    assert recorder.seen == [event]


async def test_a_failing_commit_hook_leaves_the_commit_and_the_outbox(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A hook failure is logged, the commit stands and the relay delivers the event later."""
    db, recorder = MemoryDatabase(), Recorder()
    recorder.failing = True
    event = updated("x")
    with caplog.at_level(logging.WARNING):
        await commit(db, event, hook=EventDispatcher([recorder]))
    assert "outbox relay will retry" in caplog.text
    recorder.failing = False
    result = await OutboxRelay(MemoryOutbox(db), EventDispatcher([recorder])).drain()
    assert result.delivered == 1 and recorder.seen == [event, event]


@pytest.mark.parametrize(
    "kwargs",
    [{"batch_size": 0}, {"max_attempts": 0}, {"base_delay": -1}, {"base_delay": 5, "max_delay": 1}],
)
def test_bad_relay_settings_are_rejected(kwargs: dict[str, float]) -> None:
    """Out-of-range batch size, attempts or delays raise ValueError naming the setting."""
    with pytest.raises(ValueError, match=r"batch_size|max_attempts|delays"):
        OutboxRelay(MemoryOutbox(MemoryDatabase()), EventDispatcher([]), **kwargs)  # type: ignore[arg-type]
