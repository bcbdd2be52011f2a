"""Ports to the code being indexed: reading a git repository, and analysing one file."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import attrs

from domain.enums import ProgrammingLanguage
from domain.values import CommitInfo, FileMetadata

__all__ = [
    "BranchInfo",
    "CodeAnalyzer",
    "FileAnalysis",
    "Rename",
    "SourceReader",
    "SourceSnapshot",
    "TrackedFile",
]


@attrs.frozen(kw_only=True)
class BranchInfo:
    name: str
    commit_hash: str
    is_default: bool
    last_commit_at: dt.datetime | None


@attrs.frozen(kw_only=True)
class TrackedFile:
    """A file of the repository's HEAD: its path relative to the root (POSIX separators),
    its size, and the time of the last commit that changed it."""

    relative_path: str
    size_bytes: int
    last_modified: dt.datetime


@attrs.frozen(kw_only=True)
class SourceSnapshot:
    """What a repository holds at HEAD. ``default_branch`` is the checked-out branch (or
    the remote's default when HEAD is detached); ``remote_url`` the ``origin`` remote.
    ``branch`` is the checked-out branch, None when HEAD is detached; ``dirty`` whether
    tracked files have changes that are not committed (staged or not)."""

    root: str
    head_commit: CommitInfo | None
    default_branch: str
    remote_url: str | None
    branches: tuple[BranchInfo, ...]
    files: tuple[TrackedFile, ...]
    branch: str | None = None
    dirty: bool = False


@attrs.frozen
class Rename:
    """A file that moved from ``old_path`` to ``new_path`` (``similarity`` in percent)."""

    old_path: str
    new_path: str
    similarity: int = 100


class SourceReader(Protocol):
    """Reads a repository on the local file system. Raises ValidationError naming the
    path when it is not a repository (or not readable)."""

    async def snapshot(self, root: str) -> SourceSnapshot: ...
    async def read(self, root: str, relative_path: str) -> bytes:
        """The bytes of a tracked file as they are in the working tree."""
        ...

    async def renames(self, root: str, since_commit: str) -> list[Rename]:
        """The files renamed between commit ``since_commit`` and the working tree, as the
        version control system detects them (content moved whole or mostly); empty when
        that commit is not in the repository."""
        ...


@attrs.frozen(kw_only=True)
class FileAnalysis:
    """What analysing one file found. ``text`` is the decoded content (None for a binary
    or undecodable file, whose ``metadata.skipped_reason`` says why); ``line_count`` is the
    number of line feeds of the text (what ``wc -l`` counts of a UTF-8 file), 0 without
    text: only text files have lines."""

    language: ProgrammingLanguage | None
    line_count: int
    text: str | None
    metadata: FileMetadata


class CodeAnalyzer(Protocol):
    """Detects a file's language and encoding and extracts its functions and classes with
    their signatures and complexity. Never raises on file content: what it cannot read
    it reports in ``metadata.skipped_reason``."""

    def analyze(self, relative_path: str, content: bytes) -> FileAnalysis: ...
