"""A unit of work that lets concurrent tasks interleave where a server would let them.

The in-memory store answers without ever handing control to the event loop, so asyncio
tasks running services on it take turns one whole unit at a time and never race. Wrapped
in :class:`Interleaved`, a unit hands control back (zero to a few times, at random) before
each repository call and before its commit, as a round trip to PostgreSQL does, so that
the tasks' units overlap and every check-then-write of a service meets the interleavings
it meets on a server.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Self

from domain.events import DomainEvent
from ports.unit_of_work import UnitOfWork

__all__ = ["Interleaved"]

_REPOSITORIES = frozenset(
    {
        "organizations",
        "users",
        "members",
        "projects",
        "repositories",
        "branches",
        "files",
        "analysis",
        "rules",
        "rule_configs",
        "issues",
        "measures",
        "quality_gates",
        "new_code",
    }
)


class Interleaved:
    """``unit`` (a UnitOfWork), handing control to the event loop before each repository
    call and before commit, ``0..max_yields`` times as ``rng`` draws."""

    def __init__(self, unit: UnitOfWork, rng: random.Random, *, max_yields: int = 3) -> None:
        self._unit = unit
        self._pause = functools.partial(_pause, rng, max_yields)
        self._repositories = {
            name: _Repository(getattr(unit, name), self._pause) for name in _REPOSITORIES
        }

    def __getattr__(self, name: str) -> Any:
        if name in _REPOSITORIES:
            return self._repositories[name]
        raise AttributeError(name)

    @property
    def actor(self) -> str | None:
        return self._unit.actor

    @property
    def organization_id(self) -> Any:
        return self._unit.organization_id

    async def __aenter__(self) -> Self:
        await self._unit.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._unit.__aexit__(exc_type, exc, tb)

    async def commit(self) -> None:
        await self._pause()
        await self._unit.commit()

    async def rollback(self) -> None:
        await self._unit.rollback()

    def add_event(self, event: DomainEvent) -> None:
        self._unit.add_event(event)

    @property
    def events(self) -> Sequence[DomainEvent]:
        return self._unit.events


class _Repository:
    """A repository whose coroutine methods first pause."""

    def __init__(self, repository: Any, pause: Callable[[], Awaitable[None]]) -> None:
        self._repository = repository
        self._pause = pause

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._repository, name)
        if not inspect.iscoroutinefunction(method):
            return method

        @functools.wraps(method)
        async def paused(*args: Any, **kwargs: Any) -> Any:
            await self._pause()
            return await method(*args, **kwargs)

        return paused


async def _pause(rng: random.Random, max_yields: int) -> None:
    for _ in range(rng.randint(0, max_yields)):
        await asyncio.sleep(0)
