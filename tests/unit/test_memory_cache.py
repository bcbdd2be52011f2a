"""What MemoryCache adds to the cache contract: its clock, LRU eviction and expiry sweep."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.memory.cache import MemoryCache


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_expiry_follows_the_injected_clock() -> None:
    """A key lives until exactly ``ttl`` seconds of the clock have passed."""
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    await cache.set("k", b"v", ttl=10)

    clock.now += 9.999
    assert await cache.get("k") == b"v"
    clock.now += 0.001
    assert await cache.get("k") is None


async def test_least_recently_used_key_is_evicted_past_max_entries() -> None:
    """Beyond ``max_entries`` the key used longest ago goes; reading a key counts as use."""
    cache = MemoryCache(max_entries=2)
    await cache.set("a", b"1")
    await cache.set("b", b"2")
    await cache.get("a")

    await cache.set("c", b"3")

    assert await cache.get("b") is None
    assert (await cache.get("a"), await cache.get("c")) == (b"1", b"3")


async def test_writes_sweep_expired_entries_before_evicting_live_ones() -> None:
    """An expired entry makes room for a write, so no live entry is evicted for it."""
    clock = FakeClock()
    cache = MemoryCache(clock=clock, max_entries=2)
    await cache.set("live", b"1")
    await cache.set("expiring", b"2", ttl=1)
    clock.now += 2

    await cache.set("new", b"3")

    assert await cache.get("live") == b"1"
    assert await cache.get("new") == b"3"


async def test_overwritten_key_keeps_its_new_expiry() -> None:
    """Setting a key again replaces its expiry: the first ttl no longer applies."""
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    await cache.set("k", b"old", ttl=1)
    await cache.set("k", b"new", ttl=100)
    clock.now += 5

    await cache.set("other", b"x")

    assert await cache.get("k") == b"new"


@pytest.mark.parametrize("max_entries", [0, -1, 1.5, True, "10"])
def test_max_entries_must_be_a_positive_integer(max_entries: Any) -> None:
    """A cache that could hold nothing is a configuration error."""
    with pytest.raises(ValueError, match="max_entries"):
        MemoryCache(max_entries=max_entries)
