"""An in-process implementation of the cache port."""

from __future__ import annotations

import heapq
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import attrs

from ports.errors import ValidationError

__all__ = ["MemoryCache"]

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_INTEGER_RE = re.compile(rb"-?[0-9]+")


@attrs.define
class _Entry:
    value: bytes
    expires_at: float | None


class MemoryCache:
    """Implements :class:`ports.cache.Cache` in this process.

    Expired entries read as missing and are dropped when read; every write also drops the
    entries whose time is up, soonest first. Past ``max_entries`` the least recently used
    entries are evicted. ``incr`` behaves like Redis ``INCR``: a missing key starts at 0,
    the value must be a 64-bit decimal integer, and an existing expiry is kept (a new
    counter has none). Every operation runs without awaiting and under a lock, so it is
    atomic for concurrent tasks and threads alike.

    ``clock`` (seconds, monotonic) is the time source; raises ValueError if
    ``max_entries`` is not a positive integer.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_entries: int = 100_000
    ) -> None:
        if not isinstance(max_entries, int) or isinstance(max_entries, bool) or max_entries < 1:
            raise ValueError(f"max_entries must be a positive integer, got {max_entries!r}")
        self._clock = clock
        self._max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # least recently used first
        self._expiries: list[tuple[float, str]] = []  # heap; may hold outdated pairs
        self._lock = threading.Lock()

    async def get(self, key: str) -> bytes | None:
        _check_key(key)
        with self._lock:
            entry = self._live(key)
            return None if entry is None else entry.value

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        _check_key(key)
        if not isinstance(value, bytes):
            raise ValidationError(
                "value", value, "must be bytes (serialize before caching)", entity="Cache"
            )
        _check_ttl(ttl)
        with self._lock:
            now = self._clock()
            self._sweep(now)
            self._store(key, _Entry(value, None if ttl is None else now + ttl))

    async def delete(self, *keys: str) -> int:
        for key in keys:
            _check_key(key)
        with self._lock:
            existed = 0
            for key in keys:
                if self._live(key) is not None:
                    del self._entries[key]
                    existed += 1
            return existed

    async def incr(self, key: str) -> int:
        _check_key(key)
        with self._lock:
            self._sweep(self._clock())
            entry = self._live(key)
            current = 0 if entry is None else _as_counter(key, entry.value)
            if current == _INT64_MAX:
                raise ValidationError(
                    "value",
                    current,
                    f"of key {key!r} would overflow a 64-bit integer",
                    entity="Cache",
                )
            new = current + 1
            self._store(key, _Entry(str(new).encode(), None if entry is None else entry.expires_at))
            return new

    def _live(self, key: str) -> _Entry | None:
        """The unexpired entry of ``key``, marked as just used; drops it if expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def _store(self, key: str, entry: _Entry) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        if entry.expires_at is not None:
            heapq.heappush(self._expiries, (entry.expires_at, key))
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def _sweep(self, now: float) -> None:
        """Drop the entries whose time is up; forget expiries of overwritten entries."""
        while self._expiries and self._expiries[0][0] <= now:
            expires_at, key = heapq.heappop(self._expiries)
            entry = self._entries.get(key)
            if entry is not None and entry.expires_at == expires_at:
                del self._entries[key]
        if len(self._expiries) > 2 * len(self._entries) + 64:
            self._expiries = [
                (e.expires_at, k) for k, e in self._entries.items() if e.expires_at is not None
            ]
            heapq.heapify(self._expiries)


def _check_key(key: Any) -> None:
    if not isinstance(key, str) or not key:
        raise ValidationError("key", key, "must be a non-empty string", entity="Cache")


def _check_ttl(ttl: Any) -> None:
    if ttl is None:
        return
    if not isinstance(ttl, int | float) or isinstance(ttl, bool) or not math.isfinite(ttl):
        raise ValidationError("ttl", ttl, "must be a finite number of seconds", entity="Cache")
    if ttl <= 0:
        raise ValidationError("ttl", ttl, "must be greater than 0", entity="Cache")


def _as_counter(key: str, value: bytes) -> int:
    if _INTEGER_RE.fullmatch(value):
        number = int(value)
        if _INT64_MIN <= number <= _INT64_MAX:
            return number
    raise ValidationError(
        "value", value, f"of key {key!r} is not a 64-bit decimal integer", entity="Cache"
    )
