"""The in-memory outbox: events committed to a :class:`MemoryDatabase`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence

from adapters.common import MAX_OUTBOX_BATCH, check_limit
from adapters.memory.database import MemoryDatabase, OutboxRecord
from domain.ids import EventId
from ports.outbox import OutboxMessage, OutboxStats, check_before, check_lease

__all__ = ["MemoryOutbox"]


class MemoryOutbox:
    """Implements ports.outbox.Outbox over the events committed to ``database``.

    Every call runs without awaiting, so a claim is atomic for concurrent tasks."""

    def __init__(self, database: MemoryDatabase) -> None:
        self._db = database

    def _waiting(self) -> list[OutboxRecord]:
        records = [r for r in self._db.outbox if r.delivered_at is None]
        records.sort(key=lambda r: (r.created_at, r.sequence))
        return records

    def _due(self, now: dt.datetime | None, max_attempts: int | None) -> Iterable[OutboxRecord]:
        return (
            r
            for r in self._waiting()
            if (now is None or r.available_at is None or r.available_at <= now)
            and (max_attempts is None or r.attempts < max_attempts)
        )

    async def pending(
        self,
        *,
        limit: int = 100,
        now: dt.datetime | None = None,
        max_attempts: int | None = None,
    ) -> list[OutboxMessage]:
        check_limit(limit, maximum=MAX_OUTBOX_BATCH)
        return [_message(r) for r in list(self._due(now, max_attempts))[:limit]]

    async def claim(
        self,
        *,
        limit: int = 100,
        now: dt.datetime,
        lease: float,
        max_attempts: int | None = None,
    ) -> list[OutboxMessage]:
        check_limit(limit, maximum=MAX_OUTBOX_BATCH)
        until = now + dt.timedelta(seconds=check_lease(lease))
        taken = list(self._due(now, max_attempts))[:limit]
        for record in taken:
            record.available_at = until
        return [_message(r) for r in taken]

    async def mark_delivered(self, ids: Sequence[uuid.UUID]) -> int:
        wanted = set(ids)
        return self._deliver(r for r in self._db.outbox if r.id in wanted)

    async def mark_events_delivered(self, event_ids: Sequence[EventId]) -> int:
        wanted = set(event_ids)
        return self._deliver(r for r in self._db.outbox if r.event.event_id in wanted)

    def _deliver(self, records: Iterable[OutboxRecord]) -> int:
        now = self._db.now()
        count = 0
        for record in records:
            if record.delivered_at is None:
                record.delivered_at = now
                count += 1
        return count

    async def mark_failed(
        self, id: uuid.UUID, error: str, *, retry_at: dt.datetime | None = None
    ) -> None:
        for record in self._db.outbox:
            if record.id == id and record.delivered_at is None:
                record.attempts += 1
                record.last_error = error
                record.available_at = retry_at
                return

    async def postpone(
        self, ids: Sequence[uuid.UUID], reason: str, *, retry_at: dt.datetime
    ) -> None:
        wanted = set(ids)
        for record in self._db.outbox:
            if record.id in wanted and record.delivered_at is None:
                record.last_error = reason
                record.available_at = retry_at

    async def stats(self) -> OutboxStats:
        waiting = self._waiting()
        return OutboxStats(
            pending=len(waiting),
            failing=sum(1 for r in waiting if r.attempts or r.last_error is not None),
            delivered=len(self._db.outbox) - len(waiting),
            oldest_pending_at=waiting[0].created_at if waiting else None,
            max_attempts=max((r.attempts for r in waiting), default=0),
        )

    async def purge_delivered(self, before: dt.datetime, *, dry_run: bool = False) -> int:
        before = check_before(before)
        gone = [
            r for r in self._db.outbox if r.delivered_at is not None and r.delivered_at < before
        ]
        if gone and not dry_run:
            ids = {r.id for r in gone}
            self._db.outbox[:] = [r for r in self._db.outbox if r.id not in ids]
        return len(gone)


def _message(record: OutboxRecord) -> OutboxMessage:
    return OutboxMessage(
        id=record.id,
        event=record.event,
        created_at=record.created_at,
        attempts=record.attempts,
        last_error=record.last_error,
    )
