"""Delivery of committed domain events to their handlers.

Handlers (cache invalidation, vector clean-up, ...) are idempotent async callables taking
one event. Events reach them by two paths:

- **Right after commit**, in the process that made them. :class:`DeliverOnCommit` is the
  units of work's commit hook: it hands each event to the handlers before the service
  returns, so a change is invalidated before its writer reads again, and remembers the
  events it delivered. :meth:`DeliverOnCommit.acknowledge` marks those delivered in the
  outbox later, in one statement on a connection of its own (while the hook runs, the
  committing unit still holds its connection: marking there could wait on a pool that
  committing units have exhausted).
- **From the outbox**, by :class:`OutboxRelay`, for what the first path did not deliver:
  the process died between its commit and its hook, a handler failed, a server was down.
  Every committed event is delivered at least once.

Failures. A handler that raises :class:`~ports.errors.UnavailableError` (a server that does
not answer) postpones its message: it is tried again after as long as it has waited so
far, at least ``base_delay`` and at most ``max_delay`` seconds, and it is never set aside,
however long the outage lasts. Any other exception is a failed attempt: tried again after
``base_delay * 2**attempts`` seconds (at most ``max_delay``), and after ``max_attempts`` the
message is left aside for an operator (``codeant outbox status`` counts it).

Several relays. Relays in several processes share the outbox through
:meth:`~ports.outbox.Outbox.claim`: a message is handed to one relay at a time (for a
lease of ``lease`` seconds, after which a relay that died holding it leaves it to the
others), and its retry time holds for every relay, so no two relays deliver a message at
once nor hammer one that fails.

:class:`RelayWorker` runs a relay in the background of an asyncio program: a pass every
``interval`` seconds, skipped while ``ready`` says the handlers' server is known to be
down, and the commit hook's acknowledgements as soon as there are some.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import math
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence

import attrs

from domain.events import DomainEvent
from domain.ids import EventId
from ports.errors import UnavailableError
from ports.outbox import Outbox, OutboxMessage

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_MAX_DELAY",
    "DeliverOnCommit",
    "EventDispatcher",
    "EventHandler",
    "OutboxRelay",
    "RelayResult",
    "RelayWorker",
]

log = logging.getLogger(__name__)

EventHandler = Callable[[DomainEvent], Awaitable[None]]

DEFAULT_MAX_DELAY = 5.0
"""The longest wait, in seconds, before a message is tried again."""

DEFAULT_LEASE = 30.0
"""How long, in seconds, a relay holds the messages it claimed before others may take them."""


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class EventDispatcher:
    """Runs every handler on every event, in order; the first failure propagates."""

    def __init__(self, handlers: Sequence[EventHandler]) -> None:
        self._handlers = tuple(handlers)

    async def dispatch(self, event: DomainEvent) -> None:
        for handler in self._handlers:
            await handler(event)

    async def __call__(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            await self.dispatch(event)


class _Streak:
    """Logs the first failure of a run of failures as a warning, the rest at debug level,
    and the end of the run: one warning per outage, not one per failure."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failing = False

    def failed(self, message: str, *args: object) -> None:
        level = logging.DEBUG if self.failing else logging.WARNING
        self.failing = True
        log.log(level, message, *args)

    def succeeded(self) -> None:
        if self.failing:
            self.failing = False
            log.info("%s works again", self.what)


# --------------------------------------------------------------------------- commit hook


class DeliverOnCommit:
    """The commit hook of units of work (see the module's documentation).

    Each committed event goes to ``dispatcher`` at once; one that fails is left in the
    outbox for the relay (one warning per run of failures, never an exception: the commit
    stands). Delivered events are remembered, at most ``max_remembered`` of them (beyond,
    the oldest are forgotten and the relay delivers them again), until
    :meth:`acknowledge` marks them delivered in ``outbox``.
    """

    def __init__(
        self,
        dispatcher: EventDispatcher,
        outbox: Outbox,
        *,
        max_remembered: int = 10_000,
    ) -> None:
        if not isinstance(max_remembered, int) or max_remembered < 1:
            raise ValueError(f"max_remembered must be a positive integer, got {max_remembered!r}")
        self._dispatcher = dispatcher
        self._outbox = outbox
        self._delivered: collections.deque[EventId] = collections.deque(maxlen=max_remembered)
        self._listeners: list[Callable[[], None]] = []
        self._streak = _Streak("handling committed events")

    @property
    def unacknowledged(self) -> int:
        """How many delivered events wait to be marked delivered in the outbox."""
        return len(self._delivered)

    async def __call__(self, events: Sequence[DomainEvent]) -> None:
        delivered = False
        for event in events:
            try:
                await self._dispatcher.dispatch(event)
            except Exception as exc:
                self._streak.failed(
                    "handling a committed %s failed, the outbox relay delivers it later: %s",
                    event.name,
                    _reason(exc),
                )
            else:
                self._streak.succeeded()
                self._delivered.append(event.event_id)
                delivered = True
        if delivered:
            for listener in tuple(self._listeners):
                listener()

    async def acknowledge(self) -> int:
        """Mark the remembered events delivered in the outbox; returns how many were still
        pending there. If the outbox fails they are remembered again and the error
        propagates."""
        if not self._delivered:
            return 0
        event_ids = list(self._delivered)
        self._delivered.clear()
        try:
            return await self._outbox.mark_events_delivered(event_ids)
        except BaseException:
            self._delivered.extendleft(reversed(event_ids))
            raise

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (without arguments) whenever events were delivered."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)


# --------------------------------------------------------------------------- relay


@attrs.frozen(kw_only=True)
class RelayResult:
    """What relay passes did: messages delivered, attempts that failed, and messages
    postponed because a server they need did not answer."""

    delivered: int = 0
    failed: int = 0
    postponed: int = 0

    def __add__(self, other: RelayResult) -> RelayResult:
        return RelayResult(
            delivered=self.delivered + other.delivered,
            failed=self.failed + other.failed,
            postponed=self.postponed + other.postponed,
        )


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _always_ready() -> bool:
    return True


class OutboxRelay:
    """Delivers outbox messages to a dispatcher, at least once (see the module's
    documentation for retries and for several relays at once).

    ``ready`` tells whether the handlers' server is thought to answer (a circuit breaker's
    :meth:`~application.breaker.CircuitBreaker.ready`): a pass does not start while it says
    no, and a pass that meets an outage that makes it say no postpones the rest of its
    batch at once. ``clock`` is the time source of retry times. Raises ValueError on a
    setting out of range.
    """

    def __init__(
        self,
        outbox: Outbox,
        dispatcher: EventDispatcher,
        *,
        batch_size: int = 100,
        max_attempts: int = 10,
        base_delay: float = 1.0,
        max_delay: float = DEFAULT_MAX_DELAY,
        lease: float = DEFAULT_LEASE,
        ready: Callable[[], bool] = _always_ready,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        if not 1 <= batch_size <= 10_000:
            raise ValueError(f"batch_size must be from 1 to 10000 (got {batch_size})")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1 (got {max_attempts})")
        if base_delay < 0 or max_delay < base_delay:
            raise ValueError(
                f"delays must satisfy 0 <= base_delay <= max_delay (got {base_delay}, {max_delay})"
            )
        if not (isinstance(lease, int | float) and math.isfinite(lease) and lease > 0):
            raise ValueError(f"lease must be a positive number of seconds (got {lease!r})")
        self._outbox = outbox
        self._dispatcher = dispatcher
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._lease = float(lease)
        self._ready = ready
        self._clock = clock
        self._streak = _Streak("delivering outbox events")

    @property
    def max_delay(self) -> float:
        return self._max_delay

    def ready(self) -> bool:
        """Whether a pass would start now (see ``ready``)."""
        return self._ready()

    async def run_once(self) -> RelayResult:
        """Deliver one batch of the messages due now."""
        result, _ = await self._pass()
        return result

    async def drain(self) -> RelayResult:
        """Deliver batches until none is due (failed and postponed messages wait for their
        retry time), or until a pass finds the handlers' server down."""
        total = RelayResult()
        while True:
            result, more = await self._pass()
            total += result
            if not more:
                return total

    async def _pass(self) -> tuple[RelayResult, bool]:
        """One batch; and whether another may be due at once."""
        if not self._ready():
            return RelayResult(), False
        messages = await self._outbox.claim(
            limit=self._batch_size,
            now=self._clock(),
            lease=self._lease,
            max_attempts=self._max_attempts,
        )
        delivered: list[uuid.UUID] = []
        failed = postponed = 0
        cut_short = False
        for index, message in enumerate(messages):
            try:
                await self._dispatcher.dispatch(message.event)
            except UnavailableError as exc:
                # the rest of the batch waits too if the outage closed the handlers' server
                cut_short = not self._ready()
                waiting = messages[index:] if cut_short else [message]
                await self._postpone(waiting, exc)
                postponed += len(waiting)
                if cut_short:
                    break
            except Exception as exc:
                failed += 1
                await self._fail(message, exc)
            else:
                self._streak.succeeded()
                delivered.append(message.id)
        if delivered:
            await self._outbox.mark_delivered(delivered)
        result = RelayResult(delivered=len(delivered), failed=failed, postponed=postponed)
        return result, len(messages) == self._batch_size and not cut_short

    async def _postpone(self, messages: Sequence[OutboxMessage], exc: Exception) -> None:
        now = self._clock()
        waited = (now - messages[0].created_at).total_seconds()
        delay = min(self._max_delay, max(self._base_delay, waited))
        retry_at = now + dt.timedelta(seconds=delay * random.uniform(0.5, 1.0))
        self._streak.failed(
            "delivering outbox events waits for a server that does not answer; retrying "
            "every %g s at most until it does: %s",
            self._max_delay,
            _reason(exc),
        )
        await self._outbox.postpone([m.id for m in messages], _reason(exc), retry_at=retry_at)

    async def _fail(self, message: OutboxMessage, exc: Exception) -> None:
        now = self._clock()
        delay = min(self._max_delay, self._base_delay * 2**message.attempts)
        retry_at = now + dt.timedelta(seconds=delay * random.uniform(0.5, 1.0))
        log.warning(
            "delivering %s %s failed (attempt %d of %d): %s",
            message.event.name,
            message.id,
            message.attempts + 1,
            self._max_attempts,
            _reason(exc),
        )
        await self._outbox.mark_failed(message.id, _reason(exc), retry_at=retry_at)


# --------------------------------------------------------------------------- worker


class RelayWorker:
    """Runs ``relay`` in the background of an asyncio program.

    :meth:`start` starts a task that drains the relay at once and then every ``interval``
    seconds (a pass is skipped while the relay is not ready), and marks the events
    ``hook`` delivered as soon as it reports some. A pass that fails (the store is down)
    is logged once per outage and tried again at the next interval. :meth:`stop` ends the
    task: the pass under way may finish within ``stop_timeout`` seconds, else it is
    cancelled (its messages go to the relays that claim them after their lease).
    ``total`` adds up what the passes did. Raises ValueError on a setting out of range.
    """

    def __init__(
        self,
        relay: OutboxRelay,
        *,
        interval: float = 1.0,
        hook: DeliverOnCommit | None = None,
        stop_timeout: float = 5.0,
    ) -> None:
        for name, value in (("interval", interval), ("stop_timeout", stop_timeout)):
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        self._relay = relay
        self._interval = float(interval)
        self._hook = hook
        self._stop_timeout = float(stop_timeout)
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._pass_streak = _Streak("the outbox relay")
        self._ack_streak = _Streak("marking delivered events")
        self.total = RelayResult()
        self.passes = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the background task (in the running event loop). RuntimeError if it was
        started already."""
        if self._task is not None:
            raise RuntimeError("the relay worker is already started")
        self._stopping = False
        self._wake = asyncio.Event()
        if self._hook is not None:
            self._hook.subscribe(self._wake.set)
        self._task = asyncio.get_running_loop().create_task(
            self._run(self._wake), name="codeant-outbox-relay"
        )

    async def stop(self) -> None:
        """Stop the background task and wait for it to end (a no-op if it is not started)."""
        task, wake = self._task, self._wake
        if task is None or wake is None:
            return
        self._stopping = True
        wake.set()
        if self._hook is not None:
            self._hook.unsubscribe(wake.set)
        try:
            await asyncio.wait({task}, timeout=self._stop_timeout)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
            self._task = self._wake = None
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("the outbox relay ended with an error: %s", _reason(error))

    async def _run(self, wake: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_pass = loop.time()
        while not self._stopping:
            wake.clear()
            await self._guarded(self._acknowledge, self._ack_streak)
            if loop.time() >= next_pass:
                await self._guarded(self._drain, self._pass_streak)
                next_pass = loop.time() + self._interval
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), max(0.0, next_pass - loop.time()))

    async def _acknowledge(self) -> None:
        if self._hook is not None:
            await self._hook.acknowledge()

    async def _drain(self) -> None:
        if self._relay.ready():
            self.total += await self._relay.drain()
            self.passes += 1

    async def _guarded(self, step: Callable[[], Awaitable[None]], streak: _Streak) -> None:
        try:
            await step()
        except Exception as exc:
            streak.failed("%s failed, trying again: %s", streak.what, _reason(exc))
        else:
            streak.succeeded()
