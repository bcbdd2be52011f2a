"""The Redis cache on real servers: cached reads through it, an outage and a recovery,
its health check, and what it adds to the cache contract (errors, settings).

The outage test stops and restarts a ``redis-server`` process it starts itself on a free
port (a shared server cannot be stopped), so it needs the binary; the other tests use the
server tests/servers.py chooses. Either skips with the reason when it cannot be had.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator

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
from tests.servers import redis_server

SERVER_OPTIONS = ("--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
"""Loopback only, nothing persisted: a restarted server starts empty."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisProcess:
    """A ``redis-server`` on a fixed loopback port that can be stopped and started again."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), *SERVER_OPTIONS],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    """A Redis server this test owns (started, and stopped at the end if still running)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed: the outage tests start and stop their own")
    server = RedisProcess(binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()


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


@contextlib.asynccontextmanager
async def _cache(url: str, **settings) -> AsyncIterator[RedisCache]:
    cache = RedisCache(url, key_prefix=f"test:{uuid.uuid4().hex}:", **settings)
    try:
        yield cache
    finally:
        await cache.aclose()


async def test_reads_survive_an_outage_and_recover(own_redis):
    """Reads go through Redis; with the server stopped they are answered from the store
    with errors counted and nothing raised; once it runs again on the same port, reads
    are cached and hit again."""
    db = MemoryDatabase()
    organization = await register_organization(MemoryUnitOfWork(db), name="Acme", slug="acme")
    project = await create_project(
        MemoryUnitOfWork(db), organization.id, name="Billing", slug="billing", repository_url="x"
    )
    async with _cache(own_redis.url, socket_timeout=1, connect_timeout=1) as cache:
        queries = CachedQueries(cache, JsonCodec(), lambda: MemoryUnitOfWork(db))
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


async def test_health_is_unhealthy_while_the_server_is_down(own_redis):
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


async def test_health_reports_the_server_and_the_read_counters(redis_url):
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


async def test_health_is_degraded_when_the_round_trip_is_slow(redis_url):
    """A round trip longer than ``slow_ms`` makes the report DEGRADED."""
    async with _cache(redis_url) as cache:
        report = await RedisHealthCheck(cache, slow_ms=0).check()

    assert report.status is HealthStatus.DEGRADED


@pytest.mark.parametrize(("field", "value"), [("name", " "), ("slow_ms", -1), ("slow_ms", "1")])
async def test_health_check_settings_are_checked(redis_url, field, value):
    """A blank name or a negative round-trip limit is a configuration error naming it."""
    async with _cache(redis_url) as cache:
        with pytest.raises(ValueError, match=field):
            RedisHealthCheck(cache, **{field: value})


async def test_an_unreachable_server_raises_unavailable_without_the_password():
    """Every operation on a server nobody listens on raises UnavailableError naming the
    server, never its password."""
    cache = RedisCache(f"redis://:s3cret@127.0.0.1:{_free_port()}/2")
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


async def test_keys_live_under_the_prefix_and_ttls_are_set(redis_url):
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


async def test_incr_of_a_non_integer_names_the_key_and_value(redis_url):
    """incr of a value that is not an integer raises ValidationError with the stored value."""
    async with _cache(redis_url) as cache:
        await cache.set("n", b"abc", ttl=60)
        with pytest.raises(ValidationError, match="'n'") as caught:
            await cache.incr("n")

    assert caught.value.value == b"abc"


async def test_a_server_out_of_memory_refuses_writes_as_unavailable(own_redis):
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
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    """A setting out of range is a configuration error naming it."""
    with pytest.raises(ValueError, match=message):
        RedisCache("redis://127.0.0.1:6379/0", **kwargs)


@pytest.mark.parametrize("server", ["http://127.0.0.1:6379", "redis://:pw@host:port/0", 42])
def test_a_bad_url_is_refused_without_its_password(server):
    """What is not a Redis URL is refused with a ValueError that does not show a password."""
    with pytest.raises(ValueError) as caught:
        RedisCache(server)

    assert "pw" not in str(caught.value)


def test_a_given_client_keeps_its_settings():
    """Timeouts cannot be set for a given client, and a client that decodes responses
    (values would come back as text) is refused."""
    with pytest.raises(ValueError, match="socket_timeout"):
        RedisCache(Redis(), socket_timeout=1)
    with pytest.raises(ValueError, match="decode"):
        RedisCache(Redis(decode_responses=True))
