"""The cache port on a Redis server (redis-py's asyncio client).

A restarted server is checked before it is used. Redis with persistence (RDB snapshots,
an append-only file) comes back from a restart, or a replica takes over, with the data of
some moment before: writes it had acknowledged since are gone, among them the
invalidations that made cached entries stale. Read as they are, those entries would be
served until their ttl ends. So every new connection (redis-py opens one after a restart)
compares the server's ``run_id``, which each server process draws anew when it starts,
with the one recorded under the cache's prefix. If they differ, the connection deletes
every key under the prefix and then records the new ``run_id``, before any command runs on
it: whatever the server brought back reads as missing, which a cache always may. Until
the record is written, every connection to that server makes the same check, so a
process that dies while deleting leaves the work to the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from adapters.config import mask_url
from ports.cache import check_key, check_ttl, check_value
from ports.errors import UnavailableError, ValidationError

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_KEY_PREFIX",
    "DEFAULT_SOCKET_TIMEOUT",
    "SERVER_KEY",
    "RedisCache",
]

log = logging.getLogger(__name__)

DEFAULT_KEY_PREFIX = "codeant:"
DEFAULT_SOCKET_TIMEOUT = 0.5
DEFAULT_CONNECT_TIMEOUT = 0.5

SERVER_KEY = "__server_run_id__"
"""The key (under the prefix) recording the ``run_id`` of the server process the cache's
keys were written to; not to be used for anything else."""

_RUN_ID = re.compile(rb"^run_id:([0-9a-fA-F]+)\s*$", re.MULTILINE)
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")
_SCAN_COUNT = 1000

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
    connections left dead by a server restart cost no error.

    A cache made from a URL checks each server it connects to for a restart (see the
    module's documentation) and drops what a restarted server brought back; ``restarts``
    counts the servers it found holding keys from an earlier server process. A given
    client is not checked. Raises ValueError on a bad URL or setting (the prefix must not
    be empty: the check deletes keys by prefix).
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
        if not isinstance(key_prefix, str) or not key_prefix:
            raise ValueError(f"key_prefix must be a non-empty string, got {key_prefix!r}")
        self._prefix = key_prefix
        self._known_run_id: bytes | None = None
        self._checking = asyncio.Lock()
        self.restarts = 0
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
                on_connect=self._on_connect,
            )
            self._owned = True
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

    async def _on_connect(self, connection: Any) -> None:
        """Set up a new connection, then check its server for a restart before any
        command runs on it (see the module's documentation)."""
        await connection.on_connect()
        async with self._checking:  # one check at a time in this process
            run_id = await _server_run_id(connection)
            if run_id is None or run_id == self._known_run_id:
                return
            record = self._prefix + SERVER_KEY
            recorded = await _execute(connection, "GET", record)
            if recorded != run_id:
                dropped = await self._drop_all(connection)
                try:
                    await _execute(connection, "SET", record, run_id)
                except ResponseError as exc:  # out of memory: the next connection checks again
                    log.info("Redis at %s: cannot record its run_id: %s", self._server, exc)
                    return
                if recorded is not None:
                    dropped -= 1  # the record itself
                if recorded is not None or dropped:
                    self.restarts += 1
                log.log(
                    logging.WARNING if dropped else logging.INFO,
                    "Redis at %s runs a new server process (run_id %s): dropped the %d %s "
                    "under %r it holds from before, which may predate writes it had "
                    "acknowledged",
                    self._server,
                    run_id.decode(),
                    dropped,
                    "key" if dropped == 1 else "keys",
                    self._prefix,
                )
            self._known_run_id = run_id

    async def _drop_all(self, connection: Any) -> int:
        """Delete every key under the prefix; how many there were."""
        pattern = _GLOB_SPECIAL.sub(r"\\\1", self._prefix) + "*"
        cursor: bytes | int = 0
        dropped = 0
        while True:
            reply = await _execute(
                connection, "SCAN", cursor, "MATCH", pattern, "COUNT", _SCAN_COUNT
            )
            cursor, keys = reply[0], reply[1]
            if keys:
                dropped += int(await _execute(connection, "UNLINK", *keys))
            if int(cursor) == 0:
                return dropped

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


async def _execute(connection: Any, *args: Any) -> Any:
    """The reply to one command sent on ``connection`` while it is being set up."""
    await connection.send_command(*args, check_health=False)
    return await connection.read_response()


async def _server_run_id(connection: Any) -> bytes | None:
    """The ``run_id`` of the server process behind ``connection``; None if the server does
    not tell (a Redis-compatible server without it, or INFO disabled)."""
    try:
        info = await _execute(connection, "INFO", "server")
    except ResponseError:
        return None
    if isinstance(info, str):
        info = info.encode()
    match = _RUN_ID.search(info) if isinstance(info, bytes) else None
    return match.group(1) if match else None


def _client(
    url: str,
    *,
    socket_timeout: float,
    connect_timeout: float,
    retries: int,
    on_connect: Callable[[Any], Awaitable[None]],
) -> Redis:
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
            redis_connect_func=on_connect,
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
