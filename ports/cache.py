"""The cache port: a byte-valued key/value store with expiry."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Cache"]


class Cache(Protocol):
    """A key/value cache. Keys are strings, values bytes (callers serialize).

    ``ttl`` is in seconds; None keeps the value until evicted or deleted. An expired key
    reads as missing. Adapters raise :class:`~ports.errors.UnavailableError` when their
    server cannot be reached; callers treat the cache as optional.
    """

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None: ...
    async def delete(self, *keys: str) -> int:
        """Delete keys; returns how many existed."""
        ...

    async def incr(self, key: str) -> int:
        """Atomically add one to an integer counter (missing counts as 0); returns the new
        value. A new counter has no expiry; an existing key keeps the one it had."""
        ...
