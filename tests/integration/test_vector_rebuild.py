"""Rebuilding the vector store from the relational index after the vectors were lost."""

from __future__ import annotations

from pathlib import Path

from adapters.code_index import VectorCodeIndex
from adapters.embedders.hashing import HashingEmbedder
from adapters.memory import MemoryDatabase, MemoryUnitOfWork
from adapters.memory.vectors import MemoryVectorStore
from adapters.source import FileAnalyzer, GitSourceReader
from application.indexing import index_repository, rebuild_vectors
from tests.e2e.sample_repo import build_sample_repo


async def test_a_lost_vector_store_is_rebuilt_from_the_index(tmp_path: Path) -> None:
    """After indexing, an empty vector store is refilled with exactly the same units
    (same ids, same payloads) from the file index and the working tree."""
    repo = build_sample_repo(tmp_path / "repo", tmp_path / "home")
    db = MemoryDatabase()
    embedder = HashingEmbedder(dimension=64)
    original = MemoryVectorStore()
    reader, analyzer = GitSourceReader(), FileAnalyzer()
    await index_repository(
        MemoryUnitOfWork(db, system=True),
        reader,
        analyzer,
        embedder,
        VectorCodeIndex(original),
        str(repo.root),
    )
    before = await original.scroll("code_function")
    assert before

    replacement = MemoryVectorStore()
    report = await rebuild_vectors(
        MemoryUnitOfWork(db, system=True), reader, embedder, VectorCodeIndex(replacement)
    )

    after = await replacement.scroll("code_function")
    assert [(p.id, dict(p.payload)) for p in after] == [(p.id, dict(p.payload)) for p in before]
    assert report.units == len(before) == report.embedded
    assert report.unreadable == 0 and report.projects == 1
