"""What the rows of one run share: the sizes, the database, and the peer."""

from __future__ import annotations

from typing import Any

import attrs

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from tests.perf.harness import Sizes

__all__ = ["Context"]


@attrs.define(kw_only=True)
class Context:
    """``url`` is the scratch database (migrated), ``server_url`` its server (where the
    main job's rounds get databases of their own); ``peer`` the SQLAlchemy peer, or None
    with ``peer_missing`` saying why; ``redis_url`` a Redis server, or None with
    ``redis_missing`` saying why; ``details`` collects what the JSON report adds to the
    table (sweeps, pool samples)."""

    sizes: Sizes
    url: str
    database: PostgresDatabase
    server_url: str = ""
    peer: Any = None
    peer_missing: str | None = None
    redis_url: str | None = None
    redis_missing: str | None = None
    details: dict[str, Any] = attrs.Factory(dict)

    def uow(self) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self.database, system=True)
