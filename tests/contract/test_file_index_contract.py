"""Contract of FileIndexRepository: round trips, paths unique per repository among live
files, optimistic concurrency, soft deletes, paged lists and filters, bulk status updates,
snapshots (renames, restores, removals) and search, and the files' history."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence
from typing import Any

import attrs
import pytest

from domain.enums import AnalysisStatus, ProgrammingLanguage
from domain.files import FileHistoryEntry, FileIndex
from domain.ids import FileHistoryId, FileId, JobId, RepositoryId, new_id
from domain.reports import SnapshotResult
from domain.values import (
    ClassSignature,
    ComplexityMetrics,
    ExportDeclaration,
    FileMetadata,
    FunctionSignature,
    ImportDeclaration,
)
from ports.errors import ConcurrencyError, DuplicateError, NotFoundError
from ports.pagination import Page, PageRequest
from ports.repositories import FILE_SORTS
from ports.unit_of_work import UnitOfWork
from tests.contract.builders import (
    analysis_job,
    analysis_result,
    at,
    code_metric,
    fields_of,
    file_hash,
    file_index,
    read,
    scaffold,
    store,
)
from tests.contract.conftest import Backend
from tests.contract.paging import (
    Fetch,
    assert_keyset_pagination,
    assert_rejects_bad_requests,
    walk,
)

RICH_METADATA = FileMetadata(
    encoding="latin-1",
    has_bom=True,
    line_endings="crlf",
    complexity_metrics=ComplexityMetrics(
        nloc=120, function_count=2, cyclomatic_total=9, cyclomatic_average=4.5, cyclomatic_max=7
    ),
    imports=(ImportDeclaration(module="os.path", names=("join",), alias="p", line=1),),
    exports=(ExportDeclaration(name="Parser", kind="class", line=10),),
    functions=(
        FunctionSignature(
            name="parse",
            parameters=("text: str", "strict: bool = False"),
            return_type="Tree",
            line_start=20,
            line_end=60,
            complexity=7,
            nloc=35,
            is_async=True,
        ),
    ),
    classes=(
        ClassSignature(
            name="Parser", bases=("Base",), methods=("run",), line_start=10, line_end=80
        ),
    ),
    description="Parses configuration files",
)


def paths(pages_or_files: Iterable[FileIndex]) -> list[str]:
    return [f.relative_path for f in pages_or_files]


async def walk_files(backend: Backend, fetch: Fetch, limit: int = 2) -> list[FileIndex]:
    return [f for page in await walk(backend, fetch, limit=limit) for f in page]


async def snapshot(
    backend: Backend, repository_id: RepositoryId, files: Sequence[FileIndex], *, prune: bool = True
) -> SnapshotResult:
    async with backend.uow() as uow:
        result = await uow.files.upsert_snapshot(repository_id, files, prune=prune)
        await uow.commit()
    return result


async def test_create_then_find_round_trips_every_field(backend: Backend) -> None:
    """A file reads back by id and by path with every field, metadata included."""
    repo = (await scaffold(backend)).repository
    source = file_index(
        repo.id,
        relative_path="src/config/parser.py",
        language="python",
        size_bytes=4096,
        line_count=120,
        content_hash=file_hash("normalized"),
        last_modified=at(-30),
        analysis_status="analyzed",
        metadata=RICH_METADATA,
        created_at=at(0),
        updated_at=at(1),
    )
    await store(backend, source)

    by_id = await read(backend, lambda uow: uow.files.find_by_id(source.id))
    assert by_id is not None
    by_path = await read(backend, lambda uow: uow.files.find_by_path(repo.id, source.relative_path))
    assert by_path is not None

    assert attrs.asdict(by_id) == attrs.asdict(source)
    assert attrs.asdict(by_path) == attrs.asdict(source)
    assert await read(backend, lambda uow: uow.files.find_by_path(repo.id, "nope.py")) is None
    assert await read(backend, lambda uow: uow.files.find_by_id(FileId(new_id()))) is None


async def test_duplicate_path_in_the_repository_raises_duplicate_error(backend: Backend) -> None:
    """A path can be indexed once per repository, and again in another repository."""
    repo, other = (await scaffold(backend)).repository, (await scaffold(backend)).repository
    first = file_index(repo.id, relative_path="a/b.py")
    await store(backend, first, file_index(other.id, relative_path="a/b.py"))
    clash = file_index(repo.id, relative_path="a/b.py")

    with pytest.raises(DuplicateError):
        await store(backend, clash)

    assert await read(backend, lambda uow: uow.files.find_by_id(clash.id)) is None


async def test_file_of_an_unknown_repository_raises_not_found(backend: Backend) -> None:
    """Indexing a file needs its repository to exist."""
    orphan = file_index(RepositoryId(new_id()))

    with pytest.raises(NotFoundError):
        await store(backend, orphan)

    assert await read(backend, lambda uow: uow.files.find_by_id(orphan.id)) is None


async def test_update_returns_the_stored_entity_with_a_newer_updated_at(backend: Backend) -> None:
    """update stores the changes and returns them with an updated_at later than before."""
    repo = (await scaffold(backend)).repository
    source = file_index(repo.id, created_at=at(0), updated_at=at(0))
    await store(backend, source)
    changed = attrs.evolve(
        source, file_hash=file_hash("v2"), analysis_status="analyzing", metadata=RICH_METADATA
    )

    async with backend.uow() as uow:
        updated = await uow.files.update(changed)
        await uow.commit()

    assert updated.updated_at > source.updated_at
    assert fields_of(updated, "updated_at") == fields_of(changed, "updated_at")
    found = await read(backend, lambda uow: uow.files.find_by_id(source.id))
    assert found is not None
    assert attrs.asdict(found) == attrs.asdict(updated)


async def test_update_with_a_stale_entity_raises_concurrency_error(backend: Backend) -> None:
    """Updating from a copy read before another update raises ConcurrencyError."""
    repo = (await scaffold(backend)).repository
    source = file_index(repo.id)
    await store(backend, source)
    async with backend.uow() as uow:
        await uow.files.update(attrs.evolve(source, line_count=1))
        await uow.commit()

    with pytest.raises(ConcurrencyError):
        async with backend.uow() as uow:
            await uow.files.update(attrs.evolve(source, line_count=2))
            await uow.commit()

    found = await read(backend, lambda uow: uow.files.find_by_id(source.id))
    assert found is not None
    assert found.line_count == 1


async def test_update_and_delete_of_an_unknown_id_raise_not_found(backend: Backend) -> None:
    """update and delete of a file that was never stored raise NotFoundError."""
    repo = (await scaffold(backend)).repository

    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.files.update(file_index(repo.id))
    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.files.delete(FileId(new_id()))


async def test_delete_marks_the_file_deleted_and_keeps_its_past(backend: Backend) -> None:
    """Deleting a file keeps it, marked deleted, with its results, metrics and history; it
    drops out of lookups by path, lists, counts and searches, its path is free again, and
    deleting it twice raises NotFoundError."""
    base = await scaffold(backend)
    doomed = file_index(base.repository.id, relative_path="src/doomed.py")
    kept = file_index(base.repository.id, relative_path="src/kept.py")
    job = analysis_job(base.project.id)
    await store(
        backend,
        doomed,
        kept,
        job,
        analysis_result(job.id, file_id=doomed.id),
        code_metric(doomed.id, job.id),
    )

    async with backend.uow() as uow:
        await uow.files.delete(doomed.id)
        await uow.commit()

    async with backend.uow() as uow:
        found = await uow.files.find_by_id(doomed.id)
        assert found is not None and found.analysis_status is AnalysisStatus.DELETED
        assert len(await uow.analysis.find_results_by_file(doomed.id)) == 1
        assert len(await uow.analysis.find_metrics_by_file(doomed.id)) == 1
        assert [e.job_id for e in await uow.files.history(doomed.id)] == [job.id]
        assert await uow.files.find_by_path(base.repository.id, "src/doomed.py") is None
        listed = await uow.files.list_by_repository(base.repository.id, PageRequest())
        assert paths(listed) == ["src/kept.py"]
        deleted = await uow.files.list_by_repository(
            base.repository.id, PageRequest(), status=AnalysisStatus.DELETED
        )
        assert paths(deleted) == ["src/doomed.py"]
        assert await uow.files.count_by_repository(base.repository.id) == 1
        assert await uow.files.search([base.repository.id], "doomed") == []
        with pytest.raises(NotFoundError):
            await uow.files.delete(doomed.id)
    successor = file_index(base.repository.id, relative_path="src/doomed.py")
    await store(backend, successor)
    found = await read(
        backend, lambda uow: uow.files.find_by_path(base.repository.id, "src/doomed.py")
    )
    assert found is not None
    assert found.id == successor.id


async def test_states_give_every_file_without_its_metadata(backend: Backend) -> None:
    """``states`` lists every file of the repository, deleted ones too, by path then id,
    each with what the whole entry says of its identity, hash, lines and skipping; another
    repository's files and an unknown repository give none."""
    base = await scaffold(backend)
    other = await scaffold(backend)
    repo = base.repository.id
    rich = file_index(repo, relative_path="src/b.py", line_count=120, metadata=RICH_METADATA)
    skipped = file_index(
        repo, relative_path="src/A.bin", line_count=0,
        metadata=FileMetadata(skipped_reason="binary file"),
    )  # fmt: skip
    doomed = file_index(repo, relative_path="src/a.py")
    await store(backend, rich, skipped, doomed, file_index(other.repository.id))
    async with backend.uow() as uow:
        await uow.files.delete(doomed.id)
        await uow.commit()
    successor = file_index(repo, relative_path="src/a.py")
    await store(backend, successor)

    async with backend.uow() as uow:
        states = await uow.files.states(repo)
        entries = {f.id: await uow.files.find_by_id(f.id) for f in states}
        assert await uow.files.states(RepositoryId(new_id())) == []
    assert [s.relative_path for s in states] == ["src/A.bin", "src/a.py", "src/a.py", "src/b.py"]
    assert [s.is_deleted for s in states if s.relative_path == "src/a.py"] in (
        [True, False],
        [False, True],
    )
    assert sorted(s.id for s in states) == sorted([rich.id, skipped.id, doomed.id, successor.id])
    for state in states:
        entry = entries[state.id]
        assert entry is not None
        assert state.relative_path == entry.relative_path
        assert state.file_hash == entry.file_hash
        assert state.is_deleted == entry.is_deleted
        assert state.line_count == entry.line_count
        assert state.skipped == (entry.metadata.skipped_reason is not None)
        assert state.updated_at == entry.updated_at
    ordered = [(s.relative_path.encode(), s.id.bytes) for s in states]
    assert ordered == sorted(ordered)


async def test_list_by_repository_pages_through_every_sort_in_keyset_order(
    backend: Backend,
) -> None:
    """Listing yields each of the repository's files once, in (sort field, id) order, for
    each sort."""
    repo, other = (await scaffold(backend)).repository, (await scaffold(backend)).repository
    shape = [(0, 300, 10), (2, 100, 30), (0, 200, 10), (1, 100, 20), (2, 50, 20), (3, 300, 5)]
    files = [
        file_index(
            repo.id,
            relative_path=f"pkg/f{n}.py",
            last_modified=at(m),
            size_bytes=size,
            line_count=lines,
        )
        for n, (m, size, lines) in zip([3, 0, 5, 1, 4, 2], shape, strict=True)
    ]
    await store(backend, *files, file_index(other.id))

    def fetch(uow: UnitOfWork, request: PageRequest) -> Awaitable[Page[FileIndex]]:
        return uow.files.list_by_repository(repo.id, request)

    await assert_keyset_pagination(
        backend,
        fetch,
        files,
        {
            "relative_path": lambda f: f.relative_path,
            "last_modified": lambda f: f.last_modified,
            "size_bytes": lambda f: f.size_bytes,
            "line_count": lambda f: f.line_count,
        },
        offered=FILE_SORTS,
    )
    await assert_rejects_bad_requests(backend, fetch, offered=FILE_SORTS)


async def test_list_by_repository_filters_by_language_and_status(backend: Backend) -> None:
    """The language and status filters each narrow the list, and combine."""
    repo = (await scaffold(backend)).repository
    py_new = file_index(repo.id, relative_path="a.py", language="python")
    py_done = file_index(
        repo.id, relative_path="b.py", language="python", analysis_status="analyzed"
    )
    rs_done = file_index(repo.id, relative_path="c.rs", language="rust", analysis_status="analyzed")
    await store(backend, py_new, py_done, rs_done)

    def listed(**filters: Any) -> Awaitable[Page[FileIndex]]:
        return read(
            backend, lambda uow: uow.files.list_by_repository(repo.id, PageRequest(), **filters)
        )

    assert paths(await listed(language=ProgrammingLanguage.PYTHON)) == ["a.py", "b.py"]
    assert paths(await listed(status=AnalysisStatus.ANALYZED)) == ["b.py", "c.rs"]
    both = await listed(language=ProgrammingLanguage.RUST, status=AnalysisStatus.ANALYZED)
    assert paths(both) == ["c.rs"]


async def test_find_by_language_pages_through_the_files_of_that_language(backend: Backend) -> None:
    """find_by_language returns every file of the language in the repository, paged."""
    repo, other = (await scaffold(backend)).repository, (await scaffold(backend)).repository
    python = [file_index(repo.id, relative_path=f"m{i}.py", language="python") for i in range(5)]
    await store(
        backend,
        *python,
        file_index(repo.id, relative_path="x.go", language="go"),
        file_index(repo.id, relative_path="y.txt", language=None),
        file_index(other.id, relative_path="m9.py", language="python"),
    )

    found = await walk_files(
        backend,
        lambda uow, request: uow.files.find_by_language(
            repo.id, ProgrammingLanguage.PYTHON, request
        ),
    )

    assert paths(found) == [f"m{i}.py" for i in range(5)]


async def test_find_modified_since_is_strictly_after(backend: Backend) -> None:
    """Only files modified strictly after the instant are returned."""
    repo = (await scaffold(backend)).repository
    files = [file_index(repo.id, relative_path=f"f{m}.py", last_modified=at(m)) for m in range(5)]
    await store(backend, *files)

    found = await walk_files(
        backend, lambda uow, request: uow.files.find_modified_since(repo.id, at(2), request)
    )

    assert paths(found) == ["f3.py", "f4.py"]


async def test_count_by_repository_counts_only_that_repository(backend: Backend) -> None:
    """count_by_repository counts the files of one repository."""
    repo, other = (await scaffold(backend)).repository, (await scaffold(backend)).repository
    await store(backend, *(file_index(repo.id) for _ in range(3)), file_index(other.id))

    assert await read(backend, lambda uow: uow.files.count_by_repository(repo.id)) == 3
    assert (
        await read(backend, lambda uow: uow.files.count_by_repository(RepositoryId(new_id()))) == 0
    )


async def test_bulk_update_status_sets_the_status_and_counts_existing_files(
    backend: Backend,
) -> None:
    """bulk_update_status changes the given files only and returns how many exist."""
    repo = (await scaffold(backend)).repository
    chosen, untouched = [file_index(repo.id) for _ in range(2)], file_index(repo.id)
    await store(backend, *chosen, untouched)
    ids = [f.id for f in chosen] + [FileId(new_id())]

    async with backend.uow() as uow:
        count = await uow.files.bulk_update_status(ids, AnalysisStatus.SKIPPED)
        await uow.commit()

    assert count == 2
    async with backend.uow() as uow:
        for f in chosen:
            found = await uow.files.find_by_id(f.id)
            assert found is not None
            assert found.analysis_status is AnalysisStatus.SKIPPED
        kept = await uow.files.find_by_id(untouched.id)
        assert kept is not None
        assert kept.analysis_status is AnalysisStatus.PENDING


async def test_upsert_snapshot_adds_modifies_keeps_and_marks_removed(backend: Backend) -> None:
    """A snapshot inserts new paths, updates changed hashes in place, leaves same hashes
    untouched and marks absent paths deleted (keeping them), reporting each."""
    repo = (await scaffold(backend)).repository
    same = file_index(repo.id, relative_path="same.py", analysis_status="analyzed")
    changed = file_index(
        repo.id, relative_path="changed.py", analysis_status="analyzed", created_at=at(0)
    )
    gone = [file_index(repo.id, relative_path=p) for p in ("gone1.py", "gone2.py")]
    await store(backend, same, changed, *gone)
    again = file_index(repo.id, relative_path="same.py", file_hash=same.file_hash, line_count=999)
    edited = file_index(repo.id, relative_path="changed.py", file_hash=file_hash("v2"))
    added = file_index(repo.id, relative_path="added.py")

    result = await snapshot(backend, repo.id, [again, edited, added])

    assert [(r.id, r.relative_path) for r in result.added] == [(added.id, "added.py")]
    assert [(r.id, r.relative_path) for r in result.modified] == [(changed.id, "changed.py")]
    assert {(r.id, r.relative_path) for r in result.removed} == {
        (g.id, g.relative_path) for g in gone
    }
    assert result.unchanged == 1 and result.renamed == () and result.restored == ()
    async with backend.uow() as uow:
        stored_same = await uow.files.find_by_id(same.id)
        assert stored_same is not None
        assert attrs.asdict(stored_same) == attrs.asdict(same)
        stored_edit = await uow.files.find_by_path(repo.id, "changed.py")
        assert stored_edit is not None
        expected_edit = attrs.evolve(edited, id=changed.id, created_at=changed.created_at)
        assert fields_of(stored_edit, "updated_at") == fields_of(expected_edit, "updated_at")
        assert stored_edit.analysis_status is AnalysisStatus.PENDING
        stored_added = await uow.files.find_by_id(added.id)
        assert stored_added is not None
        assert attrs.asdict(stored_added) == attrs.asdict(added)
        assert await uow.files.count_by_repository(repo.id) == 3
        for g in gone:
            stored_gone = await uow.files.find_by_id(g.id)
            assert stored_gone is not None
            assert stored_gone.analysis_status is AnalysisStatus.DELETED


async def test_upsert_snapshot_renames_keep_the_identity_and_may_exchange_paths(
    backend: Backend,
) -> None:
    """A stored file's id at another path is a rename (whatever its content), and two
    files may exchange their paths in one snapshot."""
    repo = (await scaffold(backend)).repository
    a = file_index(repo.id, relative_path="a.py", created_at=at(0))
    b = file_index(repo.id, relative_path="b.py", created_at=at(1))
    moved = file_index(repo.id, relative_path="old/moved.py", created_at=at(2))
    await store(backend, a, b, moved)

    result = await snapshot(
        backend,
        repo.id,
        [
            attrs.evolve(a, relative_path="b.py"),
            attrs.evolve(b, relative_path="a.py"),
            attrs.evolve(moved, relative_path="new/moved.py", file_hash=file_hash("edited")),
        ],
    )

    assert sorted((r.id, r.relative_path, r.previous_path) for r in result.renamed) == sorted(
        [(a.id, "b.py", "a.py"), (b.id, "a.py", "b.py"), (moved.id, "new/moved.py", "old/moved.py")]
    )
    assert result.added == () and result.removed == () and result.modified == ()
    async with backend.uow() as uow:
        at_a = await uow.files.find_by_path(repo.id, "a.py")
        at_b = await uow.files.find_by_path(repo.id, "b.py")
        assert at_a is not None and at_b is not None
        assert at_a.id == b.id
        assert at_b.id == a.id
        stored = await uow.files.find_by_path(repo.id, "new/moved.py")
        assert stored is not None
        assert (stored.id, stored.created_at, stored.file_hash) == (
            moved.id, moved.created_at, file_hash("edited"),
        )  # fmt: skip
        assert await uow.files.find_by_path(repo.id, "old/moved.py") is None


async def test_upsert_snapshot_restores_a_removed_path_with_its_identity(backend: Backend) -> None:
    """A path that comes back after its removal gets its file back (same id), whatever id
    the snapshot gave it; a live path is matched before a deleted one."""
    repo = (await scaffold(backend)).repository
    back = file_index(repo.id, relative_path="back.py", created_at=at(0))
    await store(backend, back)
    await snapshot(backend, repo.id, [])
    returning = file_index(repo.id, relative_path="back.py", file_hash=file_hash("again"))

    result = await snapshot(backend, repo.id, [returning])

    assert [(r.id, r.relative_path) for r in result.restored] == [(back.id, "back.py")]
    assert result.added == ()
    stored = await read(backend, lambda uow: uow.files.find_by_path(repo.id, "back.py"))
    assert stored is not None
    assert (stored.id, stored.file_hash) == (back.id, file_hash("again"))
    assert stored.analysis_status is not AnalysisStatus.DELETED


async def test_upsert_snapshot_without_prune_keeps_missing_paths(backend: Backend) -> None:
    """With prune=False, indexed paths absent from the snapshot are kept and not reported."""
    repo = (await scaffold(backend)).repository
    kept = file_index(repo.id, relative_path="kept.py")
    await store(backend, kept)
    added = file_index(repo.id, relative_path="added.py")

    result = await snapshot(backend, repo.id, [added], prune=False)

    assert [r.id for r in result.added] == [added.id]
    assert result.removed == () and result.modified == () and result.unchanged == 0
    found = await read(backend, lambda uow: uow.files.find_by_id(kept.id))
    assert found is not None
    assert attrs.asdict(found) == attrs.asdict(kept)


async def test_history_records_entries_per_job_and_file(backend: Backend) -> None:
    """History entries read back whole, oldest first; a job records one entry per file
    (DuplicateError), and an entry needs its file and its job (NotFoundError)."""
    base = await scaffold(backend)
    file = file_index(base.repository.id, relative_path="src/new.py")
    first, second = analysis_job(base.project.id), analysis_job(base.project.id)
    await store(backend, file, first, second)
    added = FileHistoryEntry(
        file_id=file.id, job_id=first.id, change="added", relative_path="src/old.py",
        file_hash=file_hash("1"), line_count=10, size_bytes=200, created_at=at(0),
    )  # fmt: skip
    renamed = FileHistoryEntry(
        file_id=file.id, job_id=second.id, change="renamed", relative_path="src/new.py",
        previous_path="src/old.py", file_hash=file_hash("1"), created_at=at(5),
    )  # fmt: skip

    async with backend.uow() as uow:
        assert await uow.files.record_history([renamed, added]) == 2
        await uow.commit()

    history = await read(backend, lambda uow: uow.files.history(file.id))
    assert [attrs.asdict(e) for e in history] == [attrs.asdict(added), attrs.asdict(renamed)]
    for bad, error in (
        (attrs.evolve(added, id=FileHistoryId(new_id())), DuplicateError),
        (attrs.evolve(added, id=FileHistoryId(new_id()), file_id=FileId(new_id())), NotFoundError),
        (attrs.evolve(added, id=FileHistoryId(new_id()), job_id=JobId(new_id())), NotFoundError),
    ):
        with pytest.raises(error):
            async with backend.uow() as uow:
                await uow.files.record_history([bad])
                await uow.commit()
    assert len(await read(backend, lambda uow: uow.files.history(file.id))) == 2


async def test_search_matches_path_words_and_metadata_description(backend: Backend) -> None:
    """Search finds files by a word of their path or of their description, only in the
    given repositories, at most limit of them."""
    repo, other = (await scaffold(backend)).repository, (await scaffold(backend)).repository
    client = file_index(repo.id, relative_path="src/payment_gateway/stripe-client.py")
    readme = file_index(
        repo.id,
        relative_path="docs/readme.md",
        language="markdown",
        metadata=FileMetadata(description="Explains refunds"),
    )
    elsewhere = file_index(other.id, relative_path="lib/stripe.py")
    await store(backend, client, readme, file_index(repo.id, relative_path="lib/utils.py"))
    await store(backend, elsewhere)

    async def search(
        repository_ids: Sequence[RepositoryId], text: str, limit: int = 20
    ) -> list[FileId]:
        return [
            f.id
            for f in await read(
                backend, lambda uow: uow.files.search(repository_ids, text, limit=limit)
            )
        ]

    assert await search([repo.id], "stripe") == [client.id]
    assert await search([repo.id], "gateway") == [client.id]
    assert await search([repo.id], "client") == [client.id]
    assert await search([repo.id], "refunds") == [readme.id]
    assert set(await search([repo.id, other.id], "stripe")) == {client.id, elsewhere.id}
    assert len(await search([repo.id, other.id], "stripe", limit=1)) == 1
    assert await search([repo.id], "nothing") == []


async def test_search_finds_a_file_by_its_name_or_path_whole_or_partial(backend: Backend) -> None:
    """A file's name, its whole path or any part of it, written with the separators of a
    path (``/``, ``.``, ``_``, ``-``), finds the file, and only the files whose path has
    every one of those words."""
    repo = (await scaffold(backend)).repository
    client = file_index(repo.id, relative_path="src/payment_gateway/stripe-client.py")
    retry = file_index(repo.id, relative_path="application/retry.py")
    other = file_index(repo.id, relative_path="src/payment_gateway/refunds.py")
    await store(backend, client, retry, other)

    async def search(text: str) -> list[FileId]:
        return [f.id for f in await read(backend, lambda uow: uow.files.search([repo.id], text))]

    for text in (
        "retry.py",
        "application/retry.py",
        "application/retry",
        "application/",
        "/retry.py",
        "RETRY.PY",
    ):
        assert await search(text) == [retry.id], text
    for text in (
        "stripe-client.py",
        "stripe-client",
        "payment_gateway/stripe-client.py",
        "src/payment_gateway/stripe-client.py",
        "gateway/stripe",
    ):
        assert await search(text) == [client.id], text
    assert set(await search("payment_gateway")) == {client.id, other.id}
    assert await search("retry.md") == []
    assert await search("application/refunds.py") == []


async def test_search_puts_the_file_a_name_or_path_names_first(backend: Backend) -> None:
    """Of the files matching a file name or path, those whose path is it, or ends with
    it, come first, however often the others hold its words."""
    repo = (await scaffold(backend)).repository
    retry = file_index(repo.id, relative_path="application/retry.py")
    tests = file_index(
        repo.id,
        relative_path="tests/unit/test_services_retry.py",
        metadata=FileMetadata(description="test_retry_retries test_retry_gives_up retry py"),
    )
    await store(backend, tests, retry)

    async def search(text: str) -> list[FileId]:
        return [f.id for f in await read(backend, lambda uow: uow.files.search([repo.id], text))]

    assert await search("retry.py") == [retry.id, tests.id]
    assert await search("application/retry.py") == [retry.id]
    assert await search("Services_Retry.py") == [tests.id]
    assert (await search("retry"))[0] == tests.id  # no path ends with it: by rank


async def test_files_inserted_after_the_first_page_before_the_cursor_are_skipped(
    backend: Backend,
) -> None:
    """Files added mid-walk appear only if they sort after the cursor; nothing repeats."""
    repo = (await scaffold(backend)).repository
    await store(backend, *(file_index(repo.id, relative_path=f"f{i}0.py") for i in range(1, 6)))

    def fetch(uow: UnitOfWork, request: PageRequest) -> Awaitable[Page[FileIndex]]:
        return uow.files.list_by_repository(repo.id, request)

    async with backend.uow() as uow:
        first = await fetch(uow, PageRequest(limit=2))
    assert paths(first) == ["f10.py", "f20.py"]
    await store(backend, *(file_index(repo.id, relative_path=p) for p in ("f05.py", "f25.py")))

    rest = await walk(backend, fetch, limit=2, cursor=first.next_cursor)

    assert [p for page in rest for p in paths(page)] == ["f25.py", "f30.py", "f40.py", "f50.py"]
