"""Query helpers of the in-memory repositories: keyset pages, text matching, copies."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from ports.errors import ValidationError
from ports.pagination import Page, PageRequest, check_sort, decode_cursor, encode_cursor

__all__ = ["copied", "match_rank", "paginate", "words"]

T = TypeVar("T")

_WORD_RE = re.compile(r"[0-9a-z]+")


def copied(value: T) -> T:
    """A deep copy, so callers never hold the store's own objects."""
    return copy.deepcopy(value)


def paginate(
    rows: Iterable[T],
    request: PageRequest,
    *,
    sorts: Sequence[str],
    key: Callable[[T, str], Any] | None = None,
) -> Page[T]:
    """Keyset page over ``rows`` ordered by ``(sort field, id)``; ``key`` reads the sort
    value of a row (``getattr`` by default)."""
    sort = check_sort(request, sorts, sorts[0])
    read = key or (lambda row, field: getattr(row, field))

    def sort_key(row: T) -> tuple[Any, Any]:
        return (read(row, sort), row.id)  # type: ignore[attr-defined]

    ordered = sorted(rows, key=sort_key, reverse=request.descending)
    if request.cursor is not None:
        cursor = decode_cursor(request.cursor, sort=sort, descending=request.descending)
        after = (cursor.value, cursor.id)
        try:
            if request.descending:
                ordered = [r for r in ordered if sort_key(r) < after]
            else:
                ordered = [r for r in ordered if sort_key(r) > after]
        except TypeError as exc:
            raise ValidationError("cursor", request.cursor, "does not fit this list") from exc
    items = ordered[: request.limit]
    next_cursor = None
    if len(ordered) > request.limit:
        last = items[-1]
        value, last_id = sort_key(last)
        next_cursor = encode_cursor(sort, request.descending, _plain(value), last_id)
    return Page(tuple(copied(i) for i in items), next_cursor)


def _plain(value: Any) -> Any:
    return getattr(value, "value", value) if not isinstance(value, str) else value


def words(text: str) -> list[str]:
    """Lower-case words of ``text``: runs of letters and digits."""
    return _WORD_RE.findall(text.lower())


def match_rank(query: Sequence[str], document: str) -> int:
    """How often the query words occur in ``document``; 0 unless every word occurs."""
    doc = words(document)
    counts = [doc.count(w) for w in query]
    return sum(counts) if counts and all(counts) else 0
