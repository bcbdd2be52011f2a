"""Shared checks of keyset pagination, run by each suite on its own paged lists.

A list is given as ``fetch(uow, request)``, a call of the port method under test with its other
arguments bound. The expected order is computed here from the items: by ``(sort value, id)``,
both reversed when descending, as :mod:`ports.pagination` states.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import pytest

from ports.errors import ValidationError
from ports.pagination import Page, PageRequest
from ports.unit_of_work import UnitOfWork
from tests.contract.conftest import Backend

__all__ = [
    "Fetch",
    "assert_keyset_pagination",
    "assert_rejects_bad_requests",
    "keyset_order",
    "walk",
]

Fetch = Callable[[UnitOfWork, PageRequest], Awaitable[Page[Any]]]
SortKey = Callable[[Any], Any]

_MAX_PAGES = 1000


async def fetch_page(backend: Backend, fetch: Fetch, request: PageRequest) -> Page[Any]:
    """One page, read in a fresh unit of work."""
    async with backend.uow() as uow:
        return await fetch(uow, request)


async def walk(
    backend: Backend,
    fetch: Fetch,
    *,
    limit: int,
    sort: str | None = None,
    descending: bool = False,
    cursor: str | None = None,
) -> list[Page[Any]]:
    """Every page from ``cursor`` on, each read in its own unit of work, until a page has no
    next cursor. Checks that no page exceeds ``limit``."""
    pages: list[Page[Any]] = []
    while len(pages) < _MAX_PAGES:
        request = PageRequest(limit=limit, cursor=cursor, sort=sort, descending=descending)
        page = await fetch_page(backend, fetch, request)
        assert len(page) <= limit, f"a page of {len(page)} items exceeds limit {limit}"
        pages.append(page)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
    raise AssertionError(f"pagination did not end within {_MAX_PAGES} pages")


def ids_of(pages: Sequence[Page[Any]]) -> list[Any]:
    return [item.id for page in pages for item in page]


def keyset_order(items: Sequence[Any], key: SortKey, *, descending: bool) -> list[Any]:
    """``items`` in keyset order: by ``(key(item), item.id)``, reversed when descending."""
    return sorted(items, key=lambda item: (key(item), item.id), reverse=descending)


async def assert_keyset_pagination(
    backend: Backend,
    fetch: Fetch,
    items: Sequence[Any],
    keys: Mapping[str, SortKey],
    *,
    offered: Sequence[str],
    limit: int = 3,
) -> None:
    """Walking the pages with every offered sort, ascending and descending, yields every item
    exactly once in keyset order; full pages until the last, which ends with the last item;
    with no sort given the first offered sort applies; a page holding every item is the last.
    """
    assert tuple(keys) == tuple(offered), "the check must cover every sort the port offers"
    assert len(items) > limit, "items must fill more than one page"
    for sort, key in keys.items():
        for descending in (False, True):
            expected = [i.id for i in keyset_order(items, key, descending=descending)]
            pages = await walk(backend, fetch, limit=limit, sort=sort, descending=descending)
            assert ids_of(pages) == expected, f"sort={sort!r} descending={descending}"
            assert all(len(p) == limit for p in pages[:-1]), "only the last page may be short"
            assert len(pages[-1]) > 0, "the page holding the last item must have no next cursor"
    default = [i.id for i in keyset_order(items, keys[offered[0]], descending=False)]
    assert ids_of(await walk(backend, fetch, limit=limit)) == default
    whole = await walk(backend, fetch, limit=len(items))
    assert len(whole) == 1, "a page holding every item must have no next cursor"


async def assert_rejects_bad_requests(
    backend: Backend, fetch: Fetch, *, offered: Sequence[str]
) -> None:
    """A cursor made for another sort or direction, a garbage cursor and a sort the port does
    not offer are each rejected with ValidationError. Needs at least two items."""
    first = await fetch_page(backend, fetch, PageRequest(limit=1, sort=offered[0]))
    cursor = first.next_cursor
    assert cursor is not None, "needs at least two items"
    foreign = [PageRequest(limit=1, cursor=cursor, sort=offered[0], descending=True)]
    foreign += [PageRequest(limit=1, cursor=cursor, sort=other) for other in offered[1:]]
    bad = [
        *foreign,
        PageRequest(limit=1, cursor="not a cursor!", sort=offered[0]),
        PageRequest(limit=1, cursor="bm90IGpzb24", sort=offered[0]),
        PageRequest(limit=1, sort="no_such_field"),
    ]
    for request in bad:
        with pytest.raises(ValidationError) as caught:
            await fetch_page(backend, fetch, request)
        assert caught.value.field in ("cursor", "sort"), request
