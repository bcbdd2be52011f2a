"""The Redis adapters: the cache port on a Redis server and its health check."""

from adapters.redis.cache import RedisCache
from adapters.redis.health import RedisHealthCheck

__all__ = ["RedisCache", "RedisHealthCheck"]
