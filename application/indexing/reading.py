"""Reading a repository and deciding what to analyse.

:func:`read_changes` reads and hashes every tracked file and compares it with the index:
a file whose bytes hash as the index has them (and whose analysis is still valid) is not
analysed again; every other file is, under the identity it keeps (a known path keeps its
file, a renamed file keeps the identity it had at its former path, a removed path that
comes back gets its file back). Indexed files that are no longer tracked are removed.

Only what a completed job recorded is in the index (a job records its snapshot when it
completes), so whatever an interrupted run read, the next run compares with the last
completed analysis and analyses exactly what no completed job covered.

:func:`parse_files` turns the contents of the files to analyse into their index entries
(language, line count, functions and classes, hashes) and their text.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import Collection, Mapping, Sequence

import attrs

from application.indexing.progress import Progress, every
from application.processes import worker_pool
from domain.enums import AnalysisStatus, FileChange
from domain.files import FileIndex, FileState
from domain.ids import FileId, RepositoryId
from domain.projects import Repository
from domain.values import FileMetadata
from ports.source import CodeAnalyzer, FileAnalysis, SourceReader, SourceSnapshot, TrackedFile

__all__ = ["Changes", "Parsed", "ToAnalyse", "new_file_id", "parse_files", "read_changes"]

_DESCRIPTION_LIMIT = 2000
_CHUNKS_PER_WORKER = 8
"""Each worker process gets about this many chunks of the files, of similar sizes."""
_FILE_IDS = uuid.UUID("3f0c6f52-57d5-4b6e-9a8c-6f0a1c2d3e4f")
"""Namespace of the identities given to new files (see :func:`new_file_id`)."""


@attrs.frozen(kw_only=True)
class ToAnalyse:
    """A tracked file to analyse: its content, the identity it takes, and how it changed
    since the last analysis (ANALYSED: it did not, but that analysis is no longer valid)."""

    tracked: TrackedFile
    content: bytes
    digest: str
    id: FileId
    change: FileChange


@attrs.frozen(kw_only=True)
class Changes:
    """What a run found: the files it keeps as indexed, those to analyse, the indexed files
    that are gone, and the renames (file id -> former path)."""

    kept: tuple[FileState, ...]
    to_analyse: tuple[ToAnalyse, ...]
    removed: tuple[FileState, ...]
    renamed: Mapping[FileId, str]

    @property
    def nothing(self) -> bool:
        return not self.to_analyse and not self.removed

    def count(self, change: FileChange) -> int:
        return sum(1 for item in self.to_analyse if item.change is change)


def new_file_id(repository_id: RepositoryId, path: str, taken: Collection[FileId]) -> FileId:
    """The identity of a file first seen at ``path``: derived from the repository and the
    path (the first of ``path``, ``path#2``, ... not ``taken`` by a stored file), so that a
    run interrupted before it recorded anything and the run after it give the new file
    the same identity, and what the first wrote outside the database (embeddings) is the
    second's to overwrite."""
    n = 1
    while True:
        key = f"{repository_id}/{path}" if n == 1 else f"{repository_id}/{path}#{n}"
        candidate = FileId(uuid.uuid5(_FILE_IDS, key))
        if candidate not in taken:
            return candidate
        n += 1


async def read_changes(
    reader: SourceReader,
    snapshot: SourceSnapshot,
    repository: Repository,
    stored: Sequence[FileState],
    *,
    analyse_all: bool,
    since_commit: str | None,
    report: Progress,
) -> Changes:
    """Read every tracked file and compare it with ``stored`` (the repository's indexed
    files, deleted ones included). ``analyse_all`` analyses every file again (the rules
    changed since the last analysis); ``since_commit`` is the commit of the last analysis,
    from which renames are detected."""
    live = {f.relative_path: f for f in stored if not f.is_deleted}
    deleted: dict[str, FileState] = {}
    for f in sorted((f for f in stored if f.is_deleted), key=lambda f: (f.updated_at, f.id)):
        deleted[f.relative_path] = f  # the most recently deleted wins
    taken = {f.id for f in stored}
    tracked_paths = {t.relative_path for t in snapshot.files}

    contents: dict[str, tuple[bytes, str]] = {}
    total = len(snapshot.files)
    for done, tracked in enumerate(snapshot.files, start=1):
        content = await reader.read(snapshot.root, tracked.relative_path)
        contents[tracked.relative_path] = (content, hashlib.sha256(content).hexdigest())
        every(report, "reading", done, total)

    gone = {path: f for path, f in live.items() if path not in tracked_paths}
    arrived = [path for path in tracked_paths if path not in live]
    moves = await _renames(reader, snapshot.root, since_commit, gone, arrived, contents)

    kept: list[FileState] = []
    to_analyse: list[ToAnalyse] = []
    claimed: set[FileId] = set(f.id for f in moves.values())
    for tracked in snapshot.files:
        path = tracked.relative_path
        content, digest = contents[path]
        known = live.get(path)
        if known is not None and known.file_hash == digest and not analyse_all:
            kept.append(known)
            continue
        if known is not None:
            file_id = known.id
            change = FileChange.ANALYSED if known.file_hash == digest else FileChange.MODIFIED
        elif path in moves:
            file_id, change = moves[path].id, FileChange.RENAMED
        elif path in deleted and deleted[path].id not in claimed:
            file_id, change = deleted[path].id, FileChange.RESTORED
        else:
            file_id, change = new_file_id(repository.id, path, taken), FileChange.ADDED
            taken.add(file_id)
        to_analyse.append(
            ToAnalyse(tracked=tracked, content=content, digest=digest, id=file_id, change=change)
        )
    moved_from = {f.relative_path for f in moves.values()}
    return Changes(
        kept=tuple(kept),
        to_analyse=tuple(to_analyse),
        removed=tuple(f for path, f in gone.items() if path not in moved_from),
        renamed={f.id: f.relative_path for f in moves.values()},
    )


async def _renames(
    reader: SourceReader,
    root: str,
    since_commit: str | None,
    gone: Mapping[str, FileState],
    arrived: Sequence[str],
    contents: Mapping[str, tuple[bytes, str]],
) -> dict[str, FileState]:
    """New path -> the indexed file that moved there: the renames git detects since the
    last analysed commit, then, for the rest, a gone file whose exact content arrived at
    exactly one new path."""
    if not gone or not arrived:
        return {}
    moves: dict[str, FileState] = {}
    candidates = set(arrived)
    if since_commit is not None:
        for rename in await reader.renames(root, since_commit):
            source = gone.get(rename.old_path)
            if (
                source is not None
                and rename.new_path in candidates
                and source.id not in {f.id for f in moves.values()}
            ):
                moves[rename.new_path] = source
                candidates.discard(rename.new_path)
    moved = {f.id for f in moves.values()}
    by_hash: dict[str, list[str]] = {}
    for path in candidates:
        by_hash.setdefault(contents[path][1], []).append(path)
    sources: dict[str, list[FileState]] = {}
    for f in gone.values():
        if f.id not in moved:
            sources.setdefault(f.file_hash, []).append(f)
    for digest, paths in by_hash.items():
        if len(paths) == 1 and len(sources.get(digest, ())) == 1:
            moves[paths[0]] = sources[digest][0]
    return moves


@attrs.frozen(kw_only=True)
class Parsed:
    """A file as analysed: its index entry and its text (None for a binary file)."""

    file: FileIndex
    text: str | None


async def parse_files(
    analyzer: CodeAnalyzer,
    root: str,
    repository: Repository,
    to_analyse: Sequence[ToAnalyse],
    report: Progress,
    *,
    workers: int = 1,
) -> list[Parsed]:
    """The index entry and text of each file to analyse, in order. With ``workers`` above
    one, the analyzer (which must then pickle) runs in as many worker processes, on
    chunks of the files; each file's analysis is its own, so the results are those of
    one process. A cancelled run cancels the chunks not yet begun."""
    if workers <= 1 or len(to_analyse) < 2:
        parsed = []
        for done, item in enumerate(to_analyse, start=1):
            analysis = analyzer.analyze(item.tracked.relative_path, item.content)
            parsed.append(_parse(analysis, root, repository, item))
            every(report, "parsing", done, len(to_analyse))
        return parsed
    analyses = await _analyse_in_workers(analyzer, to_analyse, report, workers)
    return [
        _parse(analysis, root, repository, item)
        for analysis, item in zip(analyses, to_analyse, strict=True)
    ]


async def _analyse_in_workers(
    analyzer: CodeAnalyzer, to_analyse: Sequence[ToAnalyse], report: Progress, workers: int
) -> list[FileAnalysis]:
    """``analyzer.analyze`` of every file, in ``workers`` processes; in order."""
    chunks = _chunks(to_analyse, workers * _CHUNKS_PER_WORKER)
    analyses: list[FileAnalysis | None] = [None] * len(to_analyse)
    loop = asyncio.get_running_loop()
    executor = worker_pool(min(workers, len(chunks)))
    pending: dict[asyncio.Future[list[FileAnalysis]], list[int]] = {}
    try:
        pending = {
            loop.run_in_executor(
                executor,
                _analyse_chunk,
                analyzer,
                [(to_analyse[i].tracked.relative_path, to_analyse[i].content) for i in chunk],
            ): chunk
            for chunk in chunks
        }
        done = 0
        while pending:
            finished, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in finished:
                chunk = pending.pop(future)
                for i, analysis in zip(chunk, future.result(), strict=True):
                    analyses[i] = analysis
                done += len(chunk)
                report("parsing", done, len(to_analyse))
    finally:
        for future in pending:
            future.cancel()
        executor.shutdown(wait=False, cancel_futures=True)
    return [a for a in analyses if a is not None]


def _chunks(to_analyse: Sequence[ToAnalyse], count: int) -> list[list[int]]:
    """The indexes of the files in about ``count`` chunks of similar sizes in bytes, the
    largest files first (so that no worker is left with a large file at the end)."""
    order = sorted(range(len(to_analyse)), key=lambda i: -len(to_analyse[i].content))
    target = max(1, sum(len(item.content) for item in to_analyse) // max(1, count))
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 0
    for i in order:
        current.append(i)
        size += len(to_analyse[i].content)
        if size >= target:
            chunks.append(current)
            current, size = [], 0
    if current:
        chunks.append(current)
    return chunks


def _analyse_chunk(analyzer: CodeAnalyzer, files: list[tuple[str, bytes]]) -> list[FileAnalysis]:
    return [analyzer.analyze(path, content) for path, content in files]


def _parse(analysis: FileAnalysis, root: str, repository: Repository, item: ToAnalyse) -> Parsed:
    tracked = item.tracked
    metadata = analysis.metadata
    if analysis.text is not None and metadata.description is None:
        metadata = attrs.evolve(metadata, description=_symbols(metadata))
    normalized = None
    if analysis.text is not None:
        lines = analysis.text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        normalized = hashlib.sha256("\n".join(line.rstrip() for line in lines).encode()).hexdigest()
    file = FileIndex(
        id=item.id,
        repository_id=repository.id,
        relative_path=tracked.relative_path,
        absolute_path=os.path.join(root, tracked.relative_path),
        language=analysis.language,
        size_bytes=len(item.content),
        line_count=analysis.line_count,
        file_hash=item.digest,
        content_hash=normalized,
        last_modified=tracked.last_modified,
        analysis_status=(
            AnalysisStatus.SKIPPED if metadata.skipped_reason else AnalysisStatus.ANALYZED
        ),
        metadata=metadata,
    )
    return Parsed(file=file, text=analysis.text)


def _symbols(metadata: FileMetadata) -> str | None:
    """The names a full-text search of files should find: functions and classes."""
    names = [f.name for f in metadata.functions] + [c.name for c in metadata.classes]
    text = " ".join(dict.fromkeys(names))
    return text[:_DESCRIPTION_LIMIT] or None
