"""Translation of driver errors into port errors.

Services never see a psycopg exception: a unique violation becomes DuplicateError naming
the key, a foreign-key violation NotFoundError naming the missing parent, a serialization
failure or deadlock ConcurrencyError, a lost connection or an exhausted pool
UnavailableError, a rejected value (check, length, range, text the server cannot take, a
value too large to index) ValidationError, never an outage.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg import errors as pg
from psycopg_pool import PoolTimeout

from ports.errors import (
    ConcurrencyError,
    DuplicateError,
    NotFoundError,
    PersistenceError,
    TransactionAbortedError,
    UnavailableError,
    ValidationError,
)

__all__ = ["ENTITY_OF_TABLE", "translate", "translated"]

ENTITY_OF_TABLE = {
    "organizations": "organization",
    "users": "user",
    "organization_members": "organization member",
    "projects": "project",
    "repositories": "repository",
    "repository_branches": "repository branch",
    "file_index": "file",
    "analysis_jobs": "analysis job",
    "analysis_results": "analysis result",
    "code_metrics": "code metric",
    "rules": "rule",
    "project_rule_configs": "project rule config",
    "outbox_events": "outbox event",
    "file_history": "file history entry",
    "issues": "issue",
    "issue_changes": "issue change",
    "new_code_periods": "new code period",
    "quality_gates": "quality gate",
    "project_quality_gates": "project quality gate",
    "analysis_measures": "analysis measures",
    "live_measures": "live measures",
    "analysis_gates": "analysis gate",
}

_KEY_RE = re.compile(r"Key \((?P<cols>.+?)\)=\((?P<vals>.*)\)")
_TABLE_RE = re.compile(r'table "(?P<table>[^"]+)"')


def _entity(table: str | None) -> str:
    return ENTITY_OF_TABLE.get(table or "", table or "row")


def _key(detail: str | None) -> tuple[str, str]:
    match = _KEY_RE.search(detail or "")
    if not match:
        return "key", "?"
    cols = match.group("cols")
    return (cols if "," not in cols else f"({cols})"), match.group("vals")


def translate(exc: BaseException) -> BaseException:
    """The port error for a driver error (``exc`` itself if it is not a driver error)."""
    if isinstance(exc, PersistenceError):
        return exc
    if isinstance(exc, PoolTimeout):
        return UnavailableError(f"no database connection available: {exc}")
    if not isinstance(exc, psycopg.Error):
        return exc
    diag = exc.diag
    detail = diag.message_detail
    if isinstance(exc, pg.UniqueViolation):
        column, value = _key(detail)
        return DuplicateError(_entity(diag.table_name), column, value)
    if isinstance(exc, pg.ForeignKeyViolation):
        column, value = _key(detail)
        if detail and "is still referenced" in detail:
            found = _TABLE_RE.search(detail)
            referencing = _entity(found.group("table") if found else None)
            return ValidationError(
                column,
                value,
                f"is still referenced by {referencing}",
                entity=_entity(diag.table_name),
            )
        parent = _TABLE_RE.search(detail or "")
        return NotFoundError(_entity(parent.group("table") if parent else None), value)
    if isinstance(exc, pg.InsufficientPrivilege) and "row-level security" in str(exc):
        # a row written for another organization than the unit's: to the unit, that
        # organization is not there
        return NotFoundError("organization", "outside this unit's organization")
    if isinstance(exc, pg.SerializationFailure | pg.DeadlockDetected | pg.LockNotAvailable):
        return ConcurrencyError(f"concurrent transaction conflict: {diag.message_primary}")
    if isinstance(
        exc,
        pg.CheckViolation
        | pg.NotNullViolation
        | pg.StringDataRightTruncation
        | pg.NumericValueOutOfRange
        | pg.InvalidTextRepresentation
        | pg.InvalidDatetimeFormat,
    ):
        field = diag.column_name or diag.constraint_name or "value"
        return ValidationError(
            field, detail or "", diag.message_primary or str(exc), entity=_entity(diag.table_name)
        )
    if isinstance(exc, psycopg.DataError | pg.ProgramLimitExceeded):
        # a value the server cannot take (bad text, out of range, too large to index):
        # the request is wrong, the database is fine
        field = diag.column_name or "value"
        return ValidationError(
            field,
            detail or "",
            diag.message_primary or str(exc),
            entity=_entity(diag.table_name),
        )
    if isinstance(exc, pg.InFailedSqlTransaction):
        return TransactionAbortedError()
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return UnavailableError(f"database unavailable: {exc}")
    if isinstance(exc, pg.AdminShutdown | pg.CannotConnectNow | pg.CrashShutdown):
        return UnavailableError(f"database unavailable: {exc}")
    return exc


class _Translated:
    """The context of :func:`translated`. It holds no state, so one serves every block:
    every statement a repository runs enters one, and a generator-based context would be
    made and driven for each."""

    __slots__ = ()

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:  # never swallows: no exception, or one that goes on as it is
        if isinstance(exc, Exception):
            mapped: Any = translate(exc)
            if mapped is not exc:
                raise mapped from exc


_TRANSLATED = _Translated()


def translated() -> _Translated:
    """An ``async with`` context that re-raises driver errors raised in the block as port
    errors."""
    return _TRANSLATED
