"""The outbox relay on PostgreSQL, and ``codeant outbox`` against it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from adapters.cli.main import main
from adapters.postgres import MigrationRunner, PostgresOutbox, PostgresUnitOfWork, open_pool
from application.relay import DeliverOnCommit, EventDispatcher, OutboxRelay
from domain.events import DomainEvent, ProjectUpdated
from domain.ids import OrganizationId, ProjectId, new_id
from tests.integration.redis_process import free_port
from tests.servers import scratch_database


@pytest.fixture
def database(postgres_server_url: str) -> Iterator[str]:
    with scratch_database(postgres_server_url, prefix="codeant_relay") as url:
        MigrationRunner(url).upgrade()
        yield url


@pytest.fixture
async def pool(database: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    async with open_pool(database) as pool:
        yield pool


def updated() -> ProjectUpdated:
    return ProjectUpdated(project_id=ProjectId(new_id()), organization_id=OrganizationId(new_id()))


async def test_events_committed_without_handling_are_delivered_by_the_relay(
    pool: AsyncConnectionPool[Any], database: str
) -> None:
    """Events committed by a process that never handled them (no commit hook, as after a
    crash) are delivered by the relay, in order, and marked delivered in the table."""
    events = [updated() for _ in range(3)]
    async with PostgresUnitOfWork(pool, system=True) as uow:
        for event in events:
            uow.add_event(event)
        await uow.commit()
    seen: list[DomainEvent] = []

    async def record(event: DomainEvent) -> None:
        seen.append(event)

    result = await OutboxRelay(PostgresOutbox(pool), EventDispatcher([record])).drain()

    assert result.delivered == 3 and seen == events
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT count(*) FILTER (WHERE delivered_at IS NOT NULL) FROM outbox_events"
        ).fetchone()
    assert rows == (3,)


async def test_a_commit_hook_runs_after_the_commit(pool: AsyncConnectionPool[Any]) -> None:
    """The hook given to the unit of work sees the events once the commit succeeded."""
    seen: list[DomainEvent] = []

    async def hook(events: Any) -> None:
        seen.extend(events)

    event = updated()
    async with PostgresUnitOfWork(pool, on_commit=hook, system=True) as uow:
        uow.add_event(event)
        assert seen == []
        await uow.commit()
    assert seen == [event]


async def test_an_unreadable_message_is_set_aside_without_wedging_the_relay(
    pool: AsyncConnectionPool[Any], database: str
) -> None:
    """A stored event this version cannot read (an unknown type) is not handed out; each
    claim counts a failed attempt naming it, the relay delivers the others, and after
    max_attempts the message is left aside."""
    with psycopg.connect(database) as conn:
        conn.execute("INSERT INTO outbox_events (event_type, payload) VALUES ('NoSuchEvent', '{}')")
    good = updated()
    async with PostgresUnitOfWork(pool, system=True) as uow:
        uow.add_event(good)
        await uow.commit()
    seen: list[DomainEvent] = []

    async def record(event: DomainEvent) -> None:
        seen.append(event)

    relay = OutboxRelay(PostgresOutbox(pool), EventDispatcher([record]), max_attempts=1)
    result = await relay.drain()
    again = await relay.drain()

    assert (result.delivered, seen) == (1, [good])
    assert again.delivered == 0
    stats = await PostgresOutbox(pool).stats()
    assert (stats.pending, stats.failing, stats.max_attempts) == (1, 1, 1)
    assert await PostgresOutbox(pool).pending() == []
    with psycopg.connect(database) as conn:
        [(error,)] = conn.execute(
            "SELECT last_error FROM outbox_events WHERE delivered_at IS NULL"
        ).fetchall()
    assert "NoSuchEvent event cannot be read" in error


async def test_relays_on_separate_pools_share_one_failing_message(database: str) -> None:
    """Two relays, each on a pool of its own (as in two processes), running at once over a
    message whose handler fails: it is tried once, and its retry time holds for both."""
    calls: list[DomainEvent] = []

    async def failing(event: DomainEvent) -> None:
        calls.append(event)
        await asyncio.sleep(0.05)
        raise RuntimeError("handler bug")

    async with open_pool(database) as first, open_pool(database) as second:
        async with PostgresUnitOfWork(first, system=True) as uow:
            uow.add_event(updated())
            await uow.commit()
        relays = [
            OutboxRelay(PostgresOutbox(p), EventDispatcher([failing]), base_delay=60, max_delay=60)
            for p in (first, second)
        ]
        results = await asyncio.gather(*(relay.drain() for relay in relays))
        again = await asyncio.gather(*(relay.drain() for relay in relays))
        [message] = await PostgresOutbox(first).pending()

    assert sum(r.failed for r in results) == 1 and len(calls) == 1
    assert sum(r.failed for r in again) == 0
    assert (message.attempts, message.last_error) == (1, "RuntimeError: handler bug")


async def test_the_commit_hook_acknowledges_its_events_in_the_table(
    pool: AsyncConnectionPool[Any], database: str
) -> None:
    """Events the commit hook handled are marked delivered by its acknowledgement (found
    by their event ids), so a relay delivers none of them again."""
    seen: list[DomainEvent] = []

    async def record(event: DomainEvent) -> None:
        seen.append(event)

    outbox = PostgresOutbox(pool)
    hook = DeliverOnCommit(EventDispatcher([record]), outbox)
    async with PostgresUnitOfWork(pool, on_commit=hook, system=True) as uow:
        uow.add_event(updated())
        uow.add_event(updated())
        await uow.commit()

    assert await hook.acknowledge() == 2
    assert (await OutboxRelay(outbox, EventDispatcher([record])).drain()).delivered == 0
    assert len(seen) == 2
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM outbox_events WHERE delivered_at IS NOT NULL"
        ).fetchone()
    assert rows == (2,)


def test_outbox_commands_report_and_drain(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """codeant outbox status counts waiting events and relay delivers them."""
    with psycopg.connect(database) as conn:
        conn.execute(
            "INSERT INTO outbox_events (event_type, payload) VALUES (%s, %s)",
            ("ProjectUpdated", json.dumps(
                {"project_id": str(new_id()), "organization_id": str(new_id()), "changed": []}
            )),
        )  # fmt: skip
    config = tmp_path / "empty.toml"
    config.write_text("")
    environ = {"HOME": str(tmp_path), "CODEANT_CONFIG": str(config),
               "CODEANT_DATABASE_URL": database}  # fmt: skip
    assert main(["outbox", "status", "--json"], environ=environ) == 0
    assert json.loads(capsys.readouterr().out)["pending"] == 1
    assert main(["outbox", "relay", "--json"], environ=environ) == 0
    assert json.loads(capsys.readouterr().out) == {"delivered": 1, "failed": 0, "postponed": 0}
    assert main(["outbox", "status", "--json"], environ=environ) == 0
    assert json.loads(capsys.readouterr().out)["pending"] == 0


def test_outbox_relay_postpones_while_the_cache_is_down(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the configured Redis down, codeant outbox relay postpones the waiting event
    (no failed attempt: it is never set aside) and says so; status counts it failing."""
    with psycopg.connect(database) as conn:
        conn.execute(
            "INSERT INTO outbox_events (event_type, payload) VALUES (%s, %s)",
            ("ProjectUpdated", json.dumps(
                {"project_id": str(new_id()), "organization_id": str(new_id()), "changed": []}
            )),
        )  # fmt: skip
    config = tmp_path / "empty.toml"
    config.write_text("")
    environ = {"HOME": str(tmp_path), "CODEANT_CONFIG": str(config),
               "CODEANT_DATABASE_URL": database,
               "CODEANT_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}  # fmt: skip

    assert main(["outbox", "relay", "--json"], environ=environ) == 0
    assert json.loads(capsys.readouterr().out) == {"delivered": 0, "failed": 0, "postponed": 1}
    assert main(["outbox", "status", "--json"], environ=environ) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["pending"], status["failing"], status["max_attempts"]) == (1, 1, 0)
