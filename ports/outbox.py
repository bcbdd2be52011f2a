"""The outbox: domain events committed with the changes they describe, waiting to be
delivered to their handlers (cache invalidation, vector indexing)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Protocol

import attrs

from domain.events import DomainEvent

__all__ = ["Outbox", "OutboxMessage", "OutboxStats"]


@attrs.frozen(kw_only=True)
class OutboxMessage:
    id: uuid.UUID
    event: DomainEvent
    created_at: dt.datetime
    attempts: int = 0
    last_error: str | None = None


@attrs.frozen(kw_only=True)
class OutboxStats:
    """How the outbox stands: messages waiting (``failing`` of them have failed at least
    once), delivered ones kept, and when the oldest waiting one was written."""

    pending: int
    failing: int
    delivered: int
    oldest_pending_at: dt.datetime | None
    max_attempts: int


class Outbox(Protocol):
    """Read side of the outbox. Delivery is at least once: a message stays pending until
    marked delivered, so handlers must be idempotent."""

    async def pending(
        self,
        *,
        limit: int = 100,
        now: dt.datetime | None = None,
        max_attempts: int | None = None,
    ) -> list[OutboxMessage]:
        """Undelivered messages, oldest first: with ``now``, only those whose retry time
        has come; with ``max_attempts``, only those that failed fewer times."""
        ...

    async def mark_delivered(self, ids: Sequence[uuid.UUID]) -> int: ...
    async def mark_failed(
        self, id: uuid.UUID, error: str, *, retry_at: dt.datetime | None = None
    ) -> None:
        """Record a failed attempt; the message stays pending, not to be retried before
        ``retry_at`` (at once when None)."""
        ...

    async def stats(self) -> OutboxStats: ...
