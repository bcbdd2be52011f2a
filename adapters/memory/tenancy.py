"""Which organization a row of the in-memory store belongs to, as the schema's
``organization_id`` columns say (migration 0010): the row's own column, or its parent's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.ids import OrganizationId

__all__ = ["GLOBAL_TABLES", "PARENTS", "Lookup", "organization_of", "owner_of"]

# how a row finds its organization: through this column's parent row
PARENTS = {
    "repositories": ("project_id", "projects"),
    "repository_branches": ("repository_id", "repositories"),
    "file_index": ("repository_id", "repositories"),
    "file_history": ("file_id", "file_index"),
    "analysis_jobs": ("project_id", "projects"),
    "analysis_results": ("job_id", "analysis_jobs"),
    "code_metrics": ("job_id", "analysis_jobs"),
    "project_rule_configs": ("project_id", "projects"),
    "issues": ("project_id", "projects"),
    "issue_changes": ("issue_id", "issues"),
    "new_code_periods": ("project_id", "projects"),
    "project_quality_gates": ("project_id", "projects"),
    "analysis_measures": ("job_id", "analysis_jobs"),
    "live_measures": ("project_id", "projects"),
    "analysis_gates": ("job_id", "analysis_jobs"),
}
# tables whose rows belong to no organization
GLOBAL_TABLES = frozenset({"users", "rules"})

Lookup = Callable[[str, Any], Any]  # (table, id) -> the row, whoever may see it


def organization_of(table: str, row: Any, lookup: Lookup) -> OrganizationId | None:
    """The organization of ``row`` (None for a global table, or a row whose parents are
    gone)."""
    while True:
        if table == "organizations":
            return OrganizationId(row.id)
        if table in GLOBAL_TABLES:
            return None
        if table not in PARENTS:
            return OrganizationId(row.organization_id)
        column, table = PARENTS[table]
        row = lookup(table, getattr(row, column))
        if row is None:
            return None


def owner_of(table: str, row: Any) -> tuple[str, Any]:
    """The table and id of the row that gives ``row`` its organization."""
    if table == "organizations":
        return table, row.id
    if table in PARENTS:
        column, parent = PARENTS[table]
        return parent, getattr(row, column)
    return "organizations", row.organization_id
