"""The cache port: a byte-valued key/value store with expiry, and the codec that turns
cached values into bytes and back."""

from __future__ import annotations

import math
from typing import Any, Protocol, TypeVar

from ports.errors import ValidationError

__all__ = ["Cache", "Codec", "check_key", "check_ttl", "check_value"]

T = TypeVar("T")


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


class Codec(Protocol):
    """Turns domain values (entities, value objects, read models, tuples of them) into
    bytes and back.

    ``loads(dumps(value), cls)`` builds a value equal in every field to ``value``, running
    the domain's own validation; data that does not describe a valid ``cls`` raises
    :class:`~domain.errors.ValidationError`, never a half-built object.
    """

    def dumps(self, obj: Any) -> bytes: ...
    def loads(self, data: bytes, cls: type[T]) -> T: ...


def check_key(key: Any) -> str:
    """``key`` if it is a non-empty string, else ValidationError: what every adapter
    checks before touching its store."""
    if not isinstance(key, str) or not key:
        raise ValidationError("key", key, "must be a non-empty string", entity="Cache")
    return key


def check_value(value: Any) -> bytes:
    """``value`` if it is bytes, else ValidationError."""
    if not isinstance(value, bytes):
        raise ValidationError(
            "value", value, "must be bytes (serialize before caching)", entity="Cache"
        )
    return value


def check_ttl(ttl: Any) -> float | None:
    """``ttl`` if it is None or a positive finite number of seconds, else ValidationError."""
    if ttl is None:
        return None
    if not isinstance(ttl, int | float) or isinstance(ttl, bool) or not math.isfinite(ttl):
        raise ValidationError("ttl", ttl, "must be a finite number of seconds", entity="Cache")
    if ttl <= 0:
        raise ValidationError("ttl", ttl, "must be greater than 0", entity="Cache")
    return float(ttl)
