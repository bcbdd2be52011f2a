"""PostgreSQL repository of tracked issues and their changelogs."""

from __future__ import annotations

import builtins
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from psycopg import sql

from adapters.postgres._sql import Repo, columns, copy_merge, entity_params, plain, to_entity
from domain.enums import IssueStatus, Resolution, Severity
from domain.ids import FileId, IssueId, ProjectId
from domain.issues import Issue, IssueChange
from domain.quality import IssueCount
from ports.errors import NotFoundError, ValidationError
from ports.pagination import Page, PageRequest, check_sort, decode_cursor, encode_cursor
from ports.repositories import ISSUE_SORTS, IssueFilters

__all__ = ["PostgresIssueRepository"]

ISSUE_COLUMNS = (
    "id", "project_id", "branch", "rule_id", "severity", "category", "title", "description",
    "file_id", "path", "line", "line_hash", "status", "resolution", "new_code",
    "first_seen_job_id", "last_seen_job_id", "first_seen_at", "last_seen_at", "closed_at",
    "created_at", "updated_at",
)  # fmt: skip
# what an analysis or a user changes of an issue (never its identity, project or branch)
ISSUE_STATE = tuple(
    c for c in ISSUE_COLUMNS if c not in ("id", "project_id", "branch", "created_at")
)
_ARRAY_TYPES = {
    "id": "uuid", "file_id": "uuid", "first_seen_job_id": "uuid", "last_seen_job_id": "uuid",
    "line": "integer", "new_code": "boolean", "first_seen_at": "timestamptz",
    "last_seen_at": "timestamptz", "closed_at": "timestamptz", "updated_at": "timestamptz",
}  # fmt: skip
_STATE_TYPES = [_ARRAY_TYPES.get(c, "text") for c in ("id", *ISSUE_STATE)]

# issues are staged and merged with their project's organization (found once per
# statement; an unknown project leaves it NULL, and the schema's trigger reports it)
MERGE_ISSUES = (
    f"INSERT INTO issues ({columns(ISSUE_COLUMNS)}, organization_id)"
    f" SELECT {columns(ISSUE_COLUMNS, 's')}, p.organization_id"
    " FROM {stage} s LEFT JOIN projects p ON p.id = s.project_id"
)
# one statement for every issue: each column travels as one array
UPDATE_ISSUES = (
    "UPDATE issues i SET "
    + ", ".join(f"{c} = s.{c}" for c in ISSUE_STATE)
    + " FROM unnest("
    + ", ".join(f"%({c})s::{t}[]" for c, t in zip(("id", *ISSUE_STATE), _STATE_TYPES, strict=True))
    + f") AS s({columns(('id', *ISSUE_STATE))})"
    " WHERE i.id = s.id RETURNING i.id"
)
SELECT_ISSUE = f"SELECT {columns(ISSUE_COLUMNS)} FROM issues WHERE id = %(id)s"
LOCK_ISSUE = SELECT_ISSUE + " FOR UPDATE"
LIST_ISSUES = (
    f"SELECT {columns(ISSUE_COLUMNS)} FROM issues WHERE project_id = %(project_id)s"
    " AND (%(branch)s::text IS NULL OR branch = %(branch)s)"
    " AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))"
    " AND (%(severities)s::text[] IS NULL OR severity = ANY(%(severities)s::text[]))"
    " AND (%(new_code)s::boolean IS NULL OR new_code = %(new_code)s)"
    " AND (%(file_id)s::uuid IS NULL OR file_id = %(file_id)s)"
    " AND (%(rule_id)s::text IS NULL OR rule_id = %(rule_id)s)"
)
FOR_TRACKING = (
    f"SELECT {columns(ISSUE_COLUMNS)} FROM issues"
    " WHERE project_id = %(project_id)s AND branch = %(branch)s"
    " AND (status <> 'closed' OR closed_at >= %(closed_since)s)"
    " AND (%(all_files)s OR file_id = ANY(%(file_ids)s::uuid[])"
    " OR (%(no_file)s AND file_id IS NULL))"
    " ORDER BY id"
)
MARK_NEW_CODE = (
    "UPDATE issues SET new_code = COALESCE(first_seen_at > %(since)s::timestamptz, FALSE)"
    " WHERE project_id = %(project_id)s AND branch = %(branch)s"
    " AND new_code <> COALESCE(first_seen_at > %(since)s::timestamptz, FALSE)"
)
COUNT_ISSUES = (
    "SELECT status, resolution, severity, new_code, count(*) AS count FROM issues"
    " WHERE project_id = %(project_id)s AND branch = %(branch)s"
    " GROUP BY status, resolution, severity, new_code"
    " ORDER BY status, resolution NULLS FIRST, severity, new_code"
)
DELETE_CLOSED = "DELETE FROM issues WHERE status = 'closed' AND closed_at < %(before)s"

CHANGE_COLUMNS = (
    "id", "issue_id", "job_id", "actor", "at", "from_status", "to_status", "from_resolution",
    "to_resolution", "comment",
)  # fmt: skip
MERGE_CHANGES = (
    f"INSERT INTO issue_changes ({columns(CHANGE_COLUMNS)}, organization_id)"
    f" SELECT {columns(CHANGE_COLUMNS, 's')}, i.organization_id"
    " FROM {stage} s LEFT JOIN issues i ON i.id = s.issue_id"
)
SELECT_CHANGELOG = (
    f"SELECT {columns(CHANGE_COLUMNS)} FROM issue_changes WHERE issue_id = %(issue_id)s"
    " ORDER BY at, id"
)

# ``severity`` orders the most severe first, then by place: its key is three columns
_RANK = (
    "CASE severity WHEN 'critical' THEN 1 WHEN 'high' THEN 2 WHEN 'medium' THEN 3"
    " WHEN 'low' THEN 4 ELSE 5 END"
)
_SORT_KEYS: dict[str, tuple[str, ...]] = {
    "severity": (_RANK, 'path COLLATE "C"', "COALESCE(line, 0)"),
    "path": ('path COLLATE "C"',),
    "first_seen_at": ("first_seen_at",),
    "last_seen_at": ("last_seen_at",),
    "updated_at": ("updated_at",),
}


def _issue(row: dict[str, Any]) -> Issue:
    return to_entity(row, Issue)


def _row(params: dict[str, Any], names: Sequence[str]) -> tuple[Any, ...]:
    return tuple(params[n] for n in names)


def _sort_value(issue: Issue, sort: str) -> Any:
    """The cursor's value of the last issue of a page: one value, or for ``severity`` its
    three as a JSON list (a cursor holds one value)."""
    if sort == "severity":
        return json.dumps([issue.severity.rank, issue.path, issue.line or 0])
    return plain(getattr(issue, sort))


def _after_values(sort: str, value: Any, cursor: str) -> list[Any]:
    if sort != "severity":
        return [value]
    try:
        rank, path, line = json.loads(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError("cursor", cursor, "is not a cursor this service issued") from exc
    if not (isinstance(rank, int) and isinstance(path, str) and isinstance(line, int)):
        raise ValidationError("cursor", cursor, "is not a cursor this service issued")
    return [rank, path, line]


class PostgresIssueRepository(Repo):
    async def add_many(self, issues: Sequence[Issue]) -> int:
        if not issues:
            return 0
        await copy_merge(
            await self._connection(),
            table="issues",
            names=ISSUE_COLUMNS,
            rows=(_row(entity_params(i), ISSUE_COLUMNS) for i in issues),
            merge=MERGE_ISSUES,
        )
        return len(issues)

    async def update_many(self, issues: Sequence[Issue]) -> int:
        latest = {issue.id: issue for issue in issues}  # the last state of an issue wins
        if not latest:
            return 0
        params: dict[str, list[Any]] = {c: [] for c in ("id", *ISSUE_STATE)}
        for issue in latest.values():
            values = entity_params(issue)
            for name, column in params.items():
                column.append(values[name])
        rows = await self._all(UPDATE_ISSUES, params)
        if len(rows) != len(latest):
            updated = {r["id"] for r in rows}
            missing = next(i for i in latest if i not in updated)
            raise NotFoundError("issue", missing)
        return len(rows)

    async def find_by_id(self, id: IssueId) -> Issue | None:
        row = await self._read_one(SELECT_ISSUE, {"id": id})
        return _issue(row) if row else None

    async def lock(self, id: IssueId) -> Issue:
        row = await self._one(LOCK_ISSUE, {"id": id})
        if row is None:
            raise NotFoundError("issue", id)
        return _issue(row)

    async def list(
        self, project_id: ProjectId, page: PageRequest, *, filters: IssueFilters | None = None
    ) -> Page[Issue]:
        f = filters or IssueFilters()
        params: dict[str, Any] = {
            "project_id": project_id,
            "branch": f.branch,
            "statuses": None if f.statuses is None else [plain(s) for s in f.statuses],
            "severities": None
            if f.min_severity is None
            else [s.value for s in Severity if s >= f.min_severity],
            "new_code": f.new_code,
            "file_id": f.file_id,
            "rule_id": f.rule_id,
        }
        sort = check_sort(page, ISSUE_SORTS, ISSUE_SORTS[0])
        keys = [sql.SQL(k) for k in (*_SORT_KEYS[sort], "id")]
        direction = sql.SQL("DESC" if page.descending else "ASC")
        after: sql.Composable = sql.SQL("")
        if page.cursor is not None:
            cursor = decode_cursor(page.cursor, sort=sort, descending=page.descending)
            values = [*_after_values(sort, cursor.value, page.cursor), cursor.id]
            names = [f"_after_{n}" for n in range(len(values))]
            params.update(zip(names, values, strict=True))
            after = sql.SQL(" AND ({}) {} ({})").format(
                sql.SQL(", ").join(keys),
                sql.SQL("<" if page.descending else ">"),
                sql.SQL(", ").join(sql.Placeholder(n) for n in names),
            )
        query = sql.SQL("{base}{after} ORDER BY {order} LIMIT %(_limit)s").format(
            base=sql.SQL(LIST_ISSUES),
            after=after,
            order=sql.SQL(", ").join(sql.SQL("{} {}").format(k, direction) for k in keys),
        )
        params["_limit"] = page.limit + 1
        rows = await self._all(query, params)
        items = [_issue(r) for r in rows[: page.limit]]
        next_cursor = None
        if len(rows) > page.limit:
            last = items[-1]
            next_cursor = encode_cursor(sort, page.descending, _sort_value(last, sort), last.id)
        return Page(tuple(items), next_cursor)

    async def for_tracking(
        self,
        project_id: ProjectId,
        branch: str,
        *,
        closed_since: dt.datetime,
        file_ids: Sequence[FileId | None] | None = None,
    ) -> builtins.list[Issue]:
        wanted = [] if file_ids is None else [f for f in file_ids if f is not None]
        params = {
            "project_id": project_id,
            "branch": branch,
            "closed_since": closed_since,
            "all_files": file_ids is None,
            "file_ids": wanted,
            "no_file": file_ids is not None and any(f is None for f in file_ids),
        }
        rows = await self._all(FOR_TRACKING, params)
        return [_issue(r) for r in rows]

    async def add_changes(self, changes: Sequence[IssueChange]) -> int:
        if not changes:
            return 0
        await copy_merge(
            await self._connection(),
            table="issue_changes",
            names=CHANGE_COLUMNS,
            rows=(_row(entity_params(c), CHANGE_COLUMNS) for c in changes),
            merge=MERGE_CHANGES,
        )
        return len(changes)

    async def changelog(self, issue_id: IssueId) -> builtins.list[IssueChange]:
        rows = await self._all(SELECT_CHANGELOG, {"issue_id": issue_id})
        return [to_entity(r, IssueChange) for r in rows]

    async def mark_new_code(
        self, project_id: ProjectId, branch: str, *, since: dt.datetime | None
    ) -> int:
        params = {"project_id": project_id, "branch": branch, "since": since}
        return await self._rowcount(MARK_NEW_CODE, params)

    async def counts(self, project_id: ProjectId, branch: str) -> builtins.list[IssueCount]:
        rows = await self._all(COUNT_ISSUES, {"project_id": project_id, "branch": branch})
        return [
            IssueCount(
                status=IssueStatus(r["status"]),
                resolution=None if r["resolution"] is None else Resolution(r["resolution"]),
                severity=Severity(r["severity"]),
                new_code=r["new_code"],
                count=int(r["count"]),
            )
            for r in rows
        ]

    async def delete_closed(self, *, before: dt.datetime) -> int:
        return await self._rowcount(DELETE_CLOSED, {"before": before})
