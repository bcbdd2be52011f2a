"""A run compares the repository's files by their states alone, and reads the whole entries
of the files it keeps only when it records a snapshot: those entries must still be the
files it compared, or the run stops rather than record a mixture."""

from __future__ import annotations

import functools

import attrs
import pytest

from adapters.memory import MemoryDatabase, MemoryUnitOfWork
from application.indexing import _kept_files
from domain.files import FileIndex
from domain.projects import Repository
from ports.errors import ConcurrencyError
from tests.contract.builders import add, file_hash, file_index, organization, project, repository


async def _stored(db: MemoryDatabase) -> tuple[Repository, list[FileIndex]]:
    org = organization()
    proj = project(org.id)
    repo = repository(proj.id)
    files = [file_index(repo.id, relative_path=p) for p in ("b.py", "a.py", "c.py")]
    async with MemoryUnitOfWork(db, system=True) as uow:
        for entity in (org, proj, repo, *files):
            await add(uow, entity)
        await uow.commit()
    return repo, files


async def test_the_kept_entries_come_back_whole_in_the_order_of_their_states() -> None:
    db = MemoryDatabase()
    repo, _ = await _stored(db)
    units = functools.partial(MemoryUnitOfWork, db, system=True)
    async with units() as uow:
        states = await uow.files.states(repo.id)
    kept = [states[2], states[0]]  # c.py, a.py

    entries = await _kept_files(units, repo, kept)

    assert [e.relative_path for e in entries] == ["c.py", "a.py"]
    assert [(e.id, e.file_hash) for e in entries] == [(s.id, s.file_hash) for s in kept]
    assert all(isinstance(e, FileIndex) for e in entries)


@pytest.mark.parametrize("change", ["modified", "removed"])
async def test_a_kept_file_changed_by_another_run_stops_the_run(change: str) -> None:
    db = MemoryDatabase()
    repo, files = await _stored(db)
    units = functools.partial(MemoryUnitOfWork, db, system=True)
    async with units() as uow:
        states = await uow.files.states(repo.id)
    survivors = [f for f in files if f.relative_path != "a.py"]
    if change == "modified":
        survivors.append(attrs.evolve(files[1], file_hash=file_hash("another run")))
    async with units() as uow:  # another run records its snapshot meanwhile
        await uow.files.upsert_snapshot(repo.id, survivors)
        await uow.commit()

    with pytest.raises(ConcurrencyError, match="another run"):
        await _kept_files(units, repo, states)
