"""Fakes shared by the unit tests: working in-memory implementations that fail on demand."""

from __future__ import annotations

from adapters.memory.cache import MemoryCache
from ports.errors import UnavailableError

__all__ = ["FailingCache", "FakeClock"]


class FakeClock:
    """A clock (seconds) that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FailingCache(MemoryCache):
    """An in-process cache whose operations named in ``failing`` raise UnavailableError,
    as a Redis cache does while its server is down. ``asked`` lists the keys of every
    operation that reached it."""

    def __init__(self, **kwargs) -> None:
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

    async def get(self, key):
        self._check("get", key)
        return await super().get(key)

    async def set(self, key, value, *, ttl=None):
        self._check("set", key)
        await super().set(key, value, ttl=ttl)

    async def delete(self, *keys):
        self._check("delete", ",".join(keys))
        return await super().delete(*keys)

    async def incr(self, key):
        self._check("incr", key)
        return await super().incr(key)
