"""Code embeddings: a vector for a unit of code (function, class or file) plus the
metadata that lets a similarity search be filtered and its hits be shown."""

from __future__ import annotations

from typing import Any

import attrs

from domain import validation as v
from domain.enums import CodeUnitKind, ProgrammingLanguage, to_code_unit_kind, to_optional_language
from domain.ids import EmbeddingId, FileId, OrganizationId, ProjectId, RepositoryId, new_id
from domain.vectors import Vector

__all__ = ["CodeEmbedding", "SimilarCode"]


def _to_vector(value: Any) -> Any:
    """``value`` as a :class:`Vector`; as it is when it makes none, for the validator to
    say why."""
    try:
        return Vector(value)
    except (TypeError, ValueError):
        return value


def _vector(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is Vector:
        return
    try:
        Vector(value)
    except (TypeError, ValueError) as exc:
        v.fail(instance, attribute, value, str(exc))
    v.fail(instance, attribute, value, "must be a sequence of numbers")


@attrs.frozen(kw_only=True)
class CodeEmbedding:
    """The embedding of one code unit by the embedder named ``model``. ``code_hash``
    (SHA-256 of the unit's normalized source) lets re-indexing skip units whose code did
    not change (and that the same model embedded)."""

    id: EmbeddingId = attrs.field(factory=lambda: EmbeddingId(new_id()))
    organization_id: OrganizationId
    project_id: ProjectId
    repository_id: RepositoryId
    file_id: FileId
    file_path: str = attrs.field(validator=v.text(max_length=4096))
    kind: CodeUnitKind = attrs.field(
        converter=to_code_unit_kind, validator=v.enum_member(CodeUnitKind)
    )
    language: ProgrammingLanguage | None = attrs.field(
        default=None,
        converter=to_optional_language,
        validator=v.optional(v.enum_member(ProgrammingLanguage)),
    )
    symbol: str = attrs.field(validator=v.text(max_length=1000))
    line_start: int = attrs.field(validator=v.int_range(1))
    line_end: int = attrs.field(validator=v.int_range(1))
    code_hash: str = attrs.field(validator=v.hex_digest(64))
    code_snippet: str = ""
    model: str = attrs.field(validator=v.text(max_length=200))
    vector: Vector = attrs.field(converter=_to_vector, validator=_vector)

    def __attrs_post_init__(self) -> None:
        if self.line_end < self.line_start:
            v.fail(
                self,
                attrs.fields(CodeEmbedding).line_end,
                self.line_end,
                f"must be >= line_start ({self.line_start})",
            )

    @property
    def dimension(self) -> int:
        return len(self.vector)

    def hit(self, score: float) -> SimilarCode:
        """This unit as a hit of a similarity search, ``score`` close."""
        return SimilarCode(
            embedding_id=self.id,
            score=score,
            file_path=self.file_path,
            symbol=self.symbol,
            kind=self.kind,
            language=self.language,
            line_start=self.line_start,
            line_end=self.line_end,
            project_id=self.project_id,
            file_id=self.file_id,
        )


@attrs.frozen(kw_only=True)
class SimilarCode:
    """A hit of a similarity search: the unit found and how close it is (higher is closer)."""

    embedding_id: EmbeddingId
    score: float
    file_path: str
    symbol: str
    kind: CodeUnitKind
    language: ProgrammingLanguage | None
    line_start: int
    line_end: int
    project_id: ProjectId
    file_id: FileId
