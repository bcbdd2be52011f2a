"""Fakes shared by the unit tests: working in-memory implementations that fail on demand,
and the types of the shared fixtures that hand out functions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypedDict, Unpack

from adapters.memory.cache import MemoryCache
from domain.events import DomainEvent
from ports.errors import UnavailableError

__all__ = ["Committed", "Events", "FailingCache", "FakeClock", "Fingerprint"]

Events = Callable[[], Awaitable[list[DomainEvent]]]
"""The ``events`` fixture: reads the committed events not yet delivered."""

Fingerprint = tuple[dict[tuple[str, Any], int], int]
"""The version of every row ever written (by table and key) and the outbox length."""

Committed = Callable[[], Fingerprint]
"""The ``committed`` fixture: takes a :data:`Fingerprint` of everything committed."""


class FakeClock:
    """A clock (seconds) that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _CacheOptions(TypedDict, total=False):
    """The keyword arguments of :class:`MemoryCache`."""

    clock: Callable[[], float]
    max_entries: int


class FailingCache(MemoryCache):
    """An in-process cache whose operations named in ``failing`` raise UnavailableError,
    as a Redis cache does while its server is down. ``asked`` lists the keys of every
    operation that reached it."""

    def __init__(self, **kwargs: Unpack[_CacheOptions]) -> None:
        super().__init__(**kwargs)
        self.failing: set[str] = set()
        self.asked: list[str] = []

    def down(self) -> None:
        self.failing = {"get", "set", "delete", "incr"}

    def up(self) -> None:
        self.failing = set()

    def _check(self, op: str, key: str) -> None:
        self.asked.append(key)
        if op in self.failing:
            raise UnavailableError(f"cache down ({op} {key})")

    async def get(self, key: str) -> bytes | None:
        self._check("get", key)
        return await super().get(key)

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        self._check("set", key)
        await super().set(key, value, ttl=ttl)

    async def delete(self, *keys: str) -> int:
        self._check("delete", ",".join(keys))
        return await super().delete(*keys)

    async def incr(self, key: str) -> int:
        self._check("incr", key)
        return await super().incr(key)
