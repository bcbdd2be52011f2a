"""The Redis cache on real servers: cached reads through it, an outage and a recovery,
its health check, and what it adds to the cache contract (errors, settings).

The outage test stops and restarts a ``redis-server`` process it starts itself on a free
port (a shared server cannot be stopped), so it needs the binary; the other tests use the
server tests/servers.py chooses. Either skips with the reason when it cannot be had.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypedDict, Unpack

import pytest
from redis.asyncio import Redis

from adapters.memory.database import MemoryDatabase
from adapters.memory.unit_of_work import MemoryUnitOfWork
from adapters.redis import RedisCache, RedisHealthCheck
from adapters.serialization import JsonCodec
from application import create_project, register_organization
from application.caching import CachedQueries, CacheStats
from ports.errors import UnavailableError, ValidationError
from ports.health import HealthStatus
from tests.integration.redis_process import RedisProcess, free_port, own_redis_process
from tests.servers import redis_server


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    """A Redis server this test owns (started, and stopped at the end if still running)."""
    with own_redis_process() as server:
        yield server


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A Redis server for the module (see tests/servers.py)."""
    try:
        url, stop = redis_server()
    except Exception as exc:  # no server can be had here: say why and skip
        pytest.skip(f"no Redis server available: {exc}")
    try:
        yield url
    finally:
        stop()


class _Settings(TypedDict, total=False):
    """The settings of :class:`RedisCache` a test may give."""

    key_prefix: str
    socket_timeout: float | None
    connect_timeout: float | None
    retries: int


@contextlib.asynccontextmanager
async def _cache(url: str, **settings: Unpack[_Settings]) -> AsyncIterator[RedisCache]:
    settings.setdefault("key_prefix", f"test:{uuid.uuid4().hex}:")
    cache = RedisCache(url, **settings)
    try:
        yield cache
    finally:
        await cache.aclose()


async def test_reads_survive_an_outage_and_recover(own_redis: RedisProcess) -> None:
    """Reads go through Redis; with the server stopped they are answered from the store
    with errors counted and nothing raised; once it runs again on the same port, reads
    are cached and hit again."""
    db = MemoryDatabase()
    organization = await register_organization(
        MemoryUnitOfWork(db, system=True), name="Acme", slug="acme"
    )
    project = await create_project(
        MemoryUnitOfWork(db, system=True),
        organization.id,
        name="Billing",
        slug="billing",
        repository_url="x",
    )
    async with _cache(own_redis.url, socket_timeout=1, connect_timeout=1) as cache:
        queries = CachedQueries(cache, JsonCodec(), functools.partial(MemoryUnitOfWork, db))
        await queries.project(project.id)
        assert (await queries.project(project.id)).name == project.name
        assert queries.stats.hits == 1

        own_redis.stop()
        during = [await queries.project(project.id) for _ in range(3)]
        assert {p.name for p in during} == {project.name}
        assert queries.stats.errors == 3

        own_redis.start()
        await queries.project(project.id)
        assert (await queries.project(project.id)).name == project.name
        assert queries.stats.hits == 2
        assert queries.stats.errors == 3


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A Redis server this test owns that saves its snapshot (when told) in a directory
    of its own and loads it when started again."""
    with own_redis_process(tmp_path / "redis") as server:
        yield server


async def _admin(url: str, *commands: tuple[object, ...]) -> list[object]:
    """The replies to ``commands`` (tuples of arguments) sent by a plain client of its own."""
    async with Redis.from_url(url) as admin:
        execute: Callable[..., Awaitable[object]] = admin.execute_command  # untyped in redis
        return [await execute(*command) for command in commands]


async def test_a_restarted_server_is_emptied_of_what_it_brought_back(
    persistent_redis: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """A server killed after a snapshot comes back with the snapshot's values, older than
    writes it had acknowledged; the cache's next connection drops every key of its
    prefix (and only those) before any command, so none of them is ever read."""
    server = persistent_redis
    async with _cache(server.url) as cache:
        name = cache._prefix + "token"
        await cache.set("token", b"old", ttl=600)
        await _admin(server.url, ("SET", "other-app:key", b"kept"), ("SAVE",))
        await cache.set("token", b"new", ttl=600)  # acknowledged, not saved
        server.kill()
        server.start()
        assert await _admin(server.url, ("GET", name)) == [b"old"]  # what a plain client sees

        with caplog.at_level(logging.INFO, logger="adapters.redis.cache"):
            assert await cache.get("token") is None
        await cache.set("token", b"newer", ttl=600)
        assert await cache.get("token") == b"newer"
        assert cache.restarts == 1
        assert await _admin(server.url, ("GET", "other-app:key")) == [b"kept"]

    assert "runs a new server process" in caplog.text and "dropped the 1 key under" in caplog.text


async def test_a_cache_first_meeting_a_restarted_server_drops_its_keys(
    persistent_redis: RedisProcess,
) -> None:
    """A cache made after the restart (a process started since) drops the keys a server
    brought back from before, though it never saw the old server."""
    server = persistent_redis
    prefix = f"test:{uuid.uuid4().hex}:"
    before = RedisCache(server.url, key_prefix=prefix)
    await before.set("token", b"old", ttl=600)
    await before.aclose()
    await _admin(server.url, ("SAVE",))
    server.kill()
    server.start()

    after = RedisCache(server.url, key_prefix=prefix)
    try:
        assert await after.get("token") is None
        assert after.restarts == 1
    finally:
        await after.aclose()


async def test_a_new_connection_to_the_same_server_keeps_the_keys(own_redis: RedisProcess) -> None:
    """Connections closed by the server (not a restart) are opened again without dropping
    anything: the server's run_id has not changed."""
    async with _cache(own_redis.url) as cache:
        await cache.set("k", b"v", ttl=600)
        await _admin(own_redis.url, ("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"))

        assert await cache.get("k") == b"v"
        assert cache.restarts == 0


async def test_a_prefix_with_pattern_characters_drops_only_its_own_keys(
    persistent_redis: RedisProcess,
) -> None:
    """Glob characters of the prefix are matched literally when its keys are dropped."""
    server = persistent_redis
    async with _cache(server.url, key_prefix="app*") as cache:
        await cache.set("k", b"mine")
        await _admin(server.url, ("SET", "apple", b"other"), ("SET", "app*x", b"o"), ("SAVE",))
        server.kill()
        server.start()

        assert await cache.get("k") is None
    assert await _admin(server.url, ("GET", "apple"), ("GET", "app*x")) == [b"other", None]


async def test_health_is_unhealthy_while_the_server_is_down(own_redis: RedisProcess) -> None:
    """The health check is healthy with the server running and unhealthy, with the error,
    once it stopped; it never raises."""
    async with _cache(own_redis.url) as cache:
        check = RedisHealthCheck(cache)
        up = await check.check()
        own_redis.stop()
        down = await check.check()

    assert (check.name, up.status) == ("cache", HealthStatus.HEALTHY)
    assert down.status is HealthStatus.UNHEALTHY
    assert down.error is not None and "ConnectionError" in down.error
    assert down.details["server"] == f"127.0.0.1:{own_redis.port} db 0"


async def test_health_reports_the_server_and_the_read_counters(redis_url: str) -> None:
    """A healthy report names the backend and gives the server's memory and clients and
    the counters of the cached reads."""
    stats = CacheStats(hits=9, misses=1)
    async with _cache(redis_url) as cache:
        report = await RedisHealthCheck(cache, name="redis", stats=stats).check()

    assert (report.component, report.status, report.error) == ("redis", "healthy", None)
    assert report.details["backend"] == "redis"
    assert report.details["used_memory_bytes"] > 0
    assert report.details["connected_clients"] >= 1
    assert report.details["reads"]["hit_ratio"] == 0.9
    assert report.latency_ms > 0


async def test_health_is_degraded_when_the_round_trip_is_slow(redis_url: str) -> None:
    """A round trip longer than ``slow_ms`` makes the report DEGRADED."""
    async with _cache(redis_url) as cache:
        report = await RedisHealthCheck(cache, slow_ms=0).check()

    assert report.status is HealthStatus.DEGRADED


@pytest.mark.parametrize(("field", "value"), [("name", " "), ("slow_ms", -1), ("slow_ms", "1")])
async def test_health_check_settings_are_checked(redis_url: str, field: str, value: Any) -> None:
    """A blank name or a negative round-trip limit is a configuration error naming it."""
    async with _cache(redis_url) as cache:
        with pytest.raises(ValueError, match=field):
            RedisHealthCheck(cache, **{field: value})


async def test_an_unreachable_server_raises_unavailable_without_the_password() -> None:
    """Every operation on a server nobody listens on raises UnavailableError naming the
    server, never its password."""
    cache = RedisCache(f"redis://:s3cret@127.0.0.1:{free_port()}/2")
    try:
        for call in (
            lambda: cache.get("k"),
            lambda: cache.set("k", b"v"),
            lambda: cache.delete("k"),
            lambda: cache.incr("k"),
            cache.ping,
            cache.server_info,
        ):
            with pytest.raises(UnavailableError) as caught:
                await call()
            assert "127.0.0.1" in str(caught.value) and "db 2" in str(caught.value)
            assert "s3cret" not in str(caught.value)
    finally:
        await cache.aclose()


async def test_keys_live_under_the_prefix_and_ttls_are_set(redis_url: str) -> None:
    """Keys are stored under the cache's prefix, with the ttl given (in milliseconds)."""
    prefix = f"test:{uuid.uuid4().hex}:"
    async with Redis.from_url(redis_url) as client:
        cache = RedisCache(client, key_prefix=prefix)
        await cache.set("k", b"v", ttl=30)
        await cache.set("far", b"v", ttl=1e300)
        assert await client.get(f"{prefix}k") == b"v"
        assert 29_000 < await client.pttl(f"{prefix}k") <= 30_000
        assert await client.pttl(f"{prefix}far") > 10**14
        assert await cache.ping() > 0
        await cache.aclose()  # a given client is the caller's: it stays usable
        assert await cache.delete("k", "far") == 2


async def test_incr_of_a_non_integer_names_the_key_and_value(redis_url: str) -> None:
    """incr of a value that is not an integer raises ValidationError with the stored value."""
    async with _cache(redis_url) as cache:
        await cache.set("n", b"abc", ttl=60)
        with pytest.raises(ValidationError, match="'n'") as caught:
            await cache.incr("n")

    assert caught.value.value == b"abc"


async def test_a_server_out_of_memory_refuses_writes_as_unavailable(
    own_redis: RedisProcess,
) -> None:
    """A server that refuses writes (out of memory) raises UnavailableError for them,
    while reads still answer."""
    async with Redis.from_url(own_redis.url) as admin:
        await admin.config_set("maxmemory", 1)
        await admin.config_set("maxmemory-policy", "noeviction")
    async with _cache(own_redis.url) as cache:
        for write in (lambda: cache.set("k", b"v"), lambda: cache.incr("n")):
            with pytest.raises(UnavailableError, match="OutOfMemoryError"):
                await write()
        assert await cache.get("k") is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"socket_timeout": 0}, "socket_timeout"),
        ({"connect_timeout": float("nan")}, "connect_timeout"),
        ({"retries": -1}, "retries"),
        ({"key_prefix": None}, "key_prefix"),
        ({"key_prefix": ""}, "key_prefix"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any], message: str) -> None:
    """A setting out of range is a configuration error naming it."""
    with pytest.raises(ValueError, match=message):
        RedisCache("redis://127.0.0.1:6379/0", **kwargs)


@pytest.mark.parametrize("server", ["http://127.0.0.1:6379", "redis://:pw@host:port/0", 42])
def test_a_bad_url_is_refused_without_its_password(server: Any) -> None:
    """What is not a Redis URL is refused with a ValueError that does not show a password."""
    with pytest.raises(ValueError) as caught:
        RedisCache(server)

    assert "pw" not in str(caught.value)


def test_a_given_client_keeps_its_settings() -> None:
    """Timeouts cannot be set for a given client, and a client that decodes responses
    (values would come back as text) is refused."""
    with pytest.raises(ValueError, match="socket_timeout"):
        RedisCache(Redis(), socket_timeout=1)
    with pytest.raises(ValueError, match="decode"):
        RedisCache(Redis(decode_responses=True))
