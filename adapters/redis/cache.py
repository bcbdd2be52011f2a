"""The cache port on a Redis server (redis-py's asyncio client)."""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Iterator
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from adapters.config import mask_url
from ports.cache import check_key, check_ttl, check_value
from ports.errors import UnavailableError, ValidationError

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "DEFAULT_KEY_PREFIX", "DEFAULT_SOCKET_TIMEOUT", "RedisCache"]

DEFAULT_KEY_PREFIX = "codeant:"
DEFAULT_SOCKET_TIMEOUT = 0.5
DEFAULT_CONNECT_TIMEOUT = 0.5

_REFUSED_COUNTER = re.compile(r"not an integer|would overflow")
"""What Redis says when INCR meets a value that is not a 64-bit integer, or its maximum."""

_MAX_TTL_MS = 10**15
"""Longer expiries (some 31,000 years) are stored as this: Redis refuses any beyond the
range of a 64-bit millisecond timestamp, where the port allows every finite ttl."""

INFO_FIELDS = {
    "redis_version": "redis_version",
    "uptime_in_seconds": "uptime_seconds",
    "connected_clients": "connected_clients",
    "used_memory": "used_memory_bytes",
    "maxmemory": "maxmemory_bytes",
    "evicted_keys": "evicted_keys",
    "keyspace_hits": "keyspace_hits",
    "keyspace_misses": "keyspace_misses",
}
"""Fields of ``INFO`` that :meth:`RedisCache.server_info` reports, and their names there."""


class RedisCache:
    """Implements :class:`ports.cache.Cache` on a Redis server.

    ``server`` is a URL (``redis://``, ``rediss://`` or ``unix://``; the cache opens a
    connection pool for it and :meth:`aclose` closes it), or a ``redis.asyncio.Redis``
    client made by the caller, who keeps it (it must not decode responses; its timeouts
    and retries are its own). Every key is stored under ``key_prefix``, so several
    applications or test runs can share one server.

    A connection that fails or a server that does not answer within ``socket_timeout``
    (``connect_timeout`` to connect) raises :class:`~ports.errors.UnavailableError` naming
    the server (never its password); so does any other error the server returns. A failed
    connection is retried ``retries`` times at once, on a fresh connection, so pooled
    connections left dead by a server restart cost no error. Raises ValueError on a bad
    URL or setting.
    """

    def __init__(
        self,
        server: str | Redis,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        socket_timeout: float | None = None,
        connect_timeout: float | None = None,
        retries: int = 1,
    ) -> None:
        if not isinstance(key_prefix, str):
            raise ValueError(f"key_prefix must be a string, got {key_prefix!r}")
        if isinstance(server, Redis):
            _check_given_client(server, socket_timeout, connect_timeout)
            self._redis = server
            self._owned = False
        else:
            self._redis = _client(
                server,
                socket_timeout=_seconds("socket_timeout", socket_timeout, DEFAULT_SOCKET_TIMEOUT),
                connect_timeout=_seconds(
                    "connect_timeout", connect_timeout, DEFAULT_CONNECT_TIMEOUT
                ),
                retries=retries,
            )
            self._owned = True
        self._prefix = key_prefix
        self._server = _describe(self._redis)

    @property
    def server(self) -> str:
        """Where the server is (``host:port`` or socket path, and database number)."""
        return self._server

    async def get(self, key: str) -> bytes | None:
        name = self._name(key)
        with self._translated():
            value = await self._redis.get(name)
        return cast("bytes | None", value)  # the client does not decode responses

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        name = self._name(key)
        check_value(value)
        seconds = check_ttl(ttl)
        px = None if seconds is None else min(_MAX_TTL_MS, max(1, math.ceil(seconds * 1000)))
        with self._translated():
            await self._redis.set(name, value, px=px)

    async def delete(self, *keys: str) -> int:
        names = [self._name(key) for key in keys]
        if not names:
            return 0
        with self._translated():
            deleted: int = await self._redis.delete(*names)
        return deleted

    async def incr(self, key: str) -> int:
        name = self._name(key)
        with self._translated():
            try:
                value: int = await self._redis.incr(name)
            except ResponseError as exc:
                if not _REFUSED_COUNTER.search(str(exc)):
                    raise
                stored = await self._redis.get(name)
                raise ValidationError(
                    "value",
                    stored,
                    f"of key {key!r} is not a 64-bit decimal integer, or adding one would overflow",
                    entity="Cache",
                ) from None
        return value

    async def ping(self) -> float:
        """The round-trip time of a ``PING``, in milliseconds."""
        with self._translated():
            started = time.perf_counter()
            await self._redis.ping()
            return (time.perf_counter() - started) * 1000.0

    async def server_info(self) -> dict[str, Any]:
        """The server's version, uptime, connected clients, memory used and allowed (0: no
        limit), evicted keys and keyspace hits and misses (see :data:`INFO_FIELDS`)."""
        with self._translated():
            info = await self._redis.info()
        return {name: info.get(field) for field, name in INFO_FIELDS.items()}

    async def aclose(self) -> None:
        """Close the connection pool this cache opened (a given client is left open)."""
        if self._owned:
            await self._redis.aclose()

    def _name(self, key: str) -> str:
        return self._prefix + check_key(key)

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Redis errors as UnavailableError naming the server."""
        try:
            yield
        except RedisError as exc:
            raise UnavailableError(
                f"Redis at {self._server} failed: {type(exc).__name__}: {exc}"
            ) from exc


def _seconds(field: str, value: float | None, default: float) -> float:
    if value is None:
        return default
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{field} must be a positive number of seconds, got {value!r}")
    return float(value)


def _client(url: str, *, socket_timeout: float, connect_timeout: float, retries: int) -> Redis:
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ValueError(f"retries must be an integer of at least 0, got {retries!r}")
    if not isinstance(url, str):
        raise ValueError(f"server must be a Redis URL or a redis.asyncio.Redis, got {url!r}")
    try:
        return Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            retry=Retry(NoBackoff(), retries, supported_errors=(RedisConnectionError,)),
        )
    except ValueError as exc:
        raise ValueError(f"not a Redis URL: {mask_url(url)} ({exc})") from None


def _check_given_client(
    client: Redis, socket_timeout: float | None, connect_timeout: float | None
) -> None:
    if socket_timeout is not None or connect_timeout is not None:
        raise ValueError(
            "socket_timeout and connect_timeout apply to a cache made from a URL; "
            "a given client keeps its own"
        )
    if client.connection_pool.connection_kwargs.get("decode_responses"):
        raise ValueError("the client must not decode responses: cached values are bytes")


def _describe(client: Redis) -> str:
    """Where ``client`` connects, without credentials."""
    kwargs = client.connection_pool.connection_kwargs
    where = kwargs.get("path") or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
    return f"{where} db {kwargs.get('db', 0)}"
