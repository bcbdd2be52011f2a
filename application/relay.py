"""Delivery of committed domain events to their handlers.

Handlers (cache invalidation, vector clean-up, ...) are idempotent async callables taking
one event. Events reach them twice over: right after commit, in the process that made
them (:class:`EventDispatcher` as a unit of work's commit hook, best effort), and from the
outbox by :class:`OutboxRelay`, which delivers every committed event at least once,
retrying failures with exponential backoff, so a crash or an outage between commit and
handling is repaired.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable, Sequence

import attrs

from domain.events import DomainEvent
from ports.outbox import Outbox

__all__ = ["EventDispatcher", "EventHandler", "OutboxRelay", "RelayResult"]

log = logging.getLogger(__name__)

EventHandler = Callable[[DomainEvent], Awaitable[None]]


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


@attrs.frozen(kw_only=True)
class RelayResult:
    """What one relay pass did: messages delivered, and attempts that failed."""

    delivered: int = 0
    failed: int = 0

    def __add__(self, other: RelayResult) -> RelayResult:
        return RelayResult(
            delivered=self.delivered + other.delivered, failed=self.failed + other.failed
        )


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OutboxRelay:
    """Delivers outbox messages to a dispatcher, at least once.

    A message whose delivery fails is retried after ``base_delay * 2**attempts`` seconds
    (capped at ``max_delay``, with jitter); after ``max_attempts`` failures it is left
    aside (``codeant outbox status`` shows it) until an operator retries it.
    """

    def __init__(
        self,
        outbox: Outbox,
        dispatcher: EventDispatcher,
        *,
        batch_size: int = 100,
        max_attempts: int = 10,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
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
        self._outbox = outbox
        self._dispatcher = dispatcher
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._clock = clock

    async def run_once(self) -> RelayResult:
        """Deliver one batch of the messages due now."""
        now = self._clock()
        messages = await self._outbox.pending(
            limit=self._batch_size, now=now, max_attempts=self._max_attempts
        )
        delivered = []
        failed = 0
        for message in messages:
            try:
                await self._dispatcher.dispatch(message.event)
            except Exception as exc:
                failed += 1
                delay = min(self._max_delay, self._base_delay * 2**message.attempts)
                retry_at = now + dt.timedelta(seconds=delay * random.uniform(0.5, 1.0))
                log.warning(
                    "delivering %s %s failed (attempt %d): %s",
                    message.event.name,
                    message.id,
                    message.attempts + 1,
                    exc,
                )
                await self._outbox.mark_failed(
                    message.id, f"{type(exc).__name__}: {exc}", retry_at=retry_at
                )
            else:
                delivered.append(message.id)
        if delivered:
            await self._outbox.mark_delivered(delivered)
        return RelayResult(delivered=len(delivered), failed=failed)

    async def drain(self) -> RelayResult:
        """Deliver batches until none is due (failed messages wait for their retry time)."""
        total = RelayResult()
        while True:
            result = await self.run_once()
            total += result
            if result.delivered + result.failed < self._batch_size:
                return total
