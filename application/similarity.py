"""Use cases of code similarity: index code units as embeddings, find similar code.

Each :class:`~domain.enums.CodeUnitKind` has a collection of its own, named
``f"{collection_prefix}_{kind}"``. Indexing is incremental: a unit whose stored code hash
(and embedding model) is unchanged is neither embedded nor written again.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from application._boundary import service
from application.code_units import CodeUnit, collection_name, normalize_code
from domain.embeddings import CodeEmbedding, SimilarCode
from domain.enums import CodeUnitKind, ProgrammingLanguage
from domain.errors import ValidationError
from domain.events import DomainEvent, FileChanged, ProjectDeleted
from domain.ids import EmbeddingId, FileId, OrganizationId, ProjectId
from domain.validation import check_instance, check_int, check_number, check_text
from ports.errors import NotFoundError
from ports.vectors import Embedder, ScoredPoint, VectorFilter, VectorPoint, VectorStore

__all__ = [
    "DEFAULT_COLLECTION_PREFIX",
    "MAX_SIMILAR",
    "SNIPPET_LENGTH",
    "IndexResult",
    "VectorCleanup",
    "find_similar_code",
    "index_code_units",
    "remove_file_units",
    "remove_project_units",
]

DEFAULT_COLLECTION_PREFIX = "code"
SNIPPET_LENGTH = 500
"""How many characters of a unit's code are kept in its payload, to show with a hit."""
MAX_SIMILAR = 1000
_MODEL_KEY = "embedding_model"
_PRUNE_FILES = 500
"""Files whose stored units one read of the store covers when pruning."""


@attrs.frozen(kw_only=True)
class IndexResult:
    """How many units were embedded and written, and how many were already up to date."""

    embedded: int = 0
    skipped: int = 0


@service
async def index_code_units(
    embedder: Embedder,
    store: VectorStore,
    units: Sequence[CodeUnit],
    *,
    collection_prefix: str = DEFAULT_COLLECTION_PREFIX,
    batch_size: int = 256,
    prune: bool = False,
) -> IndexResult:
    """Embed and store the units that are new or whose code changed, ``batch_size`` at a
    time. Two units with the same identity (repository, path, kind, symbol, first line)
    raise ValidationError before anything is written. With ``prune``, ``units`` are the
    whole current content of their files: stored units of those files that are not among
    them (a function renamed or deleted) are removed."""
    check_text("collection_prefix", collection_prefix)
    check_int("batch_size", batch_size, 1)
    by_kind = _group_by_kind(units)
    model = embedder.model_name
    embedded = skipped = 0
    for kind, group in by_kind.items():
        collection = collection_name(collection_prefix, kind)
        await store.ensure_collection(collection, dimension=embedder.dimension)
        stored = await _stored_of_files(store, collection, group) if prune else None
        for start in range(0, len(group), batch_size):
            batch = group[start : start + batch_size]
            if stored is None:
                stale = await _stale_units(store, collection, batch, model)
            else:
                stale = [u for u in batch if not _up_to_date(stored.get(u.point_id), u, model)]
            skipped += len(batch) - len(stale)
            if not stale:
                continue
            points = await _embedded(embedder, stale)
            await store.upsert(collection, points)
            embedded += len(points)
        gone = _gone(stored or {}, group)
        if gone:
            await store.delete(collection, gone)
    return IndexResult(embedded=embedded, skipped=skipped)


@attrs.frozen(kw_only=True)
class PreparedWrite:
    """What :func:`index_code_units` with ``prune`` writes to one collection, embedded
    but not written yet: the points of the units that are new or changed, the ids of the
    stored points of their files that are no longer among the units, and how many units
    were up to date. :func:`write_prepared` writes it."""

    collection: str
    points: Sequence[VectorPoint]
    gone: Sequence[uuid.UUID]
    skipped: int


async def prepare_code_units(
    embedder: Embedder,
    store: VectorStore,
    units: Sequence[CodeUnit],
    *,
    collection_prefix: str = DEFAULT_COLLECTION_PREFIX,
) -> list[PreparedWrite]:
    """The first half of :func:`index_code_units` with ``prune``: every collection made
    ready and every stale unit embedded at once (the units of one run, all held in
    memory), nothing written yet, so that the caller can use the vectors meanwhile."""
    check_text("collection_prefix", collection_prefix)
    prepared = []
    for kind, group in _group_by_kind(units).items():
        collection = collection_name(collection_prefix, kind)
        await store.ensure_collection(collection, dimension=embedder.dimension)
        stored = await _stored_of_files(store, collection, group)
        stale = [
            u for u in group if not _up_to_date(stored.get(u.point_id), u, embedder.model_name)
        ]
        prepared.append(
            PreparedWrite(
                collection=collection,
                points=await _embedded(embedder, stale) if stale else [],
                gone=_gone(stored, group),
                skipped=len(group) - len(stale),
            )
        )
    return prepared


async def write_prepared(store: VectorStore, prepared: Sequence[PreparedWrite]) -> IndexResult:
    """The second half: write what :func:`prepare_code_units` made ready."""
    for write in prepared:
        if write.points:
            await store.upsert(write.collection, write.points)
        if write.gone:
            await store.delete(write.collection, write.gone)
    return IndexResult(
        embedded=sum(len(w.points) for w in prepared), skipped=sum(w.skipped for w in prepared)
    )


def _gone(stored: Mapping[uuid.UUID, Any], units: Sequence[CodeUnit]) -> list[uuid.UUID]:
    """The stored points that none of ``units`` (their files' whole content) is."""
    current = {u.point_id for u in units}
    return [point_id for point_id in stored if point_id not in current]


async def _embedded(embedder: Embedder, units: Sequence[CodeUnit]) -> list[VectorPoint]:
    """The points of ``units``, embedded in one call."""
    vectors = await embedder.embed([normalize_code(u.code) for u in units])
    model = embedder.model_name
    return [_point(u, vector, model) for u, vector in zip(units, vectors, strict=True)]


async def _stored_of_files(
    store: VectorStore, collection: str, units: Sequence[CodeUnit]
) -> dict[uuid.UUID, Mapping[str, Any]]:
    """The payload of every stored point of the units' files, by id (one count and, when
    there are any, one read per many files: none at all on a first index)."""
    files = sorted({str(u.file_id) for u in units})
    stored: dict[uuid.UUID, Mapping[str, Any]] = {}
    for start in range(0, len(files), _PRUNE_FILES):
        where = {"file_id": files[start : start + _PRUNE_FILES]}
        count = await store.count(collection, filter=where)
        if count:
            stored.update(
                (p.id, p.payload) for p in await store.scroll(collection, filter=where, limit=count)
            )
    return stored


@service
async def find_similar_code(
    embedder: Embedder,
    store: VectorStore,
    code: str,
    *,
    kind: CodeUnitKind,
    limit: int = 10,
    organization_id: OrganizationId | None,
    project_id: ProjectId | None = None,
    language: ProgrammingLanguage | None = None,
    score_threshold: float | None = None,
    collection_prefix: str = DEFAULT_COLLECTION_PREFIX,
) -> list[SimilarCode]:
    """The indexed units of ``kind`` closest to ``code``, closest first: those of
    ``organization_id``, a scope every caller states (None: every organization's, for
    cross-organization work alone), and of ``project_id`` and ``language`` when given.
    Nothing indexed yet gives no hits."""
    check_text("code", code)
    check_int("limit", limit, 1, MAX_SIMILAR)
    if score_threshold is not None:
        check_number("score_threshold", score_threshold, -1.0, 1.0)  # a cosine similarity
    conditions: dict[str, Any] = {}
    if project_id is not None:
        conditions["project_id"] = str(project_id)
    if organization_id is not None:
        conditions["organization_id"] = str(organization_id)
    if language is not None:
        conditions["language"] = language.value
    [vector] = await embedder.embed([normalize_code(code)])
    try:
        hits = await store.search(
            collection_name(collection_prefix, kind),
            vector,
            limit=limit,
            filter=conditions or None,
            score_threshold=score_threshold,
        )
    except NotFoundError:
        return []
    return [_similar(hit) for hit in hits]


@service
async def remove_file_units(
    store: VectorStore,
    file_id: FileId,
    *,
    collection_prefix: str = DEFAULT_COLLECTION_PREFIX,
) -> None:
    """Delete every indexed unit of a file, from the collection of every kind."""
    await _remove_units(store, {"file_id": str(file_id)}, collection_prefix)


@service
async def remove_project_units(
    store: VectorStore,
    project_id: ProjectId,
    *,
    collection_prefix: str = DEFAULT_COLLECTION_PREFIX,
) -> None:
    """Delete every indexed unit of a project, from the collection of every kind."""
    await _remove_units(store, {"project_id": str(project_id)}, collection_prefix)


async def _remove_units(store: VectorStore, where: VectorFilter, collection_prefix: str) -> None:
    for kind in CodeUnitKind:
        try:
            await store.delete_by_filter(collection_name(collection_prefix, kind), where)
        except NotFoundError:
            continue


class VectorCleanup:
    """Event handler keeping the vector store in step with the relational store: a removed
    file's units and a deleted project's units leave it. Idempotent."""

    def __init__(
        self, store: VectorStore, *, collection_prefix: str = DEFAULT_COLLECTION_PREFIX
    ) -> None:
        self._store = store
        self._prefix = collection_prefix

    async def __call__(self, event: DomainEvent) -> None:
        if isinstance(event, FileChanged) and event.change == "removed":
            await remove_file_units(self._store, event.file_id, collection_prefix=self._prefix)
        elif isinstance(event, ProjectDeleted):
            await remove_project_units(
                self._store, event.project_id, collection_prefix=self._prefix
            )


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


async def _stale_units(
    store: VectorStore, collection: str, units: Sequence[CodeUnit], model: str
) -> list[CodeUnit]:
    """The units whose stored point is missing or was made from other code or model."""
    stored = await store.retrieve(collection, [u.point_id for u in units])
    payloads: dict[uuid.UUID, Mapping[str, Any]] = {p.id: p.payload for p in stored}
    return [u for u in units if not _up_to_date(payloads.get(u.point_id), u, model)]


def _up_to_date(payload: Mapping[str, Any] | None, unit: CodeUnit, model: str) -> bool:
    return (
        payload is not None
        and payload.get("code_hash") == unit.code_hash
        and payload.get(_MODEL_KEY) == model
        and payload.get("file_id") == str(unit.file_id)
        and payload.get("line_end") == unit.line_end
    )


def _point(unit: CodeUnit, vector: Sequence[float], model: str) -> VectorPoint:
    embedding = CodeEmbedding(
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
        vector=tuple(vector),
    )
    return VectorPoint(
        id=embedding.id, vector=embedding.vector, payload={**embedding.payload(), _MODEL_KEY: model}
    )


def _similar(hit: ScoredPoint) -> SimilarCode:
    payload = hit.payload
    language = payload.get("language")
    return SimilarCode(
        embedding_id=EmbeddingId(hit.id),
        score=hit.score,
        file_path=payload["file_path"],
        symbol=payload["symbol"],
        kind=CodeUnitKind(payload["kind"]),
        language=None if language is None else ProgrammingLanguage(language),
        line_start=payload["line_start"],
        line_end=payload["line_end"],
        project_id=ProjectId(uuid.UUID(payload["project_id"])),
        file_id=FileId(uuid.UUID(payload["file_id"])),
    )
