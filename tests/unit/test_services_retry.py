"""with_retry: reruns a whole operation when a concurrent change won."""

from __future__ import annotations

import attrs
import pytest

from adapters.memory.database import MemoryDatabase
from adapters.memory.unit_of_work import MemoryUnitOfWork
from application import update_project, with_retry
from domain.projects import Project
from ports.errors import ConcurrencyError, NotFoundError


class Flaky:
    """An operation that loses to a concurrent change ``failures`` times, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConcurrencyError(f"conflict {self.calls}")
        return "done"


async def test_with_retry_reruns_until_the_operation_succeeds() -> None:
    """Two ConcurrencyErrors, then success: the result of the third run is returned."""
    operation = Flaky(failures=2)
    assert await with_retry(operation, attempts=3, base_delay=0.001) == "done"
    assert operation.calls == 3


async def test_with_retry_gives_up_after_the_last_attempt() -> None:
    """When every attempt conflicts, the last ConcurrencyError propagates after
    exactly ``attempts`` runs."""
    operation = Flaky(failures=10)
    with pytest.raises(ConcurrencyError, match="conflict 4"):
        await with_retry(operation, attempts=4, base_delay=0.001)
    assert operation.calls == 4


async def test_with_retry_does_not_retry_other_errors() -> None:
    """An error other than ConcurrencyError propagates from the first run."""
    calls = []

    async def missing() -> None:
        calls.append(1)
        raise NotFoundError("Project", "x")

    with pytest.raises(NotFoundError):
        await with_retry(missing, base_delay=0.001)
    assert len(calls) == 1


@pytest.mark.parametrize("attempts", [0, -1])
async def test_with_retry_needs_at_least_one_attempt(attempts: int) -> None:
    """Fewer than one attempt is a ValueError naming ``attempts``."""
    with pytest.raises(ValueError, match="attempts"):
        await with_retry(Flaky(0), attempts=attempts)


async def test_with_retry_reruns_a_unit_of_work_that_lost_a_race(
    db: MemoryDatabase, uow: MemoryUnitOfWork, project: Project
) -> None:
    """A unit whose read went stale because a rival committed first fails with
    ConcurrencyError; rerun, it reads afresh and both changes survive."""
    rival = MemoryUnitOfWork(db, system=True)
    runs = 0

    async def rename() -> None:
        nonlocal runs
        runs += 1
        async with uow:
            stored = await uow.projects.find_by_id(project.id)
            assert stored is not None
            if runs == 1:
                await update_project(rival, project.id, description="changed meanwhile")
            await uow.projects.update(attrs.evolve(stored, name="Renamed"))
            await uow.commit()

    await with_retry(rename, base_delay=0.001)
    assert runs == 2
    async with MemoryUnitOfWork(db, system=True) as fresh:
        stored = await fresh.projects.find_by_id(project.id)
    assert stored is not None
    assert (stored.name, stored.description) == ("Renamed", "changed meanwhile")
