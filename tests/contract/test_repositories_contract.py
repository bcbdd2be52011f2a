"""Contract of RepositoryRepository: round trips, a parent project, optimistic concurrency,
and a delete that cascades to branches, files and the results and metrics of those files."""

from __future__ import annotations

import attrs
import pytest

from domain.ids import ProjectId, RepositoryId, new_id
from ports.errors import ConcurrencyError, NotFoundError
from ports.pagination import PageRequest
from tests.contract.builders import (
    analysis_job,
    analysis_result,
    at,
    branch,
    code_metric,
    commit_hash,
    fields_of,
    file_index,
    read,
    repository,
    scaffold,
    store,
)
from tests.contract.conftest import Backend


async def test_create_then_find_round_trips_every_field(backend: Backend) -> None:
    """A repository reads back by id with every field."""
    base = await scaffold(backend)
    repo = repository(
        base.project.id,
        current_commit=commit_hash("head"),
        default_branch="develop",
        size_bytes=5_000_000_000,
        file_count=1234,
        last_sync_at=at(4),
        sync_status="failed",
        sync_error="remote hung up",
        created_at=at(0),
        updated_at=at(1),
    )
    await store(backend, repo)

    found = await read(backend, lambda uow: uow.repositories.find_by_id(repo.id))
    assert found is not None

    assert attrs.asdict(found) == attrs.asdict(repo)
    assert (
        await read(backend, lambda uow: uow.repositories.find_by_id(RepositoryId(new_id()))) is None
    )


async def test_repository_of_an_unknown_project_raises_not_found(backend: Backend) -> None:
    """Creating a repository needs its project to exist."""
    orphan = repository(ProjectId(new_id()))

    with pytest.raises(NotFoundError):
        await store(backend, orphan)

    assert await read(backend, lambda uow: uow.repositories.find_by_id(orphan.id)) is None


async def test_list_by_project_returns_only_the_project_repositories(backend: Backend) -> None:
    """Listing a project's repositories returns all of them and no other project's."""
    base, other = await scaffold(backend), await scaffold(backend)
    extra = repository(base.project.id)
    await store(backend, extra)

    listed = await read(backend, lambda uow: uow.repositories.list_by_project(base.project.id))

    assert {r.id for r in listed} == {base.repository.id, extra.id}
    assert other.repository.id not in {r.id for r in listed}


async def test_update_returns_the_stored_entity_with_a_newer_updated_at(backend: Backend) -> None:
    """update stores the changes and returns them with an updated_at later than before."""
    repo = repository((await scaffold(backend)).project.id, created_at=at(0), updated_at=at(0))
    await store(backend, repo)
    changed = attrs.evolve(
        repo, current_commit=commit_hash("new"), sync_status="synced", last_sync_at=at(9)
    )

    async with backend.uow() as uow:
        updated = await uow.repositories.update(changed)
        await uow.commit()

    assert updated.updated_at > repo.updated_at
    assert fields_of(updated, "updated_at") == fields_of(changed, "updated_at")
    found = await read(backend, lambda uow: uow.repositories.find_by_id(repo.id))
    assert found is not None
    assert attrs.asdict(found) == attrs.asdict(updated)


async def test_update_with_a_stale_entity_raises_concurrency_error(backend: Backend) -> None:
    """Updating from a copy read before another update raises ConcurrencyError."""
    repo = (await scaffold(backend)).repository
    async with backend.uow() as uow:
        await uow.repositories.update(attrs.evolve(repo, sync_status="syncing"))
        await uow.commit()

    with pytest.raises(ConcurrencyError):
        async with backend.uow() as uow:
            await uow.repositories.update(attrs.evolve(repo, sync_status="failed"))
            await uow.commit()

    found = await read(backend, lambda uow: uow.repositories.find_by_id(repo.id))
    assert found is not None
    assert found.sync_status == "syncing"


async def test_update_and_delete_of_an_unknown_id_raise_not_found(backend: Backend) -> None:
    """update and delete of a repository that was never stored raise NotFoundError."""
    base = await scaffold(backend)

    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.repositories.update(repository(base.project.id))
    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.repositories.delete(RepositoryId(new_id()))


async def test_delete_cascades_to_branches_files_and_their_results_and_metrics(
    backend: Backend,
) -> None:
    """Deleting a repository removes its branches, files, and those files' results and
    metrics, but not the job, its file-less results, nor another repository's data."""
    base, other = await scaffold(backend), await scaffold(backend)
    repo = base.repository
    doomed, kept = file_index(repo.id), file_index(other.repository.id)
    job = analysis_job(base.project.id)
    loose = analysis_result(job.id)
    await store(
        backend,
        doomed,
        kept,
        job,
        analysis_result(job.id, file_id=doomed.id),
        analysis_result(job.id, file_id=kept.id),
        loose,
        code_metric(doomed.id, job.id),
        code_metric(kept.id, job.id),
    )
    async with backend.uow() as uow:
        await uow.branches.replace_all(repo.id, [branch(repo.id, "main")])
        await uow.repositories.delete(repo.id)
        await uow.commit()

    async with backend.uow() as uow:
        assert await uow.repositories.find_by_id(repo.id) is None
        assert await uow.branches.list_by_repository(repo.id) == []
        assert await uow.files.find_by_id(doomed.id) is None
        assert await uow.files.count_by_repository(repo.id) == 0
        assert await uow.analysis.find_results_by_file(doomed.id) == []
        assert await uow.analysis.find_metrics_by_file(doomed.id) == []
        assert await uow.analysis.find_job_by_id(job.id) is not None
        results = await uow.analysis.find_results_by_job(job.id, PageRequest())
        assert {r.file_id for r in results} == {kept.id, None}
        assert len(await uow.analysis.find_metrics_by_file(kept.id)) == 1
        assert await uow.files.find_by_id(kept.id) is not None
