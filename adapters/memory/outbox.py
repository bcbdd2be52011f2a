"""The in-memory outbox: events committed to a :class:`MemoryDatabase`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from adapters.common import MAX_OUTBOX_BATCH, check_limit
from adapters.memory.database import MemoryDatabase, OutboxRecord
from ports.outbox import OutboxMessage, OutboxStats

__all__ = ["MemoryOutbox"]


class MemoryOutbox:
    """Implements ports.outbox.Outbox over the events committed to ``database``."""

    def __init__(self, database: MemoryDatabase) -> None:
        self._db = database

    def _waiting(self) -> list[OutboxRecord]:
        records = [r for r in self._db.outbox if r.delivered_at is None]
        records.sort(key=lambda r: (r.created_at, r.sequence))
        return records

    async def pending(
        self,
        *,
        limit: int = 100,
        now: dt.datetime | None = None,
        max_attempts: int | None = None,
    ) -> list[OutboxMessage]:
        check_limit(limit, maximum=MAX_OUTBOX_BATCH)
        records = [
            r
            for r in self._waiting()
            if (now is None or r.available_at is None or r.available_at <= now)
            and (max_attempts is None or r.attempts < max_attempts)
        ]
        return [
            OutboxMessage(
                id=r.id,
                event=r.event,
                created_at=r.created_at,
                attempts=r.attempts,
                last_error=r.last_error,
            )
            for r in records[:limit]
        ]

    async def mark_delivered(self, ids: Sequence[uuid.UUID]) -> int:
        wanted = set(ids)
        now = self._db.now()
        count = 0
        for record in self._db.outbox:
            if record.id in wanted and record.delivered_at is None:
                record.delivered_at = now
                count += 1
        return count

    async def mark_failed(
        self, id: uuid.UUID, error: str, *, retry_at: dt.datetime | None = None
    ) -> None:
        for record in self._db.outbox:
            if record.id == id:
                record.attempts += 1
                record.last_error = error
                record.available_at = retry_at
                return

    async def stats(self) -> OutboxStats:
        waiting = self._waiting()
        return OutboxStats(
            pending=len(waiting),
            failing=sum(1 for r in waiting if r.attempts),
            delivered=len(self._db.outbox) - len(waiting),
            oldest_pending_at=waiting[0].created_at if waiting else None,
            max_attempts=max((r.attempts for r in waiting), default=0),
        )
