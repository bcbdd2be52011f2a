"""PostgreSQL repository of the file index."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from adapters.common import StoredFile, check_limit, check_snapshot, plan_snapshot
from adapters.postgres._sql import (
    Repo,
    columns,
    copy_merge,
    entity_params,
    fetch_page,
    insert_sql,
    plain,
    to_entity,
    update_sql,
)
from adapters.postgres.organizations import versioned_update
from domain.enums import AnalysisStatus, ProgrammingLanguage
from domain.files import FileHistoryEntry, FileIndex, FileState
from domain.ids import FileId, RepositoryId
from domain.reports import SnapshotResult
from ports.errors import NotFoundError
from ports.pagination import Page, PageRequest
from ports.repositories import FILE_SORTS

__all__ = ["PostgresFileIndexRepository"]

FILE_COLUMNS = (
    "id", "repository_id", "relative_path", "absolute_path", "language", "size_bytes",
    "line_count", "file_hash", "content_hash", "last_modified", "analysis_status", "metadata",
    "created_at", "updated_at",
)  # fmt: skip
FILE_JSON = ("metadata",)
INSERT_FILE = insert_sql("file_index", FILE_COLUMNS)
SELECT_FILE = f"SELECT {columns(FILE_COLUMNS)} FROM file_index WHERE id = %(id)s"
LIVE = "analysis_status <> 'deleted'"
SELECT_FILE_BY_PATH = (
    f"SELECT {columns(FILE_COLUMNS)} FROM file_index"
    " WHERE repository_id = %(repository_id)s AND relative_path = %(relative_path)s"
    f" AND {LIVE}"
)
UPDATE_FILE = update_sql(
    "file_index", FILE_COLUMNS, where="id = %(id)s AND updated_at = %(updated_at)s"
)
FILE_EXISTS = "SELECT 1 AS found FROM file_index WHERE id = %(id)s"
DELETE_FILE = f"UPDATE file_index SET analysis_status = 'deleted' WHERE id = %(id)s AND {LIVE}"
# deleted files are listed only when asked for by their status
LIST_FILES = (
    f"SELECT {columns(FILE_COLUMNS)} FROM file_index WHERE repository_id = %(repository_id)s"
    " AND (analysis_status = 'deleted') = (COALESCE(%(status)s::text, '') = 'deleted')"
    " AND (%(language)s::text IS NULL OR language = %(language)s)"
    " AND (%(status)s::text IS NULL OR analysis_status = %(status)s)"
)
LIST_FILES_MODIFIED_SINCE = (
    f"SELECT {columns(FILE_COLUMNS)} FROM file_index"
    f" WHERE repository_id = %(repository_id)s AND last_modified > %(since)s AND {LIVE}"
)
COUNT_FILES = (
    f"SELECT count(*) AS n FROM file_index WHERE repository_id = %(repository_id)s AND {LIVE}"
)
UPDATE_STATUS = "UPDATE file_index SET analysis_status = %(status)s WHERE id = ANY(%(ids)s::uuid[])"
REPOSITORY_FOR_SNAPSHOT = "SELECT id FROM repositories WHERE id = %(id)s FOR UPDATE"
STORED_FILES = (
    "SELECT id, relative_path, file_hash, analysis_status = 'deleted' AS deleted, created_at,"
    " updated_at FROM file_index WHERE repository_id = %(repository_id)s"
)
FILE_STATES = (
    "SELECT id, relative_path, file_hash, analysis_status = 'deleted' AS is_deleted,"
    " line_count, metadata->>'skipped_reason' IS NOT NULL AS skipped, updated_at"
    " FROM file_index WHERE repository_id = %(repository_id)s"
    ' ORDER BY relative_path COLLATE "C", id'
)
MARK_DELETED = "UPDATE file_index SET analysis_status = 'deleted' WHERE id = ANY(%(ids)s::uuid[])"

# The files a snapshot writes are COPYed into a temporary table, then merged in one
# statement on their id (the snapshot plan gave each the identity it keeps).
MERGE_STAGE = f"""
INSERT INTO file_index ({columns(FILE_COLUMNS)}, organization_id)
SELECT {columns(FILE_COLUMNS, "s")}, r.organization_id
FROM {{stage}} s LEFT JOIN repositories r ON r.id = s.repository_id
ON CONFLICT (id) DO UPDATE SET
    relative_path = EXCLUDED.relative_path, absolute_path = EXCLUDED.absolute_path,
    language = EXCLUDED.language, size_bytes = EXCLUDED.size_bytes,
    line_count = EXCLUDED.line_count, file_hash = EXCLUDED.file_hash,
    content_hash = EXCLUDED.content_hash, last_modified = EXCLUDED.last_modified,
    analysis_status = EXCLUDED.analysis_status, metadata = EXCLUDED.metadata
"""

HISTORY_COLUMNS = (
    "id", "file_id", "job_id", "change", "relative_path", "previous_path", "file_hash",
    "line_count", "size_bytes", "created_at",
)  # fmt: skip
MERGE_HISTORY = (
    f"INSERT INTO file_history ({columns(HISTORY_COLUMNS)}, organization_id)"
    f" SELECT {columns(HISTORY_COLUMNS, 's')}, f.organization_id"
    " FROM {stage} s LEFT JOIN file_index f ON f.id = s.file_id"
)
SELECT_HISTORY = (
    f"SELECT {columns(HISTORY_COLUMNS)} FROM file_history WHERE file_id = %(file_id)s"
    " ORDER BY created_at, id"
)

# ranks on the stored document (migration 0008): no row is parsed again. The query is
# split on the characters the document splits paths on, so that a path ("app/retry.py")
# or a part of one becomes the words the document holds, not one token it never has.
# Files whose path is the text, or ends with it after a "/", come first.
SEARCH_FILES = f"""
SELECT {columns(FILE_COLUMNS, "f")}
FROM file_index f, plainto_tsquery('english', translate(%(text)s, '/._-', '    ')) q
WHERE f.repository_id = ANY(%(repository_ids)s::uuid[]) AND f.search_vector @@ q
  AND f.{LIVE}
ORDER BY lower(f.relative_path) = lower(%(text)s)
      OR right(lower(f.relative_path), length(%(text)s) + 1) = '/' || lower(%(text)s) DESC,
    ts_rank(f.search_vector, q) DESC, f.relative_path COLLATE "C", f.id
LIMIT %(limit)s
"""


def _file(row: dict[str, object]) -> FileIndex:
    return to_entity(row, FileIndex)


class PostgresFileIndexRepository(Repo):
    async def create(self, file: FileIndex) -> FileIndex:
        row = await self._one(INSERT_FILE, entity_params(file, json=FILE_JSON))
        assert row is not None
        return _file(row)

    async def find_by_id(self, id: FileId) -> FileIndex | None:
        row = await self._read_one(SELECT_FILE, {"id": id})
        return _file(row) if row else None

    async def find_by_path(
        self, repository_id: RepositoryId, relative_path: str
    ) -> FileIndex | None:
        row = await self._read_one(
            SELECT_FILE_BY_PATH, {"repository_id": repository_id, "relative_path": relative_path}
        )
        return _file(row) if row else None

    async def update(self, file: FileIndex) -> FileIndex:
        params = entity_params(file, json=FILE_JSON)
        result: FileIndex = await versioned_update(
            self, UPDATE_FILE, params, FILE_EXISTS, "file", FileIndex
        )
        return result

    async def delete(self, id: FileId) -> None:
        if not await self._rowcount(DELETE_FILE, {"id": id}):
            raise NotFoundError("file", id)

    async def list_by_repository(
        self,
        repository_id: RepositoryId,
        page: PageRequest,
        *,
        language: ProgrammingLanguage | None = None,
        status: AnalysisStatus | None = None,
    ) -> Page[FileIndex]:
        params = {
            "repository_id": repository_id,
            "language": plain(language),
            "status": plain(status),
        }
        return await fetch_page(
            self, LIST_FILES, params, page, sorts=FILE_SORTS,
            text_sorts=frozenset({"relative_path"}), convert=_file,
        )  # fmt: skip

    async def states(self, repository_id: RepositoryId) -> list[FileState]:
        rows = await self._all(FILE_STATES, {"repository_id": repository_id})
        return [FileState(**row) for row in rows]

    async def find_by_language(
        self, repository_id: RepositoryId, language: ProgrammingLanguage, page: PageRequest
    ) -> Page[FileIndex]:
        return await self.list_by_repository(repository_id, page, language=language)

    async def find_modified_since(
        self, repository_id: RepositoryId, since: dt.datetime, page: PageRequest
    ) -> Page[FileIndex]:
        return await fetch_page(
            self, LIST_FILES_MODIFIED_SINCE, {"repository_id": repository_id, "since": since},
            page, sorts=FILE_SORTS, text_sorts=frozenset({"relative_path"}), convert=_file,
        )  # fmt: skip

    async def count_by_repository(self, repository_id: RepositoryId) -> int:
        row = await self._one(COUNT_FILES, {"repository_id": repository_id})
        return int(row["n"]) if row else 0

    async def bulk_update_status(self, ids: Sequence[FileId], status: AnalysisStatus) -> int:
        unique = list(dict.fromkeys(ids))
        if not unique:
            return 0
        return await self._rowcount(UPDATE_STATUS, {"ids": unique, "status": plain(status)})

    async def upsert_snapshot(
        self, repository_id: RepositoryId, files: Sequence[FileIndex], *, prune: bool = True
    ) -> SnapshotResult:
        check_snapshot(repository_id, files)
        if await self._one(REPOSITORY_FOR_SNAPSHOT, {"id": repository_id}) is None:
            raise NotFoundError("repository", repository_id)
        rows = await self._all(STORED_FILES, {"repository_id": repository_id})
        stored = [
            StoredFile(
                r["id"], r["relative_path"], r["file_hash"], r["deleted"], r["created_at"],
                r["updated_at"],
            )
            for r in rows
        ]  # fmt: skip
        plan = plan_snapshot(stored, files, prune=prune)
        if plan.vacate:  # free the paths first: renames may exchange them
            await self._rowcount(MARK_DELETED, {"ids": list(plan.vacate)})
        writes = (*plan.inserts, *plan.updates)
        if writes:
            await copy_merge(
                await self._connection(),
                table="file_index",
                names=FILE_COLUMNS,
                rows=(_copy_row(f) for f in writes),
                merge=MERGE_STAGE,
            )
        return plan.result

    async def record_history(self, entries: Sequence[FileHistoryEntry]) -> int:
        if not entries:
            return 0
        await copy_merge(
            await self._connection(),
            table="file_history",
            names=HISTORY_COLUMNS,
            rows=map(_history_row, entries),
            merge=MERGE_HISTORY,
        )
        return len(entries)

    async def history(self, file_id: FileId) -> list[FileHistoryEntry]:
        rows = await self._all(SELECT_HISTORY, {"file_id": file_id})
        return [to_entity(r, FileHistoryEntry) for r in rows]

    async def search(
        self, repository_ids: Sequence[RepositoryId], text: str, *, limit: int = 20
    ) -> list[FileIndex]:
        check_limit(limit)
        if not repository_ids:
            return []
        rows = await self._all(
            SEARCH_FILES, {"repository_ids": list(repository_ids), "text": text, "limit": limit}
        )
        return [_file(r) for r in rows]


def _copy_row(file: FileIndex) -> tuple[object, ...]:
    params = entity_params(file, json=FILE_JSON)
    return tuple(params[c] for c in FILE_COLUMNS)


def _history_row(entry: FileHistoryEntry) -> tuple[object, ...]:
    params = entity_params(entry)
    return tuple(params[c] for c in HISTORY_COLUMNS)
