"""Use cases of the persistence core.

Services are async functions taking the ports they need (a unit of work first, then a
vector store, an embedder...) as arguments. Each runs in one unit of work, validates its
input by building domain objects before writing anything, and commits once; events reach
the outbox only with that commit. The long jobs (:func:`index_repository`,
:func:`rebuild_vectors`) take a unit of work too, and run their stages and heartbeat in
its siblings (the same store, actor and organization). Wrap a service in
:func:`with_retry` to retry it on ConcurrencyError.
"""

from application.analysis import (
    begin_analysis,
    cancel_analysis,
    complete_analysis,
    enqueue_analysis,
    fail_analysis,
    heartbeat,
    recover_abandoned_jobs,
    report_progress,
    start_analysis,
)
from application.audit import audit_entries, verify_audit_trail
from application.caching import CachedQueries, CacheStats
from application.code_units import CodeUnit, code_hash, normalize_code, unit_id
from application.file_index import FileSnapshot, record_file_snapshot
from application.housekeeping import HousekeepingReport, ProjectHousekeeping, housekeeping
from application.indexing import IndexReport, index_repository
from application.invalidation import CacheInvalidator
from application.issues import IssueDetail, change_issue, issue_detail, list_issues
from application.jobs import JobOutput, JobOverview, JobRun, recent_jobs
from application.organizations import (
    add_member,
    change_member_role,
    modify_organization_settings,
    register_organization,
    register_user,
    remove_member,
    update_organization_settings,
)
from application.projects import (
    ProjectChanges,
    archive_project,
    create_project,
    delete_project,
    get_project,
    get_project_by_slug,
    list_projects,
    modify_project,
    search_projects,
    update_project,
)
from application.quality import (
    NewCodeSetting,
    assign_quality_gate,
    create_quality_gate,
    latest_gate,
    list_quality_gates,
    live_measures,
    measure_history,
    new_code_period,
    new_code_setting,
    set_new_code_period,
)
from application.relay import EventDispatcher, EventHandler, OutboxRelay, RelayResult
from application.reports import (
    ProjectReport,
    hotspots,
    issues_summary,
    metric_aggregation,
    project_report,
)
from application.repositories import BranchSpec, register_repository, sync_repository
from application.retry import with_retry
from application.rules import configure_rule, effective_rule_set, register_rules, reset_rule
from application.search import (
    ProjectOverview,
    SearchHits,
    SimilarTo,
    all_projects,
    resolve_organization,
    resolve_project,
    search_everything,
    similar_to_file,
)
from application.similarity import (
    IndexResult,
    VectorCleanup,
    find_similar_code,
    index_code_units,
    remove_file_units,
    remove_project_units,
)
from application.unchanged import UNCHANGED, Unchanged

__all__ = [
    "UNCHANGED",
    "BranchSpec",
    "CacheInvalidator",
    "CacheStats",
    "CachedQueries",
    "CodeUnit",
    "EventDispatcher",
    "EventHandler",
    "FileSnapshot",
    "HousekeepingReport",
    "IndexReport",
    "IndexResult",
    "IssueDetail",
    "JobOutput",
    "JobOverview",
    "JobRun",
    "NewCodeSetting",
    "OutboxRelay",
    "ProjectChanges",
    "ProjectHousekeeping",
    "ProjectOverview",
    "ProjectReport",
    "RelayResult",
    "SearchHits",
    "SimilarTo",
    "Unchanged",
    "VectorCleanup",
    "add_member",
    "all_projects",
    "archive_project",
    "assign_quality_gate",
    "audit_entries",
    "begin_analysis",
    "cancel_analysis",
    "change_issue",
    "change_member_role",
    "code_hash",
    "complete_analysis",
    "configure_rule",
    "create_project",
    "create_quality_gate",
    "delete_project",
    "effective_rule_set",
    "enqueue_analysis",
    "fail_analysis",
    "find_similar_code",
    "get_project",
    "get_project_by_slug",
    "heartbeat",
    "hotspots",
    "housekeeping",
    "index_code_units",
    "index_repository",
    "issue_detail",
    "issues_summary",
    "latest_gate",
    "list_issues",
    "list_projects",
    "list_quality_gates",
    "live_measures",
    "measure_history",
    "metric_aggregation",
    "modify_organization_settings",
    "modify_project",
    "new_code_period",
    "new_code_setting",
    "normalize_code",
    "project_report",
    "recent_jobs",
    "record_file_snapshot",
    "recover_abandoned_jobs",
    "register_organization",
    "register_repository",
    "register_rules",
    "register_user",
    "remove_file_units",
    "remove_member",
    "remove_project_units",
    "report_progress",
    "reset_rule",
    "resolve_organization",
    "resolve_project",
    "search_everything",
    "search_projects",
    "set_new_code_period",
    "similar_to_file",
    "start_analysis",
    "sync_repository",
    "unit_id",
    "update_organization_settings",
    "update_project",
    "verify_audit_trail",
    "with_retry",
]
