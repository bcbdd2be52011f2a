"""The circuit breaker in front of the cache, and cached reads through it, over a cache
that fails on demand and a clock that moves when told."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import pytest

from adapters.memory.database import MemoryDatabase
from adapters.memory.unit_of_work import MemoryUnitOfWork
from adapters.serialization import JsonCodec
from application.breaker import CacheSkipped, CircuitBreaker, CircuitState, GuardedCache
from application.caching import CachedQueries
from domain.projects import Project
from ports.errors import UnavailableError, ValidationError
from tests.unit.fakes import FailingCache, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(clock: FakeClock) -> FailingCache:
    return FailingCache(clock=clock)


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(open_seconds=5, clock=clock)


@pytest.fixture
def guarded(cache: FailingCache, breaker: CircuitBreaker) -> GuardedCache:
    return GuardedCache(cache, breaker)


@pytest.fixture
def units(db: MemoryDatabase) -> functools.partial[MemoryUnitOfWork]:
    return functools.partial(MemoryUnitOfWork, db)


async def test_a_closed_breaker_passes_every_call(
    guarded: GuardedCache, cache: FailingCache, breaker: CircuitBreaker
) -> None:
    """While the cache answers, every operation reaches it and the breaker stays closed."""
    await guarded.set("k", b"1", ttl=60)
    assert await guarded.get("k") == b"1"
    assert await guarded.incr("n") == 1
    assert await guarded.delete("k", "n") == 2

    assert cache.asked == ["k", "k", "n", "k,n"]
    assert (breaker.state, breaker.outages, breaker.skipped) == (CircuitState.CLOSED, 0, 0)


async def test_a_failure_opens_the_breaker_and_calls_are_skipped(
    guarded: GuardedCache, cache: FailingCache, breaker: CircuitBreaker, clock: FakeClock
) -> None:
    """After a failure, calls fail at once with CacheSkipped (an UnavailableError) without
    reaching the cache, until open_seconds have passed."""
    cache.down()
    with pytest.raises(UnavailableError) as first:
        await guarded.get("k")
    cache.up()
    clock.now += 4.9
    for _ in range(3):
        with pytest.raises(CacheSkipped, match=r"skipped for another 0\.1 s") as skipped:
            await guarded.get("k")

    assert not isinstance(first.value, CacheSkipped)
    assert isinstance(skipped.value, UnavailableError)
    assert "cache down" in str(skipped.value)
    assert cache.asked == ["k"]
    assert (breaker.state, breaker.outages, breaker.skipped) == (CircuitState.OPEN, 1, 3)
    assert not breaker.ready()


async def test_a_probe_that_answers_closes_the_breaker(
    guarded: GuardedCache, cache: FailingCache, breaker: CircuitBreaker, clock: FakeClock
) -> None:
    """Once open_seconds have passed, the next call probes the cache; when it answers the
    breaker closes and calls pass again."""
    cache.down()
    with pytest.raises(UnavailableError):
        await guarded.get("k")
    cache.up()
    clock.now += 5

    state = breaker.state  # held apart: the probe below changes breaker.state
    assert state is CircuitState.HALF_OPEN and breaker.ready()
    assert await guarded.get("k") is None
    assert breaker.state is CircuitState.CLOSED
    await guarded.set("k", b"v")
    assert cache.asked == ["k", "k", "k"]


async def test_a_probe_that_fails_opens_the_breaker_again(
    guarded: GuardedCache, cache: FailingCache, breaker: CircuitBreaker, clock: FakeClock
) -> None:
    """A failed probe keeps the cache skipped for another open_seconds, within one outage."""
    cache.down()
    with pytest.raises(UnavailableError):
        await guarded.get("k")
    clock.now += 5
    with pytest.raises(UnavailableError):
        await guarded.get("k")  # the probe
    clock.now += 4
    with pytest.raises(CacheSkipped):
        await guarded.get("k")

    assert len(cache.asked) == 2
    assert (breaker.state, breaker.outages) == (CircuitState.OPEN, 1)


async def test_only_one_probe_runs_at_a_time(cache: FailingCache, clock: FakeClock) -> None:
    """While a probe is under way the other calls are refused; after it answers they pass."""
    release = asyncio.Event()

    class SlowCache(FailingCache):
        async def get(self, key: str) -> bytes | None:
            await release.wait()
            return await super().get(key)

    slow = SlowCache(clock=clock)
    breaker = CircuitBreaker(open_seconds=5, clock=clock)
    guarded = GuardedCache(slow, breaker)
    slow.down()
    release.set()
    with pytest.raises(UnavailableError):
        await guarded.get("k")
    slow.up()
    release.clear()
    clock.now += 5

    probe = asyncio.ensure_future(guarded.get("k"))
    await asyncio.sleep(0)
    with pytest.raises(CacheSkipped):
        await guarded.get("other")
    release.set()
    assert await probe is None

    assert await guarded.get("other") is None
    assert breaker.state is CircuitState.CLOSED


async def test_a_cancelled_probe_lets_the_next_call_probe(
    cache: FailingCache, clock: FakeClock
) -> None:
    """A probe cancelled before the cache answered decides nothing: the next call probes."""
    hang = asyncio.Event()

    class HangingCache(FailingCache):
        async def get(self, key: str) -> bytes | None:
            if not self.failing:
                await hang.wait()
            return await super().get(key)

    hanging = HangingCache(clock=clock)
    breaker = CircuitBreaker(open_seconds=5, clock=clock)
    guarded = GuardedCache(hanging, breaker)
    hanging.down()
    with pytest.raises(UnavailableError):
        await guarded.get("k")
    hanging.up()
    clock.now += 5
    probe = asyncio.ensure_future(guarded.get("k"))
    await asyncio.sleep(0)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe

    assert breaker.ready()
    hang.set()
    assert await guarded.get("k") is None
    assert breaker.state is CircuitState.CLOSED


async def test_an_error_about_the_request_is_an_answer(
    guarded: GuardedCache, cache: FailingCache, breaker: CircuitBreaker, clock: FakeClock
) -> None:
    """A ValidationError (a counter that is no integer) means the cache answered: it does
    not open a closed breaker, and it closes a half-open one."""
    await guarded.set("n", b"abc")
    with pytest.raises(ValidationError):
        await guarded.incr("n")
    assert breaker.state is CircuitState.CLOSED

    cache.down()
    with pytest.raises(UnavailableError):
        await guarded.get("k")
    cache.up()
    clock.now += 5
    with pytest.raises(ValidationError):
        await guarded.incr("n")
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.parametrize("value", [0, -1, float("inf"), float("nan"), "5", True])
def test_open_seconds_must_be_positive(value: Any) -> None:
    """A breaker period that is not a positive number of seconds is a ValueError naming it."""
    with pytest.raises(ValueError, match="open_seconds"):
        CircuitBreaker(open_seconds=value)


async def test_cached_reads_skip_a_failed_cache_and_warn_once(
    guarded: GuardedCache,
    cache: FailingCache,
    breaker: CircuitBreaker,
    clock: FakeClock,
    units: functools.partial[MemoryUnitOfWork],
    project: Project,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """During an outage reads are answered from the store; the cache is asked once per
    breaker period (not once per read), every read is counted, and the whole outage logs
    one warning. Once a probe answers, reads are cached again."""
    queries = CachedQueries(guarded, JsonCodec(), units)
    await queries.project(project.id)
    cache.down()
    asked = len(cache.asked)

    with caplog.at_level(logging.WARNING):
        names = [(await queries.project(project.id)).name for _ in range(20)]
        clock.now += 5
        names += [(await queries.project(project.id)).name for _ in range(20)]
    during = len(cache.asked) - asked
    cache.up()
    clock.now += 5
    await queries.project(project.id)
    hits = queries.stats.hits
    await queries.project(project.id)

    assert set(names) == {project.name}
    assert during == 2  # the read that found the outage, and one probe
    assert queries.stats.errors == 40
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert breaker.state is CircuitState.CLOSED
    assert queries.stats.hits == hits + 1
