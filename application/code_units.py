"""Code units (functions, classes, files) as they are indexed for similarity search:
their identity in the code index, the hash that detects a change, and where they live."""

from __future__ import annotations

import functools
import hashlib
import uuid
from typing import Any

import attrs

from domain import validation as v
from domain.enums import (
    CodeUnitKind,
    ProgrammingLanguage,
    to_code_unit_kind,
    to_optional_language,
)
from domain.ids import EmbeddingId, FileId, OrganizationId, ProjectId, RepositoryId

__all__ = ["CodeUnit", "code_hash", "normalize_code", "unit_id"]

_POINT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://codeant.dev/code-unit")


def normalize_code(code: str) -> str:
    """``code`` with line endings unified to ``\\n`` and trailing whitespace removed from
    every line and from the end, so that such edits do not count as changes."""
    unified = code.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in unified.split("\n")).rstrip()


def code_hash(code: str) -> str:
    """SHA-256 (hex) of the normalized ``code``."""
    return _digest(normalize_code(code))


def _digest(normalized: str) -> str:
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def unit_id(
    repository_id: RepositoryId, file_path: str, kind: CodeUnitKind, symbol: str, line_start: int
) -> EmbeddingId:
    """The id of a code unit's embedding, stable across re-indexing: derived from its
    repository, path, kind, symbol and first line, so that indexing the same unit again
    overwrites it."""
    key = "\x1f".join((str(repository_id), file_path, kind.value, symbol, str(line_start)))
    return EmbeddingId(uuid.uuid5(_POINT_NAMESPACE, key))


def _line_end(instance: CodeUnit, attribute: attrs.Attribute[Any], value: Any) -> None:
    v.int_range(1)(instance, attribute, value)
    if value < instance.line_start:
        v.fail(instance, attribute, value, f"must be >= line_start ({instance.line_start})")


@attrs.frozen(kw_only=True)
class CodeUnit:
    """A unit of source code to embed, with the coordinates a search hit reports."""

    organization_id: OrganizationId
    project_id: ProjectId
    repository_id: RepositoryId
    file_id: FileId
    file_path: str = attrs.field(validator=v.text(max_length=4096))
    kind: CodeUnitKind = attrs.field(
        converter=to_code_unit_kind, validator=v.enum_member(CodeUnitKind)
    )
    language: ProgrammingLanguage | None = attrs.field(
        converter=to_optional_language, validator=v.optional(v.enum_member(ProgrammingLanguage))
    )
    symbol: str = attrs.field(validator=v.text(max_length=1000))
    line_start: int = attrs.field(validator=v.int_range(1))
    line_end: int = attrs.field(validator=_line_end)
    code: str = attrs.field(validator=v.text())

    @functools.cached_property
    def point_id(self) -> EmbeddingId:
        """The id of the unit's embedding (:func:`unit_id`)."""
        return unit_id(self.repository_id, self.file_path, self.kind, self.symbol, self.line_start)

    @functools.cached_property
    def normalized_code(self) -> str:
        """The code as it is hashed and embedded (:func:`normalize_code`)."""
        return normalize_code(self.code)

    @functools.cached_property
    def code_hash(self) -> str:
        """SHA-256 (hex) of :attr:`normalized_code` (:func:`code_hash`)."""
        return _digest(self.normalized_code)
