"""The outbox: domain events committed with the changes they describe, waiting to be
delivered to their handlers (cache invalidation, vector indexing)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Protocol

import attrs

from domain.events import DomainEvent

__all__ = ["Outbox", "OutboxMessage"]


@attrs.frozen(kw_only=True)
class OutboxMessage:
    id: uuid.UUID
    event: DomainEvent
    created_at: dt.datetime
    attempts: int = 0
    last_error: str | None = None


class Outbox(Protocol):
    """Read side of the outbox. Delivery is at least once: a message stays pending until
    marked delivered, so handlers must be idempotent."""

    async def pending(self, *, limit: int = 100) -> list[OutboxMessage]:
        """Undelivered messages, oldest first."""
        ...

    async def mark_delivered(self, ids: Sequence[uuid.UUID]) -> int: ...
    async def mark_failed(self, id: uuid.UUID, error: str) -> None:
        """Record a failed attempt; the message stays pending."""
        ...
