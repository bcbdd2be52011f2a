"""What the interrupted-index tests share: the ports wrapped so that a stage of the main job
pauses (for a kill) or fails, and the final state of an indexed project, compared by
content.

Run as ``python -m tests.faults.indexing STAGE REPOSITORY MARKER``, it indexes REPOSITORY
with the settings of its environment and pauses for ever at STAGE, once MARKER is written:
the test kills it there.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from adapters.code_index import VectorCodeIndex
from adapters.config import Settings
from adapters.container import Container, build_container, running
from application.indexing import IndexReport, index_repository
from domain.enums import CodeUnitKind
from domain.events import AnalysisCompleted
from domain.ids import OrganizationId
from ports.code_index import CodeIndex
from ports.pagination import PageRequest
from ports.source import CodeAnalyzer, SourceReader
from ports.unit_of_work import UnitOfWork

__all__ = ["STAGES", "State", "failing_at", "index_with", "state_of"]

STAGES = ("read", "parse", "embed", "duplicates", "record")
"""Where a run can be stopped: reading the files (before its job begins), parsing them,
after the first vectors were written, searching near-duplicates, and with the completing
unit's writes made but not committed."""

Trap = Callable[[str], None]
"""Called with the name of a stage as the run reaches it; pauses or raises there."""


class _Wrapper:
    def __init__(self, inner: Any, trap: Trap) -> None:
        self._inner = inner
        self._trap = trap

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class TrappedReader(_Wrapper):
    def __init__(self, inner: SourceReader, trap: Trap) -> None:
        super().__init__(inner, trap)
        self._reads = 0

    async def read(self, root: str, relative_path: str) -> bytes:
        self._reads += 1
        if self._reads == 3:
            self._trap("read")
        content: bytes = await self._inner.read(root, relative_path)
        return content


class TrappedAnalyzer(_Wrapper):
    def analyze(self, relative_path: str, content: bytes) -> Any:
        self._trap("parse")
        return self._inner.analyze(relative_path, content)


class TrappedStore(_Wrapper):
    async def upsert(self, collection: str, points: Any) -> None:
        await self._inner.upsert(collection, points)
        self._trap("embed")

    async def search(self, *args: Any, **kwargs: Any) -> Any:
        self._trap("duplicates")
        return await self._inner.search(*args, **kwargs)


class TrappedUnit(_Wrapper):
    """A unit of work whose commit of a job's completion reaches the ``record`` trap first."""

    async def __aenter__(self) -> TrappedUnit:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._inner.__aexit__(*exc)

    async def commit(self) -> None:
        if any(isinstance(e, AnalysisCompleted) for e in self._inner.events):
            self._trap("record")
        await self._inner.commit()

    def sibling(self) -> TrappedUnit:
        return TrappedUnit(self._inner.sibling(), self._trap)

    def for_organization(self, organization_id: OrganizationId) -> TrappedUnit:
        return TrappedUnit(self._inner.for_organization(organization_id), self._trap)


@attrs.define
class Trapped:
    """The ports of a container, each reaching ``trap`` at its stage."""

    uow: UnitOfWork
    reader: SourceReader
    analyzer: CodeAnalyzer
    store: CodeIndex


def trapped(container: Container, trap: Trap) -> Trapped:
    return Trapped(
        uow=TrappedUnit(container.uow(system=True), trap),
        reader=TrappedReader(container.source_reader(), trap),
        analyzer=TrappedAnalyzer(container.code_analyzer(), trap),
        store=VectorCodeIndex(TrappedStore(container.vector_store(), trap)),
    )


async def index_with(container: Container, path: Path, trap: Trap | None = None) -> IndexReport:
    """``codeant index`` of ``path`` through the container's ports (trapped with ``trap``)."""
    ports = trapped(container, trap or (lambda stage: None))
    return await index_repository(
        ports.uow,
        ports.reader,
        ports.analyzer,
        container.embedder(),
        ports.store,
        str(path),
        liveness=container.liveness(),
    )


def failing_at(stage: str, error: Exception) -> Trap:
    """A trap that raises ``error`` at ``stage``."""

    def trap(reached: str) -> None:
        if reached == stage:
            raise error

    return trap


@attrs.frozen
class State:
    """An indexed project by content: its files, removed files, the results and metrics its
    latest job holds, and its function embeddings (ids of the database aside)."""

    files: dict[str, tuple[Any, ...]]
    removed: frozenset[str]
    results: tuple[tuple[Any, ...], ...]
    metrics: tuple[tuple[Any, ...], ...]
    vectors: frozenset[tuple[Any, ...]]


async def state_of(container: Container) -> State:
    """The state of the only project of the container's database."""
    uow = container.uow(system=True)
    async with uow:
        [organization] = (await uow.organizations.list(PageRequest())).items
        [project] = (await uow.projects.list_by_organization(organization.id, PageRequest())).items
        [repository] = await uow.repositories.list_by_project(project.id)
        live = await uow.files.list_by_repository(repository.id, PageRequest(limit=1000))
        gone = await uow.files.list_by_repository(
            repository.id, PageRequest(limit=1000), status="deleted"
        )
        job = await uow.analysis.latest_job(project.id)
        assert job is not None
        results = await uow.analysis.find_results_by_job(job.id, PageRequest(limit=1000))
        metrics = await uow.analysis.find_metrics_by_job(job.id, PageRequest(limit=1000))
        paths = {f.id: f.relative_path for f in (*live, *gone)}
    functions = await container.code_index().of_project(CodeUnitKind.FUNCTION, project.id)
    return State(
        files={
            f.relative_path: (
                f.file_hash,
                f.content_hash,
                f.language,
                f.line_count,
                f.size_bytes,
                f.analysis_status,
                f.metadata,
            )
            for f in live
        },
        removed=frozenset(f.relative_path for f in gone),
        results=tuple(
            sorted(
                (
                    r.rule_id,
                    r.location.file_path if r.location else "",
                    r.title,
                    r.description,
                    str(r.severity),
                    r.confidence,
                )
                for r in results
            )
        ),
        metrics=tuple(
            sorted((paths[m.file_id], str(m.metric_type), m.metric_name, m.value) for m in metrics)
        ),
        vectors=frozenset(
            (
                f.file_path,
                f.symbol,
                f.line_start,
                f.line_end,
                f.code_hash,
                paths.get(f.file_id) == f.file_path,
            )
            for f in functions
        ),
    )


def _pause_at(stage: str, marker: Path) -> Trap:
    def trap(reached: str) -> None:
        if reached == stage:
            marker.write_text(stage)
            while True:  # until killed
                time.sleep(60)

    return trap


async def _main(stage: str, path: Path, marker: Path) -> None:
    async with running(build_container(Settings.from_env())) as container:
        await index_with(container, path, _pause_at(stage, marker))
    raise SystemExit(f"the run ended without reaching the stage {stage!r}")


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
