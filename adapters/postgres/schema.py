"""A comparable picture of a database schema, read from the catalog.

Two databases have the same schema when their snapshots are equal: the same tables and
columns (types, nullability, defaults), constraints, indexes, triggers, functions, and
row-level security (whether each table enables and forces it, and its policies).
The migration tool's own bookkeeping tables are left out, and so are partitions (the
months of the audit trail, added as time goes by, are data layout, not schema).
"""

from __future__ import annotations

from typing import Any

import psycopg

__all__ = ["BOOKKEEPING_TABLES", "SchemaSnapshot", "diff_snapshots", "read_schema"]

BOOKKEEPING_TABLES = ("_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock")

SchemaSnapshot = dict[str, set[str]]

_COLUMNS = """
SELECT c.table_name || '.' || c.column_name || ' ' || c.data_type
       || COALESCE('(' || c.character_maximum_length || ')', '')
       || COALESCE('(' || c.numeric_precision || ',' || c.numeric_scale || ')', '')
       || CASE WHEN c.is_nullable = 'NO' THEN ' NOT NULL' ELSE '' END
       || COALESCE(' DEFAULT ' || c.column_default, '')
       || CASE WHEN c.is_identity = 'YES' THEN ' IDENTITY' ELSE '' END
FROM information_schema.columns c
WHERE c.table_schema = current_schema() AND NOT (c.table_name = ANY(%(skip)s))
"""

_CONSTRAINTS = """
SELECT con.conrelid::regclass::text || ' ' || con.conname || ' ' || pg_get_constraintdef(con.oid)
FROM pg_constraint con
JOIN pg_namespace n ON n.oid = con.connamespace
WHERE n.nspname = current_schema() AND con.conrelid <> 0
  AND NOT (con.conrelid::regclass::text = ANY(%(skip)s))
"""

_INDEXES = """
SELECT indexdef FROM pg_indexes
WHERE schemaname = current_schema() AND NOT (tablename = ANY(%(skip)s))
"""

_TRIGGERS = """
SELECT pg_get_triggerdef(t.oid)
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND NOT t.tgisinternal
"""

_FUNCTIONS = """
SELECT pg_get_functiondef(p.oid)
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
LEFT JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
WHERE n.nspname = current_schema() AND d.objid IS NULL
"""

_POLICIES = """
SELECT c.relname || ' row level security'
       || CASE WHEN c.relforcerowsecurity THEN ' forced' ELSE ' enabled' END
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relrowsecurity AND NOT (c.relname = ANY(%(skip)s))
UNION ALL
SELECT tablename || ' policy ' || policyname || ' ' || permissive || ' ' || cmd
       || ' TO ' || array_to_string(roles, ',') || COALESCE(' USING ' || qual, '')
       || COALESCE(' WITH CHECK ' || with_check, '')
FROM pg_policies
WHERE schemaname = current_schema() AND NOT (tablename = ANY(%(skip)s))
"""

_TABLES = """
SELECT c.relname || ' ' || c.relkind::text
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_depend d ON d.objid = c.oid AND d.deptype = 'e'
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm')
  AND d.objid IS NULL AND NOT (c.relname = ANY(%(skip)s))
"""


_PARTITIONS = """
SELECT c.relname FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relispartition
"""


def read_schema(conn: psycopg.Connection[Any]) -> SchemaSnapshot:
    """The schema of the connection's current schema (``public`` by default)."""
    partitions = [str(row[0]) for row in conn.execute(_PARTITIONS).fetchall()]
    params = {"skip": [*BOOKKEEPING_TABLES, *partitions]}
    snapshot: SchemaSnapshot = {}
    for kind, sql in (
        ("tables", _TABLES),
        ("columns", _COLUMNS),
        ("constraints", _CONSTRAINTS),
        ("indexes", _INDEXES),
        ("triggers", _TRIGGERS),
        ("functions", _FUNCTIONS),
        ("policies", _POLICIES),
    ):
        rows = conn.execute(sql, params if "%(skip)s" in sql else None).fetchall()
        snapshot[kind] = {" ".join(str(row[0]).split()) for row in rows}
    return snapshot


_SINGULAR = {
    "tables": "table",
    "columns": "column",
    "constraints": "constraint",
    "indexes": "index",
    "triggers": "trigger",
    "functions": "function",
    "policies": "row-level security",
}


def diff_snapshots(expected: SchemaSnapshot, actual: SchemaSnapshot) -> list[str]:
    """Human-readable differences: ``missing <kind>: ...`` and ``unexpected <kind>: ...``."""
    out: list[str] = []
    for kind in sorted(set(expected) | set(actual)):
        want, have = expected.get(kind, set()), actual.get(kind, set())
        out += [f"missing {_SINGULAR[kind]}: {item}" for item in sorted(want - have)]
        out += [f"unexpected {_SINGULAR[kind]}: {item}" for item in sorted(have - want)]
    return out
