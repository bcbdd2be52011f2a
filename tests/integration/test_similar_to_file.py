"""``similar_to_file`` on an indexed function compares the embedding stored when it was
indexed: the file is neither read nor embedded again, and the hits are those of the code
embedded afresh."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from adapters.code_index import VectorCodeIndex
from adapters.embedders.hashing import HashingEmbedder
from adapters.memory import MemoryDatabase, MemoryUnitOfWork
from adapters.memory.vectors import MemoryVectorStore
from adapters.source import FileAnalyzer, GitSourceReader
from application.code_units import unit_id
from application.indexing import index_repository
from application.search import SimilarTo, similar_to_file
from domain.enums import CodeUnitKind
from domain.vectors import Vector
from tests.e2e.sample_repo import DUPLICATED_FUNCTION, build_sample_repo


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder under the name ``model``, counting the texts it embeds."""

    def __init__(self, dimension: int, model: str | None = None) -> None:
        super().__init__(dimension)
        self._model = model
        self.texts = 0

    @property
    def model_name(self) -> str:
        return self._model or super().model_name

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        self.texts += len(texts)
        return await super().embed(texts)


class CountingReader(GitSourceReader):
    """The git reader, counting the files it reads."""

    reads = 0

    async def read(self, root: str, relative_path: str) -> bytes:
        self.reads += 1
        return await super().read(root, relative_path)


async def test_a_function_is_compared_by_its_stored_embedding(tmp_path: Path) -> None:
    """Asked about an indexed function, similar reads no file and embeds nothing; once
    its embedding is gone (or made by another model), the function is read and embedded,
    and the hits are the same."""
    repo = build_sample_repo(tmp_path / "repo", tmp_path / "home")
    db = MemoryDatabase()
    embedder, reader = CountingEmbedder(64), CountingReader()
    index = VectorCodeIndex(MemoryVectorStore())
    await index_repository(
        MemoryUnitOfWork(db, system=True), reader, FileAnalyzer(), embedder, index,
        str(repo.root),
    )  # fmt: skip

    async def similar(using: HashingEmbedder) -> SimilarTo:
        return await similar_to_file(
            MemoryUnitOfWork(db, system=True), reader, using, index,
            str(repo.root / "orders" / "cleanup_a.py"), function=DUPLICATED_FUNCTION, limit=5,
        )  # fmt: skip

    def seen(found: SimilarTo) -> list[tuple[str, str]]:
        return [(h.file_path, h.symbol) for h in found.hits]

    reader.reads, embedder.texts = 0, 0
    stored = await similar(embedder)
    assert (reader.reads, embedder.texts) == (0, 0)
    assert seen(stored)[0] == ("orders/cleanup_b.py", DUPLICATED_FUNCTION)

    other_model = CountingEmbedder(64, model="hashing-other")
    assert seen(await similar(other_model)) == seen(stored)
    assert (reader.reads, other_model.texts) == (1, 1)

    [own] = [
        e for e in await index.of_project(CodeUnitKind.FUNCTION, stored.project.id)
        if (e.file_path, e.symbol) == ("orders/cleanup_a.py", DUPLICATED_FUNCTION)
    ]  # fmt: skip
    assert own.id == unit_id(own.repository_id, own.file_path, own.kind, own.symbol, own.line_start)
    assert own.id not in {h.embedding_id for h in stored.hits}
    await index.remove(CodeUnitKind.FUNCTION, [own.id])
    afresh = await similar(embedder)
    assert (reader.reads, embedder.texts) == (2, 1)
    assert seen(afresh) == seen(stored)
    assert [h.score for h in afresh.hits] == pytest.approx([h.score for h in stored.hits], abs=1e-6)
