"""The code index (:class:`ports.code_index.CodeIndex`) over any vector store.

Each :class:`~domain.enums.CodeUnitKind` has a collection of its own, named
``f"{prefix}_{kind}"``; an embedding is a point whose id is the embedding's and whose
payload keeps the rest of it (the keys of :data:`PAYLOAD_KEYS`). The keys searches filter
on are those the store is asked to index (:data:`FILTERED_KEYS`). Nothing outside this
module knows collection names, payload keys or filters.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from adapters.vector_rules import check_name
from domain.embeddings import CodeEmbedding, SimilarCode
from domain.enums import CodeUnitKind, ProgrammingLanguage
from domain.errors import ValidationError as DomainValidationError
from domain.ids import EmbeddingId, FileId, OrganizationId, ProjectId, RepositoryId
from domain.validation import check_instance, check_int, check_member, check_number
from ports.errors import NotFoundError, ValidationError
from ports.vectors import Distance, ScoredPoint, VectorFilter, VectorPoint, VectorStore

__all__ = ["DEFAULT_PREFIX", "FILTERED_KEYS", "PAYLOAD_KEYS", "VectorCodeIndex"]

DEFAULT_PREFIX = "code"
MODEL_KEY = "embedding_model"
PAYLOAD_KEYS = (
    "organization_id",
    "project_id",
    "repository_id",
    "file_id",
    "file_path",
    "kind",
    "language",
    "symbol",
    "line_start",
    "line_end",
    "code_hash",
    "code_snippet",
    MODEL_KEY,
)
"""What a point's payload holds of its embedding (all but the id and the vector)."""
FILTERED_KEYS = ("organization_id", "project_id", "file_id", "language")
"""The payload keys this index filters on, each indexed by the stores that index keys."""
FILES_PER_READ = 500
"""Files whose embeddings one read (or one removal) of the store covers."""


class VectorCodeIndex:
    """Implements :class:`ports.code_index.CodeIndex` with collections of ``store``
    named ``f"{prefix}_{kind}"`` (COSINE distance)."""

    def __init__(self, store: VectorStore, *, prefix: str = DEFAULT_PREFIX) -> None:
        check_name(f"{prefix}_{CodeUnitKind.FUNCTION.value}")
        self._store = store
        self._prefix = prefix

    @property
    def store(self) -> VectorStore:
        return self._store

    def collection(self, kind: CodeUnitKind) -> str:
        """The collection holding the embeddings of ``kind``."""
        with _arguments():
            return f"{self._prefix}_{check_member('kind', kind, CodeUnitKind).value}"

    async def prepare(self, kind: CodeUnitKind, *, dimension: int) -> None:
        await self._store.ensure_collection(
            self.collection(kind), dimension=dimension, distance=Distance.COSINE,
            indexed=FILTERED_KEYS,
        )  # fmt: skip

    async def write(self, embeddings: Sequence[CodeEmbedding]) -> None:
        by_kind: dict[CodeUnitKind, list[VectorPoint]] = {}
        for embedding in embeddings:
            with _arguments():
                check_instance("embeddings", embedding, CodeEmbedding)
            by_kind.setdefault(embedding.kind, []).append(_point(embedding))
        for kind, points in by_kind.items():
            await self._store.upsert(self.collection(kind), points)

    async def get(self, kind: CodeUnitKind, ids: Sequence[EmbeddingId]) -> list[CodeEmbedding]:
        try:
            points = await self._store.retrieve(self.collection(kind), ids)
        except NotFoundError:
            return []
        return [_embedding(point) for point in points]

    async def of_files(self, kind: CodeUnitKind, file_ids: Sequence[FileId]) -> list[CodeEmbedding]:
        files = _file_keys(file_ids)
        found: list[CodeEmbedding] = []
        for start in range(0, len(files), FILES_PER_READ):
            found += await self._matching(kind, {"file_id": files[start : start + FILES_PER_READ]})
        return sorted(found, key=lambda e: e.id)

    async def of_project(self, kind: CodeUnitKind, project_id: ProjectId) -> list[CodeEmbedding]:
        with _arguments():
            check_instance("project_id", project_id, uuid.UUID)
        return await self._matching(kind, {"project_id": str(project_id)})

    async def remove(self, kind: CodeUnitKind, ids: Sequence[EmbeddingId]) -> None:
        try:
            await self._store.delete(self.collection(kind), ids)
        except NotFoundError:
            return

    async def remove_files(self, file_ids: Sequence[FileId]) -> None:
        files = _file_keys(file_ids)
        for start in range(0, len(files), FILES_PER_READ):
            await self._remove_all({"file_id": files[start : start + FILES_PER_READ]})

    async def remove_project(self, project_id: ProjectId) -> None:
        with _arguments():
            check_instance("project_id", project_id, uuid.UUID)
        await self._remove_all({"project_id": str(project_id)})

    async def similar(
        self,
        kind: CodeUnitKind,
        vector: Sequence[float],
        *,
        limit: int,
        organization_id: OrganizationId | None,
        project_id: ProjectId | None = None,
        language: ProgrammingLanguage | None = None,
        min_score: float | None = None,
    ) -> list[SimilarCode]:
        with _arguments():
            check_int("limit", limit, 1)
            if min_score is not None:
                check_number("min_score", min_score, -1.0, 1.0)  # a cosine similarity
            where: dict[str, Any] = {}
            if organization_id is not None:
                where["organization_id"] = str(
                    check_instance("organization_id", organization_id, uuid.UUID)
                )
            if project_id is not None:
                where["project_id"] = str(check_instance("project_id", project_id, uuid.UUID))
            if language is not None:
                where["language"] = check_member("language", language, ProgrammingLanguage).value
        try:
            hits = await self._store.search(
                self.collection(kind), vector, limit=limit, filter=where or None,
                score_threshold=min_score,
            )  # fmt: skip
        except NotFoundError:
            return []
        return [_hit(hit) for hit in hits]

    async def _matching(self, kind: CodeUnitKind, where: VectorFilter) -> list[CodeEmbedding]:
        """Every embedding of ``kind`` whose payload matches ``where`` (one count, and one
        read when there are any), by id."""
        collection = self.collection(kind)
        try:
            count = await self._store.count(collection, filter=where)
            points = (
                await self._store.scroll(collection, filter=where, limit=count) if count else []
            )
        except NotFoundError:
            return []
        return [_embedding(point) for point in points]

    async def _remove_all(self, where: VectorFilter) -> None:
        for kind in CodeUnitKind:
            try:
                await self._store.delete_by_filter(self.collection(kind), where)
            except NotFoundError:
                continue


def _point(embedding: CodeEmbedding) -> VectorPoint:
    payload = {
        "organization_id": str(embedding.organization_id),
        "project_id": str(embedding.project_id),
        "repository_id": str(embedding.repository_id),
        "file_id": str(embedding.file_id),
        "file_path": embedding.file_path,
        "kind": embedding.kind.value,
        "language": embedding.language.value if embedding.language else None,
        "symbol": embedding.symbol,
        "line_start": embedding.line_start,
        "line_end": embedding.line_end,
        "code_hash": embedding.code_hash,
        "code_snippet": embedding.code_snippet,
        MODEL_KEY: embedding.model,
    }
    return VectorPoint(id=embedding.id, vector=embedding.vector, payload=payload)


def _embedding(point: VectorPoint) -> CodeEmbedding:
    payload = _code_payload(point.id, point.payload)
    with _stored(point.id):
        return CodeEmbedding(
            id=EmbeddingId(point.id),
            organization_id=OrganizationId(uuid.UUID(payload["organization_id"])),
            project_id=ProjectId(uuid.UUID(payload["project_id"])),
            repository_id=RepositoryId(uuid.UUID(payload["repository_id"])),
            file_id=FileId(uuid.UUID(payload["file_id"])),
            file_path=payload["file_path"],
            kind=payload["kind"],
            language=payload["language"],
            symbol=payload["symbol"],
            line_start=payload["line_start"],
            line_end=payload["line_end"],
            code_hash=payload["code_hash"],
            code_snippet=payload["code_snippet"],
            model=payload[MODEL_KEY],
            vector=point.vector,
        )


def _hit(hit: ScoredPoint) -> SimilarCode:
    payload = _code_payload(hit.id, hit.payload)
    language = payload["language"]
    with _stored(hit.id):
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


def _code_payload(point_id: uuid.UUID, payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """``payload`` when it holds every key of a code unit's embedding; else a
    ValidationError naming the point and the keys it lacks (a point that this index did
    not write)."""
    missing = [key for key in PAYLOAD_KEYS if key not in payload]
    if missing:
        raise ValidationError(
            "point", str(point_id), f"is not a code unit's embedding: its payload lacks "
            f"{', '.join(missing)}", entity="code index",
        )  # fmt: skip
    return payload


@contextlib.contextmanager
def _arguments() -> Iterator[None]:
    """A bad argument raises the port's ValidationError (the domain's checks raise the
    domain's)."""
    try:
        yield
    except DomainValidationError as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(exc.field, exc.value, exc.reason, entity=exc.entity) from None


def _file_keys(file_ids: Sequence[FileId]) -> list[str]:
    """The payload values of ``file_ids``, distinct and sorted."""
    with _arguments():
        return sorted({str(check_instance("file_ids", f, uuid.UUID)) for f in file_ids})


@contextlib.contextmanager
def _stored(point_id: uuid.UUID) -> Iterator[None]:
    """A stored point that makes no valid embedding or hit raises ValidationError naming
    the point and what is wrong with it."""
    try:
        yield
    except (DomainValidationError, ValueError, TypeError, AttributeError) as exc:
        raise ValidationError(
            "point", str(point_id), f"is not a valid code unit's embedding: {exc}",
            entity="code index",
        ) from exc  # fmt: skip
