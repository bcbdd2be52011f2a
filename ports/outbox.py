"""The outbox: domain events committed with the changes they describe, waiting to be
delivered to their handlers (cache invalidation, vector indexing)."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

import attrs

from domain.events import DomainEvent
from domain.ids import EventId
from ports.errors import ValidationError

__all__ = [
    "MAX_LEASE",
    "Outbox",
    "OutboxMessage",
    "OutboxStats",
    "check_before",
    "check_lease",
]

MAX_LEASE = 86_400.0
"""The longest lease a claim may take, in seconds."""


@attrs.frozen(kw_only=True)
class OutboxMessage:
    id: uuid.UUID
    event: DomainEvent
    created_at: dt.datetime
    attempts: int = 0
    last_error: str | None = None


@attrs.frozen(kw_only=True)
class OutboxStats:
    """How the outbox stands: messages waiting (``failing`` of them have failed or been
    postponed at least once), delivered ones kept, and when the oldest waiting one was
    written."""

    pending: int
    failing: int
    delivered: int
    oldest_pending_at: dt.datetime | None
    max_attempts: int


class Outbox(Protocol):
    """Read side of the outbox. Delivery is at least once: a message stays pending until
    marked delivered, so handlers must be idempotent.

    Relays take messages with :meth:`claim`, which several relays (in several processes)
    may call at once: a message is handed to one of them at a time, and whoever took it
    ends with :meth:`mark_delivered`, :meth:`mark_failed` or :meth:`postpone`. A relay that
    dies holding messages leaves them to the others once its lease is over.
    """

    async def pending(
        self,
        *,
        limit: int = 100,
        now: dt.datetime | None = None,
        max_attempts: int | None = None,
    ) -> list[OutboxMessage]:
        """Undelivered messages, oldest first: with ``now``, only those whose retry time
        has come; with ``max_attempts``, only those that failed fewer times. Reads only:
        the messages stay due for everyone."""
        ...

    async def claim(
        self,
        *,
        limit: int = 100,
        now: dt.datetime,
        lease: float,
        max_attempts: int | None = None,
    ) -> list[OutboxMessage]:
        """Take up to ``limit`` undelivered messages due at ``now``, oldest first, for
        delivery: each is due again, for every caller, only ``lease`` seconds after
        ``now``, so concurrent claims never return the same message. With
        ``max_attempts``, only messages that failed fewer times. A message whose stored
        event cannot be read is not returned; it counts as a failed attempt."""
        ...

    async def mark_delivered(self, ids: Sequence[uuid.UUID]) -> int:
        """Mark the messages with these ids delivered; returns how many were pending."""
        ...

    async def mark_events_delivered(self, event_ids: Sequence[EventId]) -> int:
        """Mark delivered the pending messages of these events (handled right after their
        commit); returns how many there were."""
        ...

    async def mark_failed(
        self, id: uuid.UUID, error: str, *, retry_at: dt.datetime | None = None
    ) -> None:
        """Record a failed attempt; the message stays pending, not to be retried before
        ``retry_at`` (at once when None)."""
        ...

    async def postpone(
        self, ids: Sequence[uuid.UUID], reason: str, *, retry_at: dt.datetime
    ) -> None:
        """Record that delivering these messages waits for something unavailable (a
        server that does not answer): they stay pending, not to be retried before
        ``retry_at``, with ``reason`` as their last error. Unlike :meth:`mark_failed` this
        is no failed attempt: an outage, however long, never sets a message aside."""
        ...

    async def stats(self) -> OutboxStats: ...

    async def purge_delivered(self, before: dt.datetime, *, dry_run: bool = False) -> int:
        """Delete the messages delivered before ``before`` (an aware datetime, else
        ValidationError) and return how many; pending messages, however old, stay. With
        ``dry_run``, only count them."""
        ...


def check_lease(lease: Any) -> float:
    """``lease`` if it is a number of seconds above 0 and at most :data:`MAX_LEASE`, else
    ValidationError: what every adapter checks before claiming."""
    if (
        not isinstance(lease, int | float)
        or isinstance(lease, bool)
        or not math.isfinite(lease)
        or not 0 < lease <= MAX_LEASE
    ):
        raise ValidationError(
            "lease",
            lease,
            f"must be a number of seconds above 0 and at most {MAX_LEASE:g}",
            entity="Outbox",
        )
    return float(lease)


def check_before(before: Any) -> dt.datetime:
    """``before`` if it is a timezone-aware datetime, else ValidationError: what every
    adapter checks before purging."""
    if (
        not isinstance(before, dt.datetime)
        or before.tzinfo is None
        or before.tzinfo.utcoffset(before) is None
    ):
        raise ValidationError(
            "before", before, "must be a timezone-aware datetime", entity="Outbox"
        )
    return before
