"""The PostgreSQL outbox: events written by units of work, read by the relay."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from adapters.common import MAX_OUTBOX_BATCH, check_limit
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.errors import translated
from adapters.serialization import event_from_dict, event_to_dict
from domain.events import DomainEvent
from ports.outbox import OutboxMessage, OutboxStats

__all__ = ["INSERT_EVENT", "PostgresOutbox", "event_params"]

INSERT_EVENT = (
    "INSERT INTO outbox_events (id, event_type, payload, created_at)"
    " VALUES (%(id)s, %(event_type)s, %(payload)s, %(created_at)s)"
)
PENDING = """
SELECT id, event_type, payload, created_at, attempts, last_error
FROM outbox_events
WHERE delivered_at IS NULL
  AND (%(now)s::timestamptz IS NULL OR available_at <= %(now)s)
  AND (%(max_attempts)s::int IS NULL OR attempts < %(max_attempts)s)
ORDER BY sequence
LIMIT %(limit)s
"""
MARK_DELIVERED = (
    "UPDATE outbox_events SET delivered_at = clock_timestamp()"
    " WHERE id = ANY(%(ids)s::uuid[]) AND delivered_at IS NULL"
)
MARK_FAILED = (
    "UPDATE outbox_events SET attempts = attempts + 1, last_error = %(error)s,"
    " available_at = COALESCE(%(retry_at)s, clock_timestamp())"
    " WHERE id = %(id)s"
)
STATS = """
SELECT count(*) FILTER (WHERE delivered_at IS NULL) AS pending,
       count(*) FILTER (WHERE delivered_at IS NULL AND attempts > 0) AS failing,
       count(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered,
       min(created_at) FILTER (WHERE delivered_at IS NULL) AS oldest_pending_at,
       COALESCE(max(attempts) FILTER (WHERE delivered_at IS NULL), 0) AS max_attempts
FROM outbox_events
"""


def event_params(event: DomainEvent) -> dict[str, Any]:
    envelope = event_to_dict(event)
    return {
        "id": uuid.uuid4(),
        "event_type": envelope["type"],
        "payload": Jsonb(envelope["data"]),
        "created_at": event.occurred_at,
    }


class PostgresOutbox:
    """Implements ports.outbox.Outbox; each call is its own short transaction."""

    def __init__(self, database: PostgresDatabase | AsyncConnectionPool[Any]) -> None:
        if not isinstance(database, PostgresDatabase):
            database = PostgresDatabase.from_pool(database)
        self._database = database

    async def pending(
        self,
        *,
        limit: int = 100,
        now: dt.datetime | None = None,
        max_attempts: int | None = None,
    ) -> list[OutboxMessage]:
        check_limit(limit, maximum=MAX_OUTBOX_BATCH)
        params = {"limit": limit, "now": now, "max_attempts": max_attempts}
        async with translated(), (await self._database.pool()).connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(PENDING, params)
            rows = await cur.fetchall()
        return [
            OutboxMessage(
                id=r["id"],
                event=event_from_dict({"type": r["event_type"], "data": r["payload"]}),
                created_at=r["created_at"],
                attempts=r["attempts"],
                last_error=r["last_error"],
            )
            for r in rows
        ]

    async def mark_delivered(self, ids: Sequence[uuid.UUID]) -> int:
        if not ids:
            return 0
        async with translated(), (await self._database.pool()).connection() as conn:
            cur = await conn.execute(MARK_DELIVERED, {"ids": list(ids)})
            return int(cur.rowcount)

    async def mark_failed(
        self, id: uuid.UUID, error: str, *, retry_at: dt.datetime | None = None
    ) -> None:
        params = {"id": id, "error": error, "retry_at": retry_at}
        async with translated(), (await self._database.pool()).connection() as conn:
            await conn.execute(MARK_FAILED, params)

    async def stats(self) -> OutboxStats:
        async with translated(), (await self._database.pool()).connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(STATS)
            row = await cur.fetchone()
        assert row is not None
        return OutboxStats(
            pending=int(row["pending"]),
            failing=int(row["failing"]),
            delivered=int(row["delivered"]),
            oldest_pending_at=row["oldest_pending_at"],
            max_attempts=int(row["max_attempts"]),
        )
