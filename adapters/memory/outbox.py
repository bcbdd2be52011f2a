"""The in-memory outbox: events committed to a :class:`MemoryDatabase`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from adapters.memory._query import check_limit
from adapters.memory.database import MemoryDatabase
from ports.outbox import OutboxMessage

__all__ = ["MemoryOutbox"]


class MemoryOutbox:
    """Implements ports.outbox.Outbox over the events committed to ``database``."""

    def __init__(self, database: MemoryDatabase) -> None:
        self._db = database

    async def pending(self, *, limit: int = 100) -> list[OutboxMessage]:
        check_limit(limit, maximum=10_000)
        records = [r for r in self._db.outbox if r.delivered_at is None]
        records.sort(key=lambda r: (r.created_at, r.sequence))
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

    async def mark_failed(self, id: uuid.UUID, error: str) -> None:
        for record in self._db.outbox:
            if record.id == id:
                record.attempts += 1
                record.last_error = error
                return
