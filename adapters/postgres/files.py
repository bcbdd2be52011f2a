"""PostgreSQL repository of the file index."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from psycopg import sql

from adapters.common import check_limit, check_snapshot
from adapters.postgres._sql import (
    Repo,
    columns,
    entity_params,
    fetch_page,
    insert_sql,
    plain,
    to_entity,
    update_sql,
)
from adapters.postgres.errors import translated
from adapters.postgres.organizations import versioned_update
from domain.enums import AnalysisStatus, ProgrammingLanguage
from domain.files import FileIndex
from domain.ids import FileId, RepositoryId
from domain.reports import FileRef, SnapshotResult
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
SELECT_FILE_BY_PATH = (
    f"SELECT {columns(FILE_COLUMNS)} FROM file_index"
    " WHERE repository_id = %(repository_id)s AND relative_path = %(relative_path)s"
)
UPDATE_FILE = update_sql(
    "file_index", FILE_COLUMNS, where="id = %(id)s AND updated_at = %(updated_at)s"
)
FILE_EXISTS = "SELECT 1 AS found FROM file_index WHERE id = %(id)s"
DELETE_FILE = "DELETE FROM file_index WHERE id = %(id)s"
LIST_FILES = (
    f"SELECT {columns(FILE_COLUMNS)} FROM file_index WHERE repository_id = %(repository_id)s"
    " AND (%(language)s::text IS NULL OR language = %(language)s)"
    " AND (%(status)s::text IS NULL OR analysis_status = %(status)s)"
)
LIST_FILES_MODIFIED_SINCE = (
    f"SELECT {columns(FILE_COLUMNS)} FROM file_index"
    " WHERE repository_id = %(repository_id)s AND last_modified > %(since)s"
)
COUNT_FILES = "SELECT count(*) AS n FROM file_index WHERE repository_id = %(repository_id)s"
UPDATE_STATUS = "UPDATE file_index SET analysis_status = %(status)s WHERE id = ANY(%(ids)s::uuid[])"
REPOSITORY_FOR_SNAPSHOT = "SELECT id FROM repositories WHERE id = %(id)s FOR UPDATE"

# A snapshot is COPYed into a temporary table, then merged in two statements.
CREATE_STAGE = "CREATE TEMPORARY TABLE {stage} (LIKE file_index INCLUDING DEFAULTS) ON COMMIT DROP"
COPY_STAGE = f"COPY {{stage}} ({columns(FILE_COLUMNS)}) FROM STDIN"
MERGE_STAGE = f"""
INSERT INTO file_index ({columns(FILE_COLUMNS)})
SELECT {columns(FILE_COLUMNS)} FROM {{stage}}
ON CONFLICT (repository_id, relative_path) DO UPDATE SET
    absolute_path = EXCLUDED.absolute_path, language = EXCLUDED.language,
    size_bytes = EXCLUDED.size_bytes, line_count = EXCLUDED.line_count,
    file_hash = EXCLUDED.file_hash, content_hash = EXCLUDED.content_hash,
    last_modified = EXCLUDED.last_modified, analysis_status = EXCLUDED.analysis_status,
    metadata = EXCLUDED.metadata
WHERE file_index.file_hash IS DISTINCT FROM EXCLUDED.file_hash
RETURNING id, relative_path, (xmax = 0) AS inserted
"""
PRUNE_MISSING = """
DELETE FROM file_index f
WHERE f.repository_id = %(repository_id)s
  AND NOT EXISTS (SELECT 1 FROM {stage} s WHERE s.relative_path = f.relative_path)
RETURNING f.id, f.relative_path
"""
DROP_STAGE = "DROP TABLE {stage}"

# ranks on the stored document (migration 0008): no row is parsed again
SEARCH_FILES = f"""
SELECT {columns(FILE_COLUMNS, "f")}
FROM file_index f, plainto_tsquery('english', %(text)s) q
WHERE f.repository_id = ANY(%(repository_ids)s::uuid[]) AND f.search_vector @@ q
ORDER BY ts_rank(f.search_vector, q) DESC, f.relative_path COLLATE "C", f.id
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
        row = await self._one(SELECT_FILE, {"id": id})
        return _file(row) if row else None

    async def find_by_path(
        self, repository_id: RepositoryId, relative_path: str
    ) -> FileIndex | None:
        row = await self._one(
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
        stage = sql.Identifier(f"file_snapshot_{uuid.uuid4().hex}")
        conn = self._conn()
        async with translated():
            await conn.execute(sql.SQL(CREATE_STAGE).format(stage=stage))
            async with conn.cursor() as cur:
                async with cur.copy(sql.SQL(COPY_STAGE).format(stage=stage)) as copy:
                    for file in files:
                        await copy.write_row(_copy_row(file))
            merged = await (await conn.execute(sql.SQL(MERGE_STAGE).format(stage=stage))).fetchall()
            removed_rows = []
            if prune:
                cur = await conn.execute(
                    sql.SQL(PRUNE_MISSING).format(stage=stage), {"repository_id": repository_id}
                )
                removed_rows = await cur.fetchall()
            await conn.execute(sql.SQL(DROP_STAGE).format(stage=stage))
        added = sorted(
            (FileRef(r["id"], r["relative_path"]) for r in merged if r["inserted"]),
            key=lambda ref: ref.relative_path,
        )
        modified = sorted(
            (FileRef(r["id"], r["relative_path"]) for r in merged if not r["inserted"]),
            key=lambda ref: ref.relative_path,
        )
        removed = sorted(
            (FileRef(r["id"], r["relative_path"]) for r in removed_rows),
            key=lambda ref: ref.relative_path,
        )
        return SnapshotResult(
            added=tuple(added),
            modified=tuple(modified),
            removed=tuple(removed),
            unchanged=len(files) - len(added) - len(modified),
        )

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
