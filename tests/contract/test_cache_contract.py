"""Contract of the Cache port, run against every adapter in :data:`CACHES`.

A factory is a callable returning an async context manager that yields a cache and tears
it down. Tests use keys unique to each run, so a shared server needs no flushing; they
rely on real time only for expiry (short TTLs, one short sleep), as a server has no fake
clock. Adding an adapter is one entry. The Redis cache runs on the server tests/servers.py
chooses (``CODEANT_TEST_REDIS_URL``, else a container, else a ``redis-server`` process
started for the session), skipping with the reason when there is none; each test gets a
key prefix of its own and its keys are deleted after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from redis.asyncio import Redis

from adapters.memory.cache import MemoryCache
from adapters.redis import RedisCache
from ports.cache import Cache
from ports.errors import ValidationError
from tests.contract.conftest import contract_fixture
from tests.servers import redis_server


@contextlib.asynccontextmanager
async def memory_cache() -> AsyncIterator[Cache]:
    """A fresh in-process cache."""
    yield MemoryCache()


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """A Redis server for the session (see tests/servers.py)."""
    try:
        url, stop = redis_server()
    except Exception as exc:  # no server can be had here: say why and skip
        pytest.skip(f"no Redis server available: {exc}")
    try:
        yield url
    finally:
        stop()


@contextlib.asynccontextmanager
async def redis_cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    """A cache on the session's Redis server, under a key prefix of its own."""
    url = request.getfixturevalue("redis_server_url")
    prefix = f"contract:{uuid.uuid4().hex}:"
    cache = RedisCache(url, key_prefix=prefix)
    try:
        yield cache
    finally:
        await cache.aclose()
        async with Redis.from_url(url) as client:
            stale = [name async for name in client.scan_iter(match=f"{prefix}*")]
            if stale:
                await client.delete(*stale)


CACHES: dict[str, Callable[..., AbstractAsyncContextManager[Cache]]] = {
    "memory": memory_cache,
    "redis": redis_cache,
}

cache = contract_fixture(CACHES, name="cache")

SHORT_TTL = 0.2
PAST_SHORT_TTL = 0.4


@pytest.fixture
def key() -> Callable[[str], str]:
    """Makes keys unique to this test run: ``key("a")`` -> ``"contract:<run>:a"``."""
    run = uuid.uuid4().hex
    return lambda name: f"contract:{run}:{name}"


async def test_missing_key_reads_as_none(cache: Cache, key: Callable[[str], str]) -> None:
    """A key never set reads as None."""
    assert await cache.get(key("absent")) is None


@pytest.mark.parametrize("value", [b"payload", b"", b"\x00\xff\x10 binary", b"x" * 100_000])
async def test_set_then_get_returns_the_exact_bytes(
    cache: Cache, key: Callable[[str], str], value: bytes
) -> None:
    """What was set reads back byte for byte, empty and binary values included."""
    await cache.set(key("k"), value)

    assert await cache.get(key("k")) == value


async def test_set_replaces_the_value(cache: Cache, key: Callable[[str], str]) -> None:
    """Setting a key again replaces its value."""
    await cache.set(key("k"), b"old")
    await cache.set(key("k"), b"new", ttl=60)

    assert await cache.get(key("k")) == b"new"


async def test_keys_are_independent(cache: Cache, key: Callable[[str], str]) -> None:
    """Writing one key leaves another untouched."""
    await cache.set(key("a"), b"1")
    await cache.set(key("b"), b"2")

    assert (await cache.get(key("a")), await cache.get(key("b"))) == (b"1", b"2")


async def test_delete_returns_how_many_keys_existed(
    cache: Cache, key: Callable[[str], str]
) -> None:
    """delete removes the given keys and counts only those that existed, each once."""
    await cache.set(key("a"), b"1")
    await cache.set(key("b"), b"2")
    await cache.set(key("keep"), b"3")

    deleted = await cache.delete(key("a"), key("b"), key("b"), key("never"))

    assert deleted == 2
    assert await cache.get(key("a")) is None
    assert await cache.get(key("b")) is None
    assert await cache.get(key("keep")) == b"3"


async def test_delete_of_no_keys_deletes_nothing(cache: Cache, key: Callable[[str], str]) -> None:
    """delete with no keys returns 0 and leaves the cache as it was."""
    await cache.set(key("a"), b"1")

    assert await cache.delete() == 0
    assert await cache.get(key("a")) == b"1"


async def test_expired_keys_read_as_missing(cache: Cache, key: Callable[[str], str]) -> None:
    """Once its ttl has passed a key reads as missing and deletes as absent, and a counter
    keeps the expiry of the key it incremented; keys without a ttl, with a longer one, or
    set again without one stay."""
    await cache.set(key("short"), b"v", ttl=SHORT_TTL)
    await cache.set(key("forever"), b"v")
    await cache.set(key("long"), b"v", ttl=60)
    await cache.set(key("made-permanent"), b"v", ttl=SHORT_TTL)
    await cache.set(key("made-permanent"), b"v2")
    await cache.set(key("counter"), b"5", ttl=SHORT_TTL)
    await cache.set(key("deleted-late"), b"v", ttl=SHORT_TTL)
    assert await cache.get(key("short")) == b"v"
    assert await cache.incr(key("counter")) == 6

    await asyncio.sleep(PAST_SHORT_TTL)

    assert await cache.get(key("short")) is None
    assert await cache.get(key("counter")) is None
    assert await cache.delete(key("deleted-late")) == 0
    assert await cache.get(key("forever")) == b"v"
    assert await cache.get(key("long")) == b"v"
    assert await cache.get(key("made-permanent")) == b"v2"


async def test_incr_counts_from_zero(cache: Cache, key: Callable[[str], str]) -> None:
    """incr of a missing key gives 1, then 2, stored as decimal digits."""
    assert await cache.incr(key("n")) == 1
    assert await cache.incr(key("n")) == 2
    assert await cache.get(key("n")) == b"2"


async def test_incr_adds_one_to_a_stored_integer(cache: Cache, key: Callable[[str], str]) -> None:
    """incr continues from an integer value that was set, negative ones included."""
    await cache.set(key("n"), b"41")
    await cache.set(key("m"), b"-3")

    assert await cache.incr(key("n")) == 42
    assert await cache.incr(key("m")) == -2


@pytest.mark.parametrize("value", [b"abc", b"1.5", b"", b"99999999999999999999"])
async def test_incr_of_a_non_integer_is_refused(
    cache: Cache, key: Callable[[str], str], value: bytes
) -> None:
    """incr of a value that is not a 64-bit integer raises ValidationError and leaves it."""
    await cache.set(key("n"), value)

    with pytest.raises(ValidationError):
        await cache.incr(key("n"))
    assert await cache.get(key("n")) == value


async def test_concurrent_incr_loses_no_update(cache: Cache, key: Callable[[str], str]) -> None:
    """Concurrent increments each get a distinct value and all of them count."""
    results = await asyncio.gather(*(cache.incr(key("n")) for _ in range(50)))

    assert sorted(results) == list(range(1, 51))
    assert await cache.get(key("n")) == b"50"


@pytest.mark.parametrize("bad_key", ["", None, 42, b"bytes"])
async def test_bad_keys_are_refused(cache: Cache, bad_key: Any) -> None:
    """Every operation refuses a key that is not a non-empty string."""
    for call in (
        lambda: cache.get(bad_key),
        lambda: cache.set(bad_key, b"v"),
        lambda: cache.delete(bad_key),
        lambda: cache.incr(bad_key),
    ):
        with pytest.raises(ValidationError, match="key"):
            await call()


@pytest.mark.parametrize("bad_value", ["text", None, 42])
async def test_values_must_be_bytes(
    cache: Cache, key: Callable[[str], str], bad_value: Any
) -> None:
    """set refuses a value that is not bytes and stores nothing."""
    with pytest.raises(ValidationError, match="bytes"):
        await cache.set(key("k"), bad_value)
    assert await cache.get(key("k")) is None


@pytest.mark.parametrize("bad_ttl", [0, -1, -0.5, math.nan, math.inf, "10", True])
async def test_ttl_must_be_a_positive_finite_number(
    cache: Cache, key: Callable[[str], str], bad_ttl: Any
) -> None:
    """set refuses a ttl that is not a positive finite number and stores nothing."""
    with pytest.raises(ValidationError, match="ttl"):
        await cache.set(key("k"), b"v", ttl=bad_ttl)
    assert await cache.get(key("k")) is None
