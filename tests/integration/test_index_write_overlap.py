"""The index job overlaps its stages: it embeds while it evaluates the rules, and writes
its embeddings while it records its analysis. The record commits only once the write is
done; a write or a rule that fails fails the job with nothing of its analysis recorded."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from adapters.code_index import VectorCodeIndex
from adapters.embedders.hashing import HashingEmbedder
from adapters.exact_neighbours import ExactNeighbours
from adapters.memory import MemoryDatabase, MemoryUnitOfWork
from adapters.memory.vectors import MemoryVectorStore
from adapters.source import FileAnalyzer, GitSourceReader
from application import indexing
from application.indexing import index_repository
from application.indexing.evaluation import evaluate
from domain.analysis import AnalysisJob
from domain.enums import CodeUnitKind, JobStatus
from domain.files import FileIndex
from domain.ids import FileId
from domain.vectors import Vector
from ports.errors import UnavailableError
from ports.pagination import PageRequest
from tests.e2e.sample_repo import build_sample_repo
from tests.faults.indexing import TrappedUnit


class SlowStore(MemoryVectorStore):
    """Writes after a pause, noting in ``log`` when a write is done; or fails them."""

    def __init__(self, log: list[str], *, fail: bool = False) -> None:
        super().__init__()
        self.log, self.fail = log, fail

    async def upsert(self, collection: str, points: Any) -> None:
        await asyncio.sleep(0.3)
        if self.fail:
            raise UnavailableError("vector store down")
        await super().upsert(collection, points)
        self.log.append("written")


def _unit(db: MemoryDatabase, log: list[str]) -> TrappedUnit:
    """A unit (and its siblings) noting in ``log`` the commit of a job's completion."""
    return TrappedUnit(MemoryUnitOfWork(db, system=True), lambda stage: log.append("completed"))


async def test_the_record_commits_once_the_embeddings_are_written(tmp_path: Path) -> None:
    """With the pass running beside the write, the job's completion is committed after
    the last write, and every function of the repository is in the index then."""
    repo = build_sample_repo(tmp_path / "repo", tmp_path / "home")
    db, log = MemoryDatabase(), list[str]()
    index = VectorCodeIndex(SlowStore(log))
    report = await index_repository(
        _unit(db, log), GitSourceReader(), FileAnalyzer(), HashingEmbedder(64), index,
        str(repo.root), neighbours=ExactNeighbours(),
    )  # fmt: skip
    assert report.job_status is JobStatus.COMPLETED
    assert log[-1] == "completed" and "written" in log, log
    async with MemoryUnitOfWork(db, system=True) as uow:
        project = await _the_project(uow)
    functions = await index.of_project(CodeUnitKind.FUNCTION, project.id)
    assert len(functions) == report.embedded > 0


async def test_the_caller_hears_of_an_analysis_before_it_begins_and_only_then(
    tmp_path: Path,
) -> None:
    """``on_analysis`` is called once by a first run, before its job reads the files; not
    at all by a run on the unchanged repository; once by a run with a changed file."""
    repo = build_sample_repo(tmp_path / "repo", tmp_path / "home")
    db, calls = MemoryDatabase(), list[str]()
    index = VectorCodeIndex(MemoryVectorStore())

    class Reader(GitSourceReader):
        async def read(self, root: str, relative_path: str) -> bytes:
            calls.append("read")
            return await super().read(root, relative_path)

    async def run() -> None:
        await index_repository(
            MemoryUnitOfWork(db, system=True), Reader(), FileAnalyzer(), HashingEmbedder(64),
            index, str(repo.root), on_analysis=lambda: calls.append("analysis"),
        )  # fmt: skip

    await run()
    assert calls.count("analysis") == 1 and calls[0] == "analysis"
    calls.clear()
    await run()
    assert "analysis" not in calls and "read" in calls
    calls.clear()
    repo.write("orders/routing.py", repo.tracked()["orders/routing.py"] + b"\n# changed\n")
    repo.commit_all("change one file")
    await run()
    assert calls.count("analysis") == 1 and calls[-1] == "analysis"


async def test_a_write_that_fails_fails_the_job_with_nothing_recorded(tmp_path: Path) -> None:
    """A write failing after the pass: the job fails with the store's error, and the
    repository's file index and results stay empty."""
    repo = build_sample_repo(tmp_path / "repo", tmp_path / "home")
    db, log = MemoryDatabase(), list[str]()
    with pytest.raises(UnavailableError, match="vector store down"):
        await index_repository(
            _unit(db, log), GitSourceReader(), FileAnalyzer(), HashingEmbedder(64),
            VectorCodeIndex(SlowStore(log, fail=True)), str(repo.root),
            neighbours=ExactNeighbours(),
        )  # fmt: skip
    assert "completed" not in log
    job, files = await _outcome(db)
    assert job.status is JobStatus.FAILED and "vector store down" in (job.error_message or "")
    assert files == ()


async def _outcome(db: MemoryDatabase) -> tuple[AnalysisJob, tuple[FileIndex, ...]]:
    """The only job of the only project, and the files its repository records."""
    async with MemoryUnitOfWork(db, system=True) as uow:
        project = await _the_project(uow)
        [job] = (await uow.analysis.list_jobs(project.id, PageRequest(limit=10))).items
        [repository] = await uow.repositories.list_by_project(project.id)
        files = await uow.files.list_by_repository(repository.id, PageRequest(limit=1000))
    return job, files.items


async def _the_project(uow: MemoryUnitOfWork) -> Any:
    [organization] = (await uow.organizations.list(PageRequest(limit=10))).items
    [project] = (await uow.projects.list_by_organization(organization.id, PageRequest())).items
    return project


class NotingEmbedder(HashingEmbedder):
    """Sets ``called`` (a thread's event) when asked to embed; with ``hold``, then waits
    until cancelled, noting it in ``log``; with ``fail``, raises UnavailableError."""

    def __init__(self, log: list[str], *, hold: bool = False, fail: bool = False) -> None:
        super().__init__(64)
        self.log, self.hold, self.fail, self.called = log, hold, fail, threading.Event()

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        self.called.set()
        if self.fail:
            raise UnavailableError("embedding model down")
        if self.hold:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                self.log.append("embedding cancelled")
                raise
        return await super().embed(texts)


async def test_the_embedder_works_while_the_rules_are_evaluated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules wait here until the embedder has been asked: a job that embedded only
    after the rules would never ask it, and the rules would give up."""
    repo = build_sample_repo(tmp_path / "repo", tmp_path / "home")
    db, log = MemoryDatabase(), list[str]()
    embedder = NotingEmbedder(log)

    def evaluate_once_embedding(*args: Any) -> Any:
        assert embedder.called.wait(timeout=30), "the embedder was not asked during the rules"
        return evaluate(*args)

    monkeypatch.setattr(indexing, "evaluate", evaluate_once_embedding)
    report = await index_repository(
        _unit(db, log), GitSourceReader(), FileAnalyzer(), embedder,
        VectorCodeIndex(MemoryVectorStore()), str(repo.root), neighbours=ExactNeighbours(),
    )  # fmt: skip
    assert report.job_status is JobStatus.COMPLETED and report.embedded > 0
    assert report.results > 0 and set(report.stages) >= {"rules", "embed"}


async def test_rules_that_fail_cancel_the_embedding_and_record_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error of the rules fails the job at once: the embedding under way is cancelled
    (not awaited to its end) and nothing of the analysis is recorded."""
    repo = build_sample_repo(tmp_path / "repo", tmp_path / "home")
    db, log = MemoryDatabase(), list[str]()
    embedder = NotingEmbedder(log, hold=True)

    def broken(*args: Any) -> Any:
        assert embedder.called.wait(timeout=30)
        raise RuntimeError("a rule broke")

    monkeypatch.setattr(indexing, "evaluate", broken)
    with pytest.raises(RuntimeError, match="a rule broke"):
        await index_repository(
            _unit(db, log), GitSourceReader(), FileAnalyzer(), embedder,
            VectorCodeIndex(MemoryVectorStore()), str(repo.root), neighbours=ExactNeighbours(),
        )  # fmt: skip
    assert "embedding cancelled" in log and "completed" not in log
    job, _ = await _outcome(db)
    assert job.status is JobStatus.FAILED and "a rule broke" in (job.error_message or "")


async def test_an_embedder_that_fails_while_the_rules_run_fails_the_job(tmp_path: Path) -> None:
    """The embedder failing beside the rules: the job fails with its error once the
    rules are done, and nothing of the analysis is recorded."""
    repo = build_sample_repo(tmp_path / "repo", tmp_path / "home")
    db, log = MemoryDatabase(), list[str]()
    with pytest.raises(UnavailableError, match="embedding model down"):
        await index_repository(
            _unit(db, log), GitSourceReader(), FileAnalyzer(), NotingEmbedder(log, fail=True),
            VectorCodeIndex(MemoryVectorStore()), str(repo.root), neighbours=ExactNeighbours(),
        )  # fmt: skip
    assert "completed" not in log
    job, files = await _outcome(db)
    assert job.status is JobStatus.FAILED and "embedding model down" in (job.error_message or "")
    assert files == ()


async def test_a_run_cancelled_while_its_rules_run_cancels_its_embedding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled (Ctrl-C, SIGTERM) while the rules run in their thread: the run stops at
    once, its embedding is cancelled, its job ends cancelled with nothing recorded, and
    the rules' thread, let go, ends on its own."""
    repo = build_sample_repo(tmp_path / "repo", tmp_path / "home")
    db, log = MemoryDatabase(), list[str]()
    embedder, released = NotingEmbedder(log, hold=True), threading.Event()

    def held(*args: Any) -> Any:
        released.wait(timeout=30)
        return evaluate(*args)

    monkeypatch.setattr(indexing, "evaluate", held)
    indexing_run = index_repository(
        _unit(db, log), GitSourceReader(), FileAnalyzer(), embedder,
        VectorCodeIndex(MemoryVectorStore()), str(repo.root), neighbours=ExactNeighbours(),
    )  # fmt: skip
    run = asyncio.ensure_future(indexing_run)
    try:
        assert await asyncio.to_thread(embedder.called.wait, 30)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    finally:
        released.set()
    assert "embedding cancelled" in log and "completed" not in log
    job, files = await _outcome(db)
    assert job.status is JobStatus.CANCELLED and files == ()


class CountingIndex(VectorCodeIndex):
    """Notes every list of files whose units are removed."""

    def __init__(self) -> None:
        super().__init__(MemoryVectorStore())
        self.removed: list[list[FileId]] = []

    async def remove_files(self, file_ids: Sequence[FileId]) -> None:
        self.removed.append(list(file_ids))
        await super().remove_files(file_ids)


async def test_files_left_without_functions_lose_their_units_in_one_removal(
    tmp_path: Path,
) -> None:
    """The analysed files that have no function (the README, the notes, the binary file)
    are removed from the code index together, not one call per file."""
    repo = build_sample_repo(tmp_path / "repo", tmp_path / "home")
    db, log = MemoryDatabase(), list[str]()
    index = CountingIndex()
    await index_repository(
        _unit(db, log), GitSourceReader(), FileAnalyzer(), HashingEmbedder(64), index,
        str(repo.root), neighbours=ExactNeighbours(),
    )  # fmt: skip
    _, files = await _outcome(db)
    without = {f.id for f in files if not f.metadata.functions}
    assert len(without) > 1
    [removed] = index.removed
    assert set(removed) == without
