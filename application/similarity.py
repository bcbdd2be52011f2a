"""Use cases of code similarity: index code units as embeddings, find similar code.

The embeddings live in a :class:`~ports.code_index.CodeIndex`, one space per
:class:`~domain.enums.CodeUnitKind`. Indexing is incremental: a unit whose stored code
hash (and embedding model) is unchanged is neither embedded nor written again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import attrs

from application._boundary import service
from application.code_units import CodeUnit, normalize_code
from domain.embeddings import CodeEmbedding, SimilarCode
from domain.enums import CodeUnitKind, ProgrammingLanguage
from domain.errors import ValidationError
from domain.events import DomainEvent, FileChanged, ProjectDeleted
from domain.ids import EmbeddingId, FileId, OrganizationId, ProjectId
from domain.validation import check_instance, check_int, check_number, check_text
from domain.vectors import Vector
from ports.code_index import CodeIndex
from ports.vectors import Embedder

__all__ = [
    "MAX_SIMILAR",
    "SNIPPET_LENGTH",
    "IndexResult",
    "VectorCleanup",
    "find_similar_code",
    "index_code_units",
    "remove_file_units",
    "remove_project_units",
]

SNIPPET_LENGTH = 500
"""How many characters of a unit's code its embedding keeps, to show with a hit."""
MAX_SIMILAR = 1000


@attrs.frozen(kw_only=True)
class IndexResult:
    """How many units were embedded and written, and how many were already up to date."""

    embedded: int = 0
    skipped: int = 0


@service
async def index_code_units(
    embedder: Embedder,
    code_index: CodeIndex,
    units: Sequence[CodeUnit],
    *,
    batch_size: int = 256,
    prune: bool = False,
) -> IndexResult:
    """Embed and store the units that are new or whose code changed, ``batch_size`` at a
    time. Two units with the same identity (repository, path, kind, symbol, first line)
    raise ValidationError before anything is written. With ``prune``, ``units`` are the
    whole current content of their files: stored units of those files that are not among
    them (a function renamed or deleted) are removed."""
    check_int("batch_size", batch_size, 1)
    model = embedder.model_name
    embedded = skipped = 0
    for kind, group in _group_by_kind(units).items():
        await code_index.prepare(kind, dimension=embedder.dimension)
        stored = await _stored_of_files(code_index, kind, group) if prune else None
        for start in range(0, len(group), batch_size):
            batch = group[start : start + batch_size]
            if stored is None:
                found = await code_index.get(kind, [EmbeddingId(u.point_id) for u in batch])
                known = {e.id: e for e in found}
            else:
                known = stored
            stale = [u for u in batch if not _up_to_date(known.get(u.point_id), u, model)]
            skipped += len(batch) - len(stale)
            if not stale:
                continue
            await code_index.write(await _embedded(embedder, stale))
            embedded += len(stale)
        gone = _gone(stored or {}, group)
        if gone:
            await code_index.remove(kind, gone)
    return IndexResult(embedded=embedded, skipped=skipped)


@attrs.frozen(kw_only=True)
class PreparedWrite:
    """What :func:`index_code_units` with ``prune`` writes for one kind, embedded but not
    written yet: the embeddings of the units that are new or changed, the ids of the
    stored embeddings of their files that are no longer among the units, and how many
    units were up to date. :func:`write_prepared` writes it."""

    kind: CodeUnitKind
    embeddings: Sequence[CodeEmbedding]
    gone: Sequence[EmbeddingId]
    skipped: int


async def prepare_code_units(
    embedder: Embedder, code_index: CodeIndex, units: Sequence[CodeUnit]
) -> list[PreparedWrite]:
    """The first half of :func:`index_code_units` with ``prune``: every kind made ready
    and every stale unit embedded at once (the units of one run, all held in memory),
    nothing written yet, so that the caller can use the vectors meanwhile."""
    prepared = []
    for kind, group in _group_by_kind(units).items():
        await code_index.prepare(kind, dimension=embedder.dimension)
        stored = await _stored_of_files(code_index, kind, group)
        stale = [
            u for u in group if not _up_to_date(stored.get(u.point_id), u, embedder.model_name)
        ]
        prepared.append(
            PreparedWrite(
                kind=kind,
                embeddings=await _embedded(embedder, stale) if stale else [],
                gone=_gone(stored, group),
                skipped=len(group) - len(stale),
            )
        )
    return prepared


async def write_prepared(code_index: CodeIndex, prepared: Sequence[PreparedWrite]) -> IndexResult:
    """The second half: write what :func:`prepare_code_units` made ready."""
    for write in prepared:
        if write.embeddings:
            await code_index.write(write.embeddings)
        if write.gone:
            await code_index.remove(write.kind, write.gone)
    return IndexResult(
        embedded=sum(len(w.embeddings) for w in prepared),
        skipped=sum(w.skipped for w in prepared),
    )


def _gone(
    stored: Mapping[EmbeddingId, CodeEmbedding], units: Sequence[CodeUnit]
) -> list[EmbeddingId]:
    """The stored embeddings that none of ``units`` (their files' whole content) is."""
    current = {u.point_id for u in units}
    return [embedding_id for embedding_id in stored if embedding_id not in current]


async def _embedded(embedder: Embedder, units: Sequence[CodeUnit]) -> list[CodeEmbedding]:
    """The embeddings of ``units``, made in one call."""
    vectors = await embedder.embed([u.normalized_code for u in units])
    model = embedder.model_name
    return [_embedding(u, vector, model) for u, vector in zip(units, vectors, strict=True)]


async def _stored_of_files(
    code_index: CodeIndex, kind: CodeUnitKind, units: Sequence[CodeUnit]
) -> dict[EmbeddingId, CodeEmbedding]:
    """The stored embeddings of the units' files, by id."""
    files = sorted({u.file_id for u in units})
    return {e.id: e for e in await code_index.of_files(kind, files)}


@service
async def find_similar_code(
    embedder: Embedder,
    code_index: CodeIndex,
    code: str,
    *,
    kind: CodeUnitKind,
    limit: int = 10,
    organization_id: OrganizationId | None,
    project_id: ProjectId | None = None,
    language: ProgrammingLanguage | None = None,
    score_threshold: float | None = None,
) -> list[SimilarCode]:
    """The indexed units of ``kind`` closest to ``code``, closest first: those of
    ``organization_id``, a scope every caller states (None: every organization's, for
    cross-organization work alone), and of ``project_id`` and ``language`` when given.
    Nothing indexed yet gives no hits."""
    check_text("code", code)
    check_int("limit", limit, 1, MAX_SIMILAR)
    if score_threshold is not None:
        check_number("score_threshold", score_threshold, -1.0, 1.0)  # a cosine similarity
    [vector] = await embedder.embed([normalize_code(code)])
    return await code_index.similar(
        kind, vector, limit=limit, organization_id=organization_id, project_id=project_id,
        language=language, min_score=score_threshold,
    )  # fmt: skip


@service
async def remove_file_units(code_index: CodeIndex, file_id: FileId) -> None:
    """Delete every indexed unit of a file, of every kind."""
    await code_index.remove_files([file_id])


@service
async def remove_project_units(code_index: CodeIndex, project_id: ProjectId) -> None:
    """Delete every indexed unit of a project, of every kind."""
    await code_index.remove_project(project_id)


class VectorCleanup:
    """Event handler keeping the code index in step with the relational store: a removed
    file's units and a deleted project's units leave it. Idempotent."""

    def __init__(self, code_index: CodeIndex) -> None:
        self._index = code_index

    async def __call__(self, event: DomainEvent) -> None:
        if isinstance(event, FileChanged) and event.change == "removed":
            await remove_file_units(self._index, event.file_id)
        elif isinstance(event, ProjectDeleted):
            await remove_project_units(self._index, event.project_id)


def _group_by_kind(units: Sequence[CodeUnit]) -> dict[CodeUnitKind, list[CodeUnit]]:
    for unit in units:
        check_instance("units", unit, CodeUnit)
    counts = Counter(u.point_id for u in units)
    repeated = sorted(
        {
            f"{u.file_path}:{u.symbol}@{u.line_start} ({u.kind})"
            for u in units
            if counts[u.point_id] > 1
        }
    )
    if repeated:
        raise ValidationError(
            "units", repeated, "must not repeat a unit (same repository, path, kind, symbol, line)"
        )
    by_kind: dict[CodeUnitKind, list[CodeUnit]] = {}
    for unit in units:
        by_kind.setdefault(unit.kind, []).append(unit)
    return by_kind


def _up_to_date(stored: CodeEmbedding | None, unit: CodeUnit, model: str) -> bool:
    return (
        stored is not None
        and stored.code_hash == unit.code_hash
        and stored.model == model
        and stored.file_id == unit.file_id
        and stored.line_end == unit.line_end
    )


def _embedding(unit: CodeUnit, vector: Vector, model: str) -> CodeEmbedding:
    return CodeEmbedding(
        id=EmbeddingId(unit.point_id),
        organization_id=unit.organization_id,
        project_id=unit.project_id,
        repository_id=unit.repository_id,
        file_id=unit.file_id,
        file_path=unit.file_path,
        kind=unit.kind,
        language=unit.language,
        symbol=unit.symbol,
        line_start=unit.line_start,
        line_end=unit.line_end,
        code_hash=unit.code_hash,
        code_snippet=unit.code[:SNIPPET_LENGTH],
        model=model,
        vector=vector,
    )
