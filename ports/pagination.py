"""Keyset pagination: a page of items plus an opaque cursor for the next one.

A cursor records the sort it was made for and the sort key of the last item returned, so
the next page starts strictly after it, whatever was inserted meanwhile. Ordering is by
``(sort field, id)``, both in the requested direction.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import attrs

from ports.errors import ValidationError

__all__ = [
    "MAX_PAGE_SIZE",
    "Cursor",
    "Page",
    "PageRequest",
    "check_sort",
    "decode_cursor",
    "encode_cursor",
]

T = TypeVar("T")
MAX_PAGE_SIZE = 1000


def _limit(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_PAGE_SIZE:
        raise ValidationError(
            "limit", value, f"must be an integer from 1 to {MAX_PAGE_SIZE}", entity="PageRequest"
        )


@attrs.frozen(kw_only=True)
class PageRequest:
    """Which page to return: ``limit`` items after ``cursor`` (None: the first page),
    ordered by ``sort`` (one of the fields the repository method offers, its default when
    None), descending if ``descending``."""

    limit: int = attrs.field(default=50, validator=_limit)
    cursor: str | None = None
    sort: str | None = None
    descending: bool = False


@attrs.frozen
class Page(Generic[T]):
    """Items of one page and the cursor of the next (None on the last page)."""

    items: tuple[T, ...]
    next_cursor: str | None = None

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@attrs.frozen
class Cursor:
    """A decoded cursor: the sort it belongs to and the last item's ``(value, id)``."""

    sort: str
    descending: bool
    value: Any
    id: Any


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot put {type(value).__name__} in a cursor")


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "t" in value:
            return dt.datetime.fromisoformat(value["t"])
        if "u" in value:
            return uuid.UUID(value["u"])
        raise ValueError("unknown tagged value")
    return value


def encode_cursor(sort: str, descending: bool, value: Any, last_id: Any) -> str:
    """The opaque cursor after an item whose sort field is ``value`` and id ``last_id``."""
    body = [sort, descending, _encode_value(value), _encode_value(last_id)]
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, sort: str, descending: bool) -> Cursor:
    """Decode ``cursor``; raises ValidationError if it is malformed or was made for
    another sort order."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(body, list) or len(body) != 4:
            raise ValueError("wrong shape")
        c_sort, c_desc, value, last_id = body
        decoded = Cursor(str(c_sort), bool(c_desc), _decode_value(value), _decode_value(last_id))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationError("cursor", cursor, "is not a cursor this service issued") from exc
    if decoded.sort != sort or decoded.descending != descending:
        raise ValidationError(
            "cursor",
            cursor,
            f"was made for sort {decoded.sort!r} (descending={decoded.descending}), "
            f"not {sort!r} (descending={descending})",
        )
    return decoded


def check_sort(request: PageRequest, allowed: Sequence[str], default: str) -> str:
    """The sort field of ``request`` (``default`` if unset); ValidationError if the
    repository method does not offer it."""
    sort = request.sort or default
    if sort not in allowed:
        raise ValidationError(
            "sort", sort, f"must be one of: {', '.join(allowed)}", entity="PageRequest"
        )
    return sort
