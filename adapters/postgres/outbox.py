"""The PostgreSQL outbox: events written by units of work, read by the relay.

Relays in several processes claim messages with one statement that locks the due rows it
takes and skips those another claim holds (``FOR UPDATE SKIP LOCKED``), and moves their
retry time past a lease in the same statement: once it commits, no other relay takes them
until they are marked (delivered, failed, postponed) or the lease is over.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from adapters.common import MAX_OUTBOX_BATCH, check_limit
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.errors import translated
from adapters.serialization import event_from_dict, event_to_dict
from domain.events import DomainEvent
from domain.ids import EventId
from ports.outbox import OutboxMessage, OutboxStats, check_before, check_lease

__all__ = ["INSERT_EVENT", "PostgresOutbox", "event_params"]

log = logging.getLogger(__name__)

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
CLAIM = """
WITH due AS (
    SELECT id
    FROM outbox_events
    WHERE delivered_at IS NULL
      AND available_at <= %(now)s
      AND (%(max_attempts)s::int IS NULL OR attempts < %(max_attempts)s)
    ORDER BY sequence
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE outbox_events AS o
SET available_at = %(now)s + make_interval(secs => %(lease)s)
FROM due
WHERE o.id = due.id
RETURNING o.id, o.event_type, o.payload, o.created_at, o.attempts, o.last_error, o.sequence
"""
MARK_DELIVERED = (
    "UPDATE outbox_events SET delivered_at = clock_timestamp()"
    " WHERE id = ANY(%(ids)s::uuid[]) AND delivered_at IS NULL"
)
MARK_EVENTS_DELIVERED = (
    "UPDATE outbox_events SET delivered_at = clock_timestamp()"
    " WHERE delivered_at IS NULL AND payload->>'event_id' = ANY(%(event_ids)s::text[])"
)
MARK_FAILED = (
    "UPDATE outbox_events SET attempts = attempts + 1, last_error = %(error)s,"
    " available_at = COALESCE(%(retry_at)s, clock_timestamp())"
    " WHERE id = %(id)s AND delivered_at IS NULL"
)
POSTPONE = (
    "UPDATE outbox_events SET last_error = %(reason)s, available_at = %(retry_at)s"
    " WHERE id = ANY(%(ids)s::uuid[]) AND delivered_at IS NULL"
)
PURGE_DELIVERED = (
    "DELETE FROM outbox_events WHERE delivered_at IS NOT NULL AND delivered_at < %(before)s"
)
COUNT_DELIVERED = (
    "SELECT count(*) AS n FROM outbox_events"
    " WHERE delivered_at IS NOT NULL AND delivered_at < %(before)s"
)
STATS = """
SELECT count(*) FILTER (WHERE delivered_at IS NULL) AS pending,
       count(*) FILTER (
           WHERE delivered_at IS NULL AND (attempts > 0 OR last_error IS NOT NULL)
       ) AS failing,
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
    """Implements ports.outbox.Outbox; each call is its own short transaction. A stored
    event this version cannot read (a type it does not know) is left out of what
    :meth:`pending` and :meth:`claim` return, with a warning; each claim that meets it
    counts a failed attempt naming the problem, so it is left aside after as many as the
    relay allows, instead of stopping the relay."""

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
        messages = []
        for row in rows:
            try:
                messages.append(_message(row))
            except Exception as exc:  # left out, as claim leaves it out
                log.warning("outbox message %s: %s", row["id"], _unreadable(row, exc))
        return messages

    async def claim(
        self,
        *,
        limit: int = 100,
        now: dt.datetime,
        lease: float,
        max_attempts: int | None = None,
    ) -> list[OutboxMessage]:
        check_limit(limit, maximum=MAX_OUTBOX_BATCH)
        seconds = check_lease(lease)
        params = {"limit": limit, "now": now, "lease": seconds, "max_attempts": max_attempts}
        messages: list[OutboxMessage] = []
        async with translated(), (await self._database.pool()).connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(CLAIM, params)
            rows = sorted(await cur.fetchall(), key=lambda row: row["sequence"])
            for row in rows:
                try:
                    messages.append(_message(row))
                except Exception as exc:  # a row this version cannot read: never wedge
                    error = _unreadable(row, exc)
                    log.warning("outbox message %s: %s", row["id"], error)
                    retry_at = now + dt.timedelta(seconds=seconds)
                    await conn.execute(
                        MARK_FAILED, {"id": row["id"], "error": error, "retry_at": retry_at}
                    )
        return messages

    async def mark_delivered(self, ids: Sequence[uuid.UUID]) -> int:
        if not ids:
            return 0
        async with translated(), (await self._database.pool()).connection() as conn:
            cur = await conn.execute(MARK_DELIVERED, {"ids": list(ids)})
            return int(cur.rowcount)

    async def mark_events_delivered(self, event_ids: Sequence[EventId]) -> int:
        if not event_ids:
            return 0
        params = {"event_ids": [str(event_id) for event_id in event_ids]}
        async with translated(), (await self._database.pool()).connection() as conn:
            cur = await conn.execute(MARK_EVENTS_DELIVERED, params)
            return int(cur.rowcount)

    async def mark_failed(
        self, id: uuid.UUID, error: str, *, retry_at: dt.datetime | None = None
    ) -> None:
        params = {"id": id, "error": error, "retry_at": retry_at}
        async with translated(), (await self._database.pool()).connection() as conn:
            await conn.execute(MARK_FAILED, params)

    async def postpone(
        self, ids: Sequence[uuid.UUID], reason: str, *, retry_at: dt.datetime
    ) -> None:
        if not ids:
            return
        params = {"ids": list(ids), "reason": reason, "retry_at": retry_at}
        async with translated(), (await self._database.pool()).connection() as conn:
            await conn.execute(POSTPONE, params)

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

    async def purge_delivered(self, before: dt.datetime, *, dry_run: bool = False) -> int:
        params = {"before": check_before(before)}
        async with translated(), (await self._database.pool()).connection() as conn:
            if dry_run:
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(COUNT_DELIVERED, params)
                row = await cur.fetchone()
                assert row is not None
                return int(row["n"])
            cur = await conn.execute(PURGE_DELIVERED, params)
            return int(cur.rowcount)


def _unreadable(row: Mapping[str, Any], exc: Exception) -> str:
    return f"the stored {row['event_type']} event cannot be read: {exc}"


def _message(row: Mapping[str, Any]) -> OutboxMessage:
    return OutboxMessage(
        id=row["id"],
        event=event_from_dict({"type": row["event_type"], "data": row["payload"]}),
        created_at=row["created_at"],
        attempts=row["attempts"],
        last_error=row["last_error"],
    )
