"""In-memory adapters: working implementations of every port, backed by dicts.

They keep the rules of the SQL schema (unique keys, foreign keys and their cascades, soft
deletes) and the isolation of a real transaction, so that services and contract tests run
against them in milliseconds and behave as they will on PostgreSQL.
"""

from adapters.memory.database import MemoryDatabase
from adapters.memory.outbox import MemoryOutbox
from adapters.memory.unit_of_work import MemoryUnitOfWork

__all__ = ["MemoryDatabase", "MemoryOutbox", "MemoryUnitOfWork"]
