"""The file index: one row per tracked file of a repository."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from domain import validation as v
from domain._base import Entity, utc_now
from domain.enums import (
    AnalysisStatus,
    FileChange,
    ProgrammingLanguage,
    to_analysis_status,
    to_file_change,
    to_optional_language,
)
from domain.errors import ValidationError
from domain.ids import FileHistoryId, FileId, JobId, RepositoryId, new_id
from domain.values import FileMetadata

__all__ = ["FileHistoryEntry", "FileIndex", "FileState"]

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
    """A file of a repository as last indexed. ``(repository_id, relative_path)`` is unique
    among the files that are not deleted.

    A file keeps its identity when it is renamed (``relative_path`` changes in place) and
    when it is removed: a removed file stays, with ``analysis_status`` DELETED, so that the
    analyses that saw it keep their results and metrics; it drops out of every current
    view, and comes back with the same identity if its path does.

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

    @property
    def is_deleted(self) -> bool:
        return self.analysis_status is AnalysisStatus.DELETED

    def same_content_as(self, other: FileIndex) -> bool:
        """Whether ``other`` describes the same bytes at the same path."""
        return self.relative_path == other.relative_path and self.file_hash == other.file_hash


@attrs.frozen(kw_only=True)
class FileState:
    """What the index holds of a file without its metadata (functions, classes, imports):
    its identity, path and hash, enough to tell whether the file changed since it was
    indexed, and what a run's totals count (its lines, whether it was skipped). A read
    model the adapters build from stored files, so it carries no checks of its own."""

    id: FileId
    relative_path: str
    file_hash: str
    is_deleted: bool
    line_count: int
    skipped: bool
    updated_at: dt.datetime


@attrs.frozen(kw_only=True)
class FileHistoryEntry:
    """What an analysis job found of one file: its path and content as analysed, and how
    they changed since the file was last analysed (``previous_path`` is the path before a
    rename). A file's entries, oldest first, are its history; a job's entries are the
    files it analysed (and saw removed). ``file_hash`` is None where it is not known (the
    analyses recorded before history was kept)."""

    id: FileHistoryId = attrs.field(factory=lambda: FileHistoryId(new_id()))
    file_id: FileId
    job_id: JobId | None = None
    change: FileChange = attrs.field(converter=to_file_change, validator=v.enum_member(FileChange))
    relative_path: str = attrs.field(validator=_relative_path)
    previous_path: str | None = attrs.field(default=None, validator=v.optional(_relative_path))
    file_hash: str | None = attrs.field(default=None, validator=v.optional(v.hex_digest(64)))
    line_count: int | None = attrs.field(
        default=None, validator=v.optional(v.int_range(0, _INT32_MAX))
    )
    size_bytes: int | None = attrs.field(
        default=None, validator=v.optional(v.int_range(0, _INT64_MAX))
    )
    created_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())

    def __attrs_post_init__(self) -> None:
        renamed = self.change is FileChange.RENAMED
        if renamed and (self.previous_path is None or self.previous_path == self.relative_path):
            raise ValidationError(
                "previous_path",
                self.previous_path,
                f"a rename needs the former path, other than {self.relative_path!r}",
                entity="FileHistoryEntry",
            )
        if not renamed and self.previous_path is not None:
            raise ValidationError(
                "previous_path",
                self.previous_path,
                f"is only given for a rename (the change is {self.change})",
                entity="FileHistoryEntry",
            )
