"""PostgreSQL adapters: raw SQL through psycopg 3, a psycopg-pool connection pool, yoyo
migrations, and an embedded server for machines with none configured."""

from adapters.postgres.migrations import MigrationError, MigrationRunner
from adapters.postgres.outbox import PostgresOutbox
from adapters.postgres.pool import PoolSettings, create_pool, open_pool, pool_stats
from adapters.postgres.unit_of_work import PostgresUnitOfWork

__all__ = [
    "MigrationError",
    "MigrationRunner",
    "PoolSettings",
    "PostgresOutbox",
    "PostgresUnitOfWork",
    "create_pool",
    "open_pool",
    "pool_stats",
]
