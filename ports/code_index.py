"""The code index port: the embeddings of code units, searchable by similarity, in the
domain's terms. How they are kept (collections, payloads, filters, indexes) is the
adapter's business."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from domain.embeddings import CodeEmbedding, SimilarCode
from domain.enums import CodeUnitKind, ProgrammingLanguage
from domain.ids import EmbeddingId, FileId, OrganizationId, ProjectId

__all__ = ["CodeIndex"]


class CodeIndex(Protocol):
    """The embeddings of code units, one space per :class:`~domain.enums.CodeUnitKind`,
    each of one dimension, compared by cosine similarity.

    A kind's space is made by :meth:`prepare`; reading or searching a kind never
    prepared gives nothing, writing to one raises :class:`~ports.errors.NotFoundError`.
    An embedding whose vector is not of its space's dimension raises
    :class:`~ports.errors.ValidationError` before anything is written; an unreachable
    store :class:`~ports.errors.UnavailableError`. Embeddings read back are equal to
    those written, but for vector components, which may come back as their nearest
    32-bit floats.
    """

    async def prepare(self, kind: CodeUnitKind, *, dimension: int) -> None:
        """Make the space of ``kind`` ready for vectors of ``dimension``. If it holds
        vectors of another dimension, raise ValidationError naming both (embeddings of
        another model must be removed, or the index rebuilt, before they change size)."""
        ...

    async def write(self, embeddings: Sequence[CodeEmbedding]) -> None:
        """Store ``embeddings``, replacing any stored under the same id."""
        ...

    async def get(self, kind: CodeUnitKind, ids: Sequence[EmbeddingId]) -> list[CodeEmbedding]:
        """The stored embeddings of ``ids`` in the order of ``ids``; ids not stored are
        skipped, and an id asked for twice comes once."""
        ...

    async def of_files(self, kind: CodeUnitKind, file_ids: Sequence[FileId]) -> list[CodeEmbedding]:
        """Every stored embedding of ``kind`` of the files ``file_ids``, by id."""
        ...

    async def of_project(self, kind: CodeUnitKind, project_id: ProjectId) -> list[CodeEmbedding]:
        """Every stored embedding of ``kind`` of the project, by id."""
        ...

    async def remove(self, kind: CodeUnitKind, ids: Sequence[EmbeddingId]) -> None:
        """Delete the embeddings of ``ids``; ids not stored are ignored."""
        ...

    async def remove_files(self, file_ids: Sequence[FileId]) -> None:
        """Delete every embedding of the files ``file_ids``, of every kind (in a few
        operations of the store, however many files)."""
        ...

    async def remove_project(self, project_id: ProjectId) -> None:
        """Delete every embedding of the project, of every kind."""
        ...

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
        """The ``limit`` stored embeddings of ``kind`` closest to ``vector`` (cosine
        similarity as the score, closest first, ties by id): those of
        ``organization_id`` (None: every organization's), of ``project_id`` and
        ``language`` when given, and at least ``min_score`` similar when given."""
        ...
