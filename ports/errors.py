"""Errors the ports raise. Adapters translate driver errors into these, so no raw driver
exception crosses the service boundary."""

from __future__ import annotations

from typing import Any

from domain.errors import ValidationError as DomainValidationError

__all__ = [
    "ConcurrencyError",
    "DuplicateError",
    "NotFoundError",
    "PersistenceError",
    "TransactionAbortedError",
    "UnavailableError",
    "ValidationError",
]


class PersistenceError(Exception):
    """Base class of the errors raised by the ports."""


class NotFoundError(PersistenceError, LookupError):
    """The entity (or the parent a new row refers to) does not exist."""

    def __init__(self, entity: str, key: Any) -> None:
        self.entity = entity
        self.key = key
        super().__init__(f"{entity} not found: {key}")


class DuplicateError(PersistenceError):
    """A uniqueness rule would be broken; names the rule's columns and the clashing value."""

    def __init__(self, entity: str, key: str, value: Any) -> None:
        self.entity = entity
        self.key = key
        self.value = value
        super().__init__(f"{entity} with {key}={value!r} already exists")


class ConcurrencyError(PersistenceError):
    """A concurrent change won: the row changed since it was read, or the transaction could
    not be serialized. Retrying the whole unit of work may succeed."""


class TransactionAbortedError(PersistenceError):
    """A statement of this unit of work failed earlier, which aborted its transaction (as
    PostgreSQL does): nothing more can run in it and it cannot commit; roll back (leave the
    block) and start again."""

    def __init__(self, cause: str = "an earlier statement failed") -> None:
        super().__init__(f"the transaction was aborted ({cause}); roll back and start again")


class UnavailableError(PersistenceError):
    """A server could not be reached or the connection was lost."""


class ValidationError(PersistenceError, DomainValidationError):
    """A request to a port was malformed (a bad cursor, a limit out of range, a sort key
    the port does not offer). Also a domain ValidationError, so callers catch both alike."""
