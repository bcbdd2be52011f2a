"""The outbox relay, the commit hook and the background worker, on the in-memory
adapters."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from adapters.common import CommitHook
from adapters.memory.database import MemoryDatabase
from adapters.memory.outbox import MemoryOutbox
from adapters.memory.unit_of_work import MemoryUnitOfWork
from application.relay import (
    DeliverOnCommit,
    EventDispatcher,
    OutboxRelay,
    RelayResult,
    RelayWorker,
)
from domain.events import DomainEvent, ProjectUpdated
from domain.ids import EventId, OrganizationId, ProjectId, new_id
from ports.errors import UnavailableError
from ports.outbox import OutboxMessage
from tests.polling import eventually


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


async def commit(db: MemoryDatabase, *events: DomainEvent, hook: CommitHook | None = None) -> None:
    async with MemoryUnitOfWork(db, on_commit=hook, system=True) as uow:
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
    async with MemoryUnitOfWork(db, on_commit=dispatcher, system=True) as uow:
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
    [
        {"batch_size": 0},
        {"max_attempts": 0},
        {"base_delay": -1},
        {"base_delay": 5, "max_delay": 1},
        {"lease": 0},
        {"lease": float("inf")},
    ],
)
def test_bad_relay_settings_are_rejected(kwargs: dict[str, Any]) -> None:
    """Out-of-range batch size, attempts, delays or lease raise ValueError naming it."""
    with pytest.raises(ValueError, match=r"batch_size|max_attempts|delays|lease"):
        OutboxRelay(MemoryOutbox(MemoryDatabase()), EventDispatcher([]), **kwargs)


# --------------------------------------------------------------------------- outages


class Unreachable(Recorder):
    """A handler whose server does not answer while ``failing`` is set."""

    async def __call__(self, event: DomainEvent) -> None:
        self.seen.append(event)
        if self.failing:
            raise UnavailableError("server down")


class Gate:
    """A ready() that says what it is told, and can close when a handler fails."""

    def __init__(self) -> None:
        self.open = True

    def __call__(self) -> bool:
        return self.open


async def test_an_outage_postpones_without_counting_attempts() -> None:
    """A handler whose server is down postpones its message as often as it takes, without
    a failed attempt: it is never set aside, and is delivered once the server answers."""
    db, handler, clock = MemoryDatabase(), Unreachable(), Clock()
    event = updated("x")
    await commit(db, event)
    relay = OutboxRelay(
        MemoryOutbox(db), EventDispatcher([handler]), max_attempts=2, base_delay=1, clock=clock
    )
    handler.failing = True

    for _ in range(5):
        assert (await relay.run_once()).postponed == 1
        clock.now += dt.timedelta(seconds=relay.max_delay + 1)
    (message,) = await MemoryOutbox(db).pending()
    handler.failing = False
    result = await relay.drain()

    assert (message.attempts, message.last_error) == (0, "UnavailableError: server down")
    assert result == RelayResult(delivered=1)
    assert await MemoryOutbox(db).pending() == []


async def test_the_wait_after_an_outage_grows_with_the_message_age_up_to_max_delay() -> None:
    """A fresh message is tried again after about base_delay, one that has waited long
    after at most max_delay."""
    db, handler, clock = MemoryDatabase(), Unreachable(), Clock()
    await commit(db, updated("x"))
    (message,) = await MemoryOutbox(db).pending()
    clock.now = message.created_at
    relay = OutboxRelay(
        MemoryOutbox(db), EventDispatcher([handler]), base_delay=1, max_delay=8, clock=clock
    )
    handler.failing = True

    async def wait_after_failing() -> float:
        """Seconds from now until the message is due again."""
        assert (await relay.run_once()).postponed == 1
        start = clock.now
        while not await MemoryOutbox(db).pending(now=clock.now):
            clock.now += dt.timedelta(milliseconds=50)
        return (clock.now - start).total_seconds()

    first = await wait_after_failing()
    clock.now += dt.timedelta(hours=1)
    later = await wait_after_failing()

    assert 0.5 <= first <= 1.05
    assert 4 <= later <= 8.05


async def test_an_outage_that_closes_the_gate_postpones_the_rest_of_the_batch() -> None:
    """When a failure makes ready() false (the cache's breaker opened), the rest of the
    batch is postponed without being tried, and no pass starts while it stays false."""
    db, gate = MemoryDatabase(), Gate()
    seen: list[DomainEvent] = []

    async def handler(event: DomainEvent) -> None:
        seen.append(event)
        gate.open = False
        raise UnavailableError("cache down")

    events = [updated(str(i)) for i in range(4)]
    await commit(db, *events)
    relay = OutboxRelay(MemoryOutbox(db), EventDispatcher([handler]), ready=gate)

    first = await relay.drain()
    again = await relay.drain()

    assert first == RelayResult(postponed=4)
    assert again == RelayResult()
    assert seen == events[:1]
    messages = await MemoryOutbox(db).pending()
    assert {(m.attempts, m.last_error) for m in messages} == {(0, "UnavailableError: cache down")}


async def test_a_claimed_message_is_not_delivered_by_a_second_relay() -> None:
    """Two relays over one outbox, their passes interleaved, deliver each message once."""
    db = MemoryDatabase()
    events: list[DomainEvent] = [updated(str(i)) for i in range(6)]
    await commit(db, *events)
    seen: list[DomainEvent] = []

    async def slow(event: DomainEvent) -> None:
        await asyncio.sleep(0)
        seen.append(event)

    relays = [
        OutboxRelay(MemoryOutbox(db), EventDispatcher([slow]), batch_size=2) for _ in range(2)
    ]
    results = await asyncio.gather(*(relay.drain() for relay in relays))

    assert sum(r.delivered for r in results) == 6
    assert sorted(seen, key=events.index) == events


# --------------------------------------------------------------------------- commit hook


class FlakyOutbox(MemoryOutbox):
    """A memory outbox whose every operation raises UnavailableError while ``down``."""

    def __init__(self, database: MemoryDatabase) -> None:
        super().__init__(database)
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise UnavailableError("database down")

    async def claim(
        self,
        *,
        limit: int = 100,
        now: dt.datetime,
        lease: float,
        max_attempts: int | None = None,
    ) -> list[OutboxMessage]:
        self._check()
        return await super().claim(limit=limit, now=now, lease=lease, max_attempts=max_attempts)

    async def mark_events_delivered(self, event_ids: Sequence[EventId]) -> int:
        self._check()
        return await super().mark_events_delivered(event_ids)


async def test_events_handled_on_commit_are_acknowledged_and_not_delivered_again() -> None:
    """The hook hands committed events to the handlers at once; once acknowledged they
    are delivered in the outbox, and the relay delivers none of them again."""
    db, recorder = MemoryDatabase(), Recorder()
    hook = DeliverOnCommit(EventDispatcher([recorder]), MemoryOutbox(db))
    events = [updated("a"), updated("b")]
    await commit(db, *events, hook=hook)

    assert recorder.seen == events
    assert hook.unacknowledged == 2
    assert await hook.acknowledge() == 2
    assert await OutboxRelay(MemoryOutbox(db), EventDispatcher([recorder])).drain() == (
        RelayResult()
    )
    assert recorder.seen == events


async def test_the_hook_leaves_failed_events_to_the_relay_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Events whose handling fails stay pending for the relay; the commits stand, nothing
    is raised, and a run of failures logs one warning."""
    db, handler = MemoryDatabase(), Unreachable()
    hook = DeliverOnCommit(EventDispatcher([handler]), MemoryOutbox(db))
    handler.failing = True
    with caplog.at_level(logging.DEBUG, logger="application.relay"):
        for label in ("a", "b", "c"):
            await commit(db, updated(label), hook=hook)

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "relay delivers it later" in warnings[0].getMessage()
    assert await hook.acknowledge() == 0
    handler.failing = False
    assert (await OutboxRelay(MemoryOutbox(db), EventDispatcher([handler])).drain()).delivered == 3


async def test_an_acknowledgement_that_fails_is_kept_for_the_next_one() -> None:
    """If the outbox is down when the hook's events are acknowledged, they are kept and
    acknowledged next time."""
    db = MemoryDatabase()
    outbox = FlakyOutbox(db)
    hook = DeliverOnCommit(EventDispatcher([Recorder()]), outbox)
    await commit(db, updated("a"), hook=hook)
    outbox.down = True

    with pytest.raises(UnavailableError):
        await hook.acknowledge()
    outbox.down = False

    assert hook.unacknowledged == 1
    assert await hook.acknowledge() == 1
    assert await outbox.pending() == []


# --------------------------------------------------------------------------- worker


def _worker_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "codeant-outbox-relay"]


async def test_the_worker_delivers_what_was_committed_without_a_hook_then_stops() -> None:
    """A started worker delivers events committed without a hook (as by a process that
    died after its commit), keeps doing so for later ones, and once stopped leaves no
    task behind."""
    db, recorder = MemoryDatabase(), Recorder()
    await commit(db, updated("before"))
    worker = RelayWorker(OutboxRelay(MemoryOutbox(db), EventDispatcher([recorder])), interval=0.01)

    worker.start()
    await eventually(lambda: _none_pending(db))
    await commit(db, updated("after"))
    await eventually(lambda: _none_pending(db))
    await worker.stop()

    assert len(recorder.seen) == 2 and worker.total.delivered == 2
    assert not worker.running and _worker_tasks() == []
    await worker.stop()  # a second stop is a no-op


async def _none_pending(db: MemoryDatabase) -> bool:
    return await MemoryOutbox(db).pending() == []


async def test_the_worker_acknowledges_hook_deliveries_at_once() -> None:
    """Events the commit hook delivered are marked delivered by the worker when the hook
    reports them, long before its next pass, and are not delivered twice."""
    db, recorder = MemoryDatabase(), Recorder()
    hook = DeliverOnCommit(EventDispatcher([recorder]), MemoryOutbox(db))
    worker = RelayWorker(
        OutboxRelay(MemoryOutbox(db), EventDispatcher([recorder])), interval=3600, hook=hook
    )
    worker.start()
    try:
        await commit(db, updated("x"), hook=hook)
        await eventually(lambda: _none_pending(db))
    finally:
        await worker.stop()

    assert len(recorder.seen) == 1 and hook.unacknowledged == 0


async def test_a_stop_cancels_a_pass_that_does_not_end() -> None:
    """A pass stuck in a handler is cancelled after stop_timeout; its message stays
    pending for the next relay."""
    db = MemoryDatabase()
    await commit(db, updated("stuck"))
    entered = asyncio.Event()

    async def stuck(event: DomainEvent) -> None:
        entered.set()
        await asyncio.Event().wait()

    worker = RelayWorker(
        OutboxRelay(MemoryOutbox(db), EventDispatcher([stuck])), interval=1, stop_timeout=0.05
    )
    worker.start()
    await entered.wait()
    await worker.stop()

    assert not worker.running and _worker_tasks() == []
    assert len(await MemoryOutbox(db).pending()) == 1


async def test_the_worker_outlives_an_outage_of_the_store_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While the outbox is down each pass fails; the worker logs one warning, keeps
    trying, and delivers once the outbox answers again."""
    db, recorder = MemoryDatabase(), Recorder()
    outbox = FlakyOutbox(db)
    outbox.down = True
    await commit(db, updated("x"))
    worker = RelayWorker(OutboxRelay(outbox, EventDispatcher([recorder])), interval=0.01)
    with caplog.at_level(logging.DEBUG, logger="application.relay"):
        worker.start()
        try:
            await eventually(lambda: _failed_passes(caplog, 3))
            outbox.down = False
            await eventually(lambda: _none_pending(db))
        finally:
            await worker.stop()

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "database down" in warnings[0].getMessage()
    assert "works again" in caplog.text


async def _failed_passes(caplog: pytest.LogCaptureFixture, count: int) -> bool:
    return sum("database down" in r.getMessage() for r in caplog.records) >= count


async def test_the_worker_skips_passes_while_not_ready() -> None:
    """While ready() is false the worker claims nothing; once true it delivers."""
    db, recorder, gate = MemoryDatabase(), Recorder(), Gate()
    gate.open = False
    await commit(db, updated("x"))
    worker = RelayWorker(
        OutboxRelay(MemoryOutbox(db), EventDispatcher([recorder]), ready=gate), interval=0.01
    )
    worker.start()
    try:
        for _ in range(5):
            await asyncio.sleep(0.02)
        assert recorder.seen == [] and worker.passes == 0
        gate.open = True
        await eventually(lambda: _none_pending(db))
    finally:
        await worker.stop()


async def test_a_worker_starts_once() -> None:
    """Starting a started worker is an error; a stopped one may start again."""
    worker = RelayWorker(OutboxRelay(MemoryOutbox(MemoryDatabase()), EventDispatcher([])))
    worker.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            worker.start()
    finally:
        await worker.stop()
    worker.start()
    await worker.stop()


@pytest.mark.parametrize(
    "kwargs", [{"interval": 0}, {"interval": float("nan")}, {"stop_timeout": -1}]
)
def test_bad_worker_settings_are_rejected(kwargs: dict[str, float]) -> None:
    """A non-positive interval or stop timeout raises ValueError naming it."""
    relay = OutboxRelay(MemoryOutbox(MemoryDatabase()), EventDispatcher([]))
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RelayWorker(relay, **kwargs)  # type: ignore[arg-type]
