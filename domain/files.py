"""The file index: one row per tracked file of a repository."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from domain import validation as v
from domain._base import Entity, utc_now
from domain.enums import (
    AnalysisStatus,
    ProgrammingLanguage,
    to_analysis_status,
    to_optional_language,
)
from domain.ids import FileId, RepositoryId, new_id
from domain.values import FileMetadata

__all__ = ["FileIndex"]

_INT32_MAX = (1 << 31) - 1
_INT64_MAX = (1 << 63) - 1


def _relative_path(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    v.text(max_length=4096)(instance, attribute, value)
    if value.startswith("/") or value.startswith("\\"):
        v.fail(instance, attribute, value, "must be relative to the repository root")
    if ".." in value.replace("\\", "/").split("/"):
        v.fail(instance, attribute, value, "must not contain '..' components")


@attrs.define(kw_only=True, eq=False)
class FileIndex(Entity):
    """A file of a repository as last indexed. ``(repository_id, relative_path)`` is unique.

    ``file_hash`` is the SHA-256 of the raw bytes; ``content_hash`` that of the normalized
    content (line endings and trailing whitespace), so a change of line endings alone does
    not count as a change of code.
    """

    id: FileId = attrs.field(factory=lambda: FileId(new_id()))
    repository_id: RepositoryId
    relative_path: str = attrs.field(validator=_relative_path)
    absolute_path: str = attrs.field(validator=v.text(max_length=8192))
    language: ProgrammingLanguage | None = attrs.field(
        default=None,
        converter=to_optional_language,
        validator=v.optional(v.enum_member(ProgrammingLanguage)),
    )
    size_bytes: int = attrs.field(validator=v.int_range(0, _INT64_MAX))
    line_count: int = attrs.field(default=0, validator=v.int_range(0, _INT32_MAX))
    file_hash: str = attrs.field(validator=v.hex_digest(64))
    content_hash: str | None = attrs.field(default=None, validator=v.optional(v.hex_digest(64)))
    last_modified: dt.datetime = attrs.field(validator=v.aware_datetime())
    analysis_status: AnalysisStatus = attrs.field(
        default=AnalysisStatus.PENDING,
        converter=to_analysis_status,
        validator=v.enum_member(AnalysisStatus),
    )
    metadata: FileMetadata = attrs.Factory(FileMetadata)
    created_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    updated_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())

    def same_content_as(self, other: FileIndex) -> bool:
        """Whether ``other`` describes the same bytes at the same path."""
        return self.relative_path == other.relative_path and self.file_hash == other.file_hash
