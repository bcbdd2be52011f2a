"""Row locks of the in-memory store: waiters get the lock in turn, and a waiter that is
cancelled or whose transaction ends never keeps the lock from the others."""

from __future__ import annotations

import asyncio

import pytest

from adapters.memory.database import MemoryDatabase, Transaction
from domain.organizations import Organization
from ports.errors import ConcurrencyError, TransactionAbortedError

Store = tuple[MemoryDatabase, Organization]


@pytest.fixture
def store() -> Store:
    db = MemoryDatabase()
    org = Organization(name="Acme", slug="acme")
    tx = db.begin()
    tx.insert("organizations", org)
    tx.commit([])
    return db, org


async def _settle() -> None:
    """Let every ready task run until it waits again."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_waiters_get_the_lock_in_the_order_they_asked(store: Store) -> None:
    """Three transactions waiting for a held row get it one after the other, first come
    first served, each once the previous one ended."""
    db, org = store
    holder = db.begin()
    await holder.lock("organizations", org.id)
    order: list[int] = []

    async def take(n: int) -> None:
        tx = db.begin()
        await tx.lock("organizations", org.id)
        order.append(n)
        await asyncio.sleep(0)
        tx.commit([])

    tasks = [asyncio.create_task(take(n)) for n in range(3)]
    await _settle()
    assert order == []
    holder.rollback()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    assert order == [0, 1, 2]
    assert db.row_locks == {}


async def test_a_cancelled_waiter_does_not_keep_the_lock_from_the_next(store: Store) -> None:
    """A transaction cancelled while it waits is skipped: the one behind it gets the lock
    when the holder ends."""
    db, org = store
    holder = db.begin()
    await holder.lock("organizations", org.id)
    cancelled, behind = db.begin(), db.begin()
    gone = asyncio.create_task(cancelled.lock("organizations", org.id))
    waiting = asyncio.create_task(behind.lock("organizations", org.id))
    await _settle()
    gone.cancel()
    await _settle()
    holder.commit([])
    locked = await asyncio.wait_for(waiting, timeout=30)
    assert locked is not None
    assert locked.id == org.id
    behind.rollback()
    cancelled.rollback()
    assert db.row_locks == {}


async def test_a_lock_handed_to_a_cancelled_waiter_is_released_when_it_ends(store: Store) -> None:
    """A waiter cancelled after the lock was handed to it holds it until its transaction
    ends, then the next waiter gets it."""
    db, org = store
    holder, handed, last = db.begin(), db.begin(), db.begin()
    await holder.lock("organizations", org.id)
    first = asyncio.create_task(handed.lock("organizations", org.id))
    second = asyncio.create_task(last.lock("organizations", org.id))
    await _settle()
    holder.rollback()  # hands the lock to ``handed`` ...
    first.cancel()  # ... which is cancelled before it runs again
    await _settle()
    assert not second.done()
    handed.rollback()
    locked = await asyncio.wait_for(second, timeout=30)
    assert locked is not None
    assert locked.id == org.id


async def test_a_waiter_whose_transaction_was_closed_fails_instead_of_taking_the_lock(
    store: Store,
) -> None:
    """A waiting transaction closed by someone else is told so, and does not hold the row."""
    db, org = store
    holder, closed = db.begin(), db.begin()
    await holder.lock("organizations", org.id)
    waiting = asyncio.create_task(closed.lock("organizations", org.id))
    await _settle()
    closed.rollback()
    holder.rollback()
    with pytest.raises(RuntimeError, match="closed"):
        await asyncio.wait_for(waiting, timeout=30)
    assert db.row_locks == {}


async def test_a_deadlock_aborts_the_transaction_that_closes_the_cycle(store: Store) -> None:
    """A transaction about to wait for one that waits for it fails with ConcurrencyError
    and is aborted; the other gets its lock once the failed one ends."""
    db, org = store
    other = Organization(name="Other", slug="other")
    setup = db.begin()
    setup.insert("organizations", other)
    setup.commit([])
    a, b = db.begin(), db.begin()
    await a.lock("organizations", org.id)
    await b.lock("organizations", other.id)
    a_waits = asyncio.create_task(a.lock("organizations", other.id))
    await _settle()
    with pytest.raises(ConcurrencyError, match="deadlock"):
        await b.lock("organizations", org.id)
    with pytest.raises(TransactionAbortedError):
        b.get("organizations", org.id)
    b.rollback()
    locked = await asyncio.wait_for(a_waits, timeout=30)
    assert locked is not None
    assert locked.id == other.id
    a.commit([])
    assert db.row_locks == {}


async def test_locking_a_missing_row_holds_nothing(store: Store) -> None:
    """lock of a missing row returns None and leaves no lock behind."""
    db, _ = store
    tx: Transaction = db.begin()
    assert await tx.lock("organizations", "no-such-id") is None
    assert db.row_locks == {}


async def test_a_lock_held_stays_when_the_row_no_longer_matches(store: Store) -> None:
    """A transaction that locked a row, then deleted it, keeps the lock when it asks for
    the row again and finds nothing: another locker still waits for it to end."""
    db, org = store
    tx = db.begin()
    await tx.lock("organizations", org.id)
    tx.delete("organizations", org.id)
    assert await tx.lock("organizations", org.id) is None
    other = db.begin()
    waiting = asyncio.create_task(other.lock("organizations", org.id))
    await _settle()
    assert not waiting.done()
    tx.commit([])
    assert await asyncio.wait_for(waiting, timeout=30) is None
    assert db.row_locks == {}
