"""Every public service with a valid call, and values no argument may take.

``CALLS`` names each exported service and builds a call that would succeed (or at least
pass its argument checks) against a :class:`World` of stored rows; a test then replaces
one argument at a time with a bad value and expects a domain or port error and nothing
written. ``NOT_SERVICES`` lists what the application exports that is not a service.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import pkgutil
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

import application
from adapters.code_index import VectorCodeIndex
from adapters.embedders.hashing import HashingEmbedder
from adapters.memory.cache import MemoryCache
from adapters.memory.database import MemoryDatabase
from adapters.memory.unit_of_work import MemoryUnitOfWork
from adapters.memory.vectors import MemoryVectorStore
from adapters.source.analyzer import FileAnalyzer
from adapters.source.git import GitSourceReader
from application import (
    ProjectChanges,
    analysis,
    audit,
    caching,
    file_index,
    jobs,
    organizations,
    projects,
    reports,
    repositories,
    rules,
    search,
    similarity,
)
from application import issues as issue_services
from application import quality as quality_services
from application.housekeeping import housekeeping
from application.indexing import index_repository, rebuild_vectors
from domain.enums import (
    CodeUnitKind,
    IssueStatus,
    MemberRole,
    MetricType,
    NewCodeKind,
    Resolution,
    Severity,
)
from domain.issues import Issue
from domain.quality import DEFAULT_CONDITIONS, NewCodePeriod, RetentionPolicy
from domain.validation import MAX_INT, MAX_JSON_DEPTH, MAX_TEXT
from domain.values import FileMetadata, FunctionSignature
from ports.pagination import PageRequest
from tests.contract import builders

__all__ = ["BAD_VALUES", "CALLS", "NOT_SERVICES", "World", "make_world", "public_services"]

NOT_SERVICES = frozenset({"with_retry", "track_analysis", "effective_period"})
"""Exported coroutines that are not services: ``with_retry`` runs an operation it is given;
``track_analysis`` and ``effective_period`` work inside the unit of a completing job."""

PORTS = frozenset({"uow", "reader", "analyzer", "embedder", "code_index", "cache", "progress",
                   "liveness", "owner_alive", "change", "operation", "before_commit"})  # fmt: skip
"""Arguments that are adapters or callbacks: the tests corrupt the others."""


class Opaque:
    """A value of no type any service takes."""

    def __repr__(self) -> str:
        return "Opaque()"


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


BAD_VALUES: tuple[tuple[str, Any], ...] = (
    ("an object of no known type", Opaque()),
    ("bytes", b"bytes"),
    ("a NUL character", "name\x00"),
    ("a lone surrogate", "name\ud800"),
    ("a string over the text limit", "x" * (MAX_TEXT + 1)),
    ("an integer beyond 64 bits", MAX_INT + 1),
    ("NaN", float("nan")),
    ("a naive datetime", dt.datetime(2026, 1, 1)),
    ("JSON nested too deep", _deep(MAX_JSON_DEPTH + 5)),
    ("JSON nested ten thousand levels", _deep(10_000)),
    ("a dict holding a non-JSON value", {"key": Opaque()}),
    ("a list of objects", [Opaque()]),
)


@attrs.define
class World:
    """Stored rows every call can refer to, and the adapters the calls use."""

    db: MemoryDatabase
    organization: Any
    user: Any
    member: Any
    project: Any
    repository: Any
    job: Any
    rule: Any
    file: Any
    issue: Any = None  # an open issue of the project's "main" branch
    gate: Any = None  # a quality gate of the organization
    cache: MemoryCache = attrs.Factory(MemoryCache)
    embedder: HashingEmbedder = attrs.Factory(lambda: HashingEmbedder(64))
    code_index: VectorCodeIndex = attrs.Factory(lambda: VectorCodeIndex(MemoryVectorStore()))
    scope: Any = None  # the organization the calls' units are opened for (None: system)

    def uow(self, *, organization_id: Any = None) -> MemoryUnitOfWork:
        scope = organization_id or self.scope
        return MemoryUnitOfWork(self.db, organization_id=scope, system=scope is None)


async def make_world() -> World:
    db = MemoryDatabase()
    uow = MemoryUnitOfWork(db, system=True)
    user = await organizations.register_user(
        uow, email="owner@example.com", username="owner", password_hash="x" * 60
    )
    organization = await organizations.register_organization(
        uow, name="Acme", slug="acme", owner_id=user.id
    )
    member = await organizations.register_user(
        uow, email="member@example.com", username="member", password_hash="z" * 60
    )
    await organizations.add_member(uow, organization.id, member.id)
    project = await projects.create_project(
        uow, organization.id, name="Billing", slug="billing",
        repository_url="https://git.example.com/acme/billing.git",
    )  # fmt: skip
    repository = await repositories.register_repository(
        uow, project.id, local_path="/src/billing",
        remote_url="https://git.example.com/acme/billing.git", default_branch="main",
    )  # fmt: skip
    rule = builders.rule()
    await rules.register_rules(uow, [rule])
    main = FunctionSignature(name="main", line_start=1, line_end=3)
    file = builders.file_index(
        repository.id, relative_path="app.py", metadata=FileMetadata(functions=(main,))
    )
    await file_index.record_file_snapshot(uow, repository.id, [file])
    job = await analysis.begin_analysis(uow, project.id, owner="tests")
    issue = Issue(
        project_id=project.id, branch="main", rule_id=rule.id, severity=Severity.MEDIUM,
        category=rule.category, title="Function is too complex", file_id=file.id,
        path="app.py", line=1,
    )  # fmt: skip
    async with uow:
        await uow.issues.add_many([issue])
        await uow.commit()
    gate = await quality_services.create_quality_gate(
        uow, organization.id, "strict", list(DEFAULT_CONDITIONS)
    )
    return World(db, organization, user, member, project, repository, job, rule, file, issue, gate)


Call = Callable[[World], tuple[Callable[..., Awaitable[Any]], dict[str, Any]]]


def _call(fn: Callable[..., Awaitable[Any]], **build: Callable[[World], Any]) -> Call:
    def make(w: World) -> tuple[Callable[..., Awaitable[Any]], dict[str, Any]]:
        return fn, {name: b(w) for name, b in build.items()}

    return make


def _uow(w: World) -> MemoryUnitOfWork:
    return w.uow()


def _later(w: World) -> dt.datetime:
    return dt.datetime.now(dt.UTC)


CALLS: dict[str, Call] = {
    "begin_analysis": _call(analysis.begin_analysis, uow=_uow, project_id=lambda w: w.project.id,
                            owner=lambda w: "me", branch=lambda w: "main",
                            config=lambda w: {}, metadata=lambda w: {}, priority=lambda w: 5),
    "cancel_analysis": _call(analysis.cancel_analysis, uow=_uow, job_id=lambda w: w.job.id),
    "complete_analysis": _call(analysis.complete_analysis, uow=_uow, job_id=lambda w: w.job.id,
                               results=lambda w: [], metrics=lambda w: [],
                               analysed=lambda w: [w.file.id], metadata=lambda w: {}),
    "enqueue_analysis": _call(analysis.enqueue_analysis, uow=_uow,
                              project_id=lambda w: w.project.id, job_type=lambda w: "full",
                              priority=lambda w: 5, config=lambda w: {},
                              commit_hash=lambda w: "a" * 40),
    "fail_analysis": _call(analysis.fail_analysis, uow=_uow, job_id=lambda w: w.job.id,
                           error=lambda w: "boom"),
    "heartbeat": _call(analysis.heartbeat, uow=_uow, job_id=lambda w: w.job.id,
                       lease=lambda w: dt.timedelta(minutes=5)),
    "recover_abandoned_jobs": _call(analysis.recover_abandoned_jobs, uow=_uow,
                                    project_id=lambda w: w.project.id, now=_later),
    "report_progress": _call(analysis.report_progress, uow=_uow, job_id=lambda w: w.job.id,
                             progress=lambda w: 50),
    "start_analysis": _call(analysis.start_analysis, uow=_uow, job_id=lambda w: w.job.id,
                            owner=lambda w: "me"),
    "bump_version": _call(caching.bump_version, cache=lambda w: w.cache,
                          version_key=lambda w: "v:projects"),
    "record_file_snapshot": _call(file_index.record_file_snapshot, uow=_uow,
                                  repository_id=lambda w: w.repository.id,
                                  files=lambda w: [w.file]),
    "recent_jobs": _call(jobs.recent_jobs, uow=_uow, project_slug=lambda w: "billing",
                         organization_slug=lambda w: "acme", limit=lambda w: 5),
    "add_member": _call(organizations.add_member, uow=_uow,
                        organization_id=lambda w: w.organization.id,
                        user_id=lambda w: w.user.id, role=lambda w: MemberRole.MEMBER,
                        permissions=lambda w: {"read": True}),
    "change_member_role": _call(organizations.change_member_role, uow=_uow,
                                organization_id=lambda w: w.organization.id,
                                user_id=lambda w: w.user.id, role=lambda w: MemberRole.OWNER),
    "modify_organization_settings": _call(organizations.modify_organization_settings, uow=_uow,
                                          organization_id=lambda w: w.organization.id,
                                          change=lambda w: lambda s: s),
    "register_organization": _call(organizations.register_organization, uow=_uow,
                                   name=lambda w: "Other", slug=lambda w: "other",
                                   description=lambda w: "an organization",
                                   owner_id=lambda w: w.user.id),
    "register_user": _call(organizations.register_user, uow=_uow,
                           email=lambda w: "new@example.com", username=lambda w: "new",
                           password_hash=lambda w: "y" * 60, full_name=lambda w: "New User"),
    "remove_member": _call(organizations.remove_member, uow=_uow,
                           organization_id=lambda w: w.organization.id,
                           user_id=lambda w: w.member.id),
    "update_organization_settings": _call(organizations.update_organization_settings, uow=_uow,
                                          organization_id=lambda w: w.organization.id,
                                          settings=lambda w: w.organization.settings),
    "archive_project": _call(projects.archive_project, uow=_uow,
                             project_id=lambda w: w.project.id),
    "create_project": _call(projects.create_project, uow=_uow,
                            organization_id=lambda w: w.organization.id,
                            name=lambda w: "Shop", slug=lambda w: "shop",
                            repository_url=lambda w: "https://git.example.com/acme/shop.git",
                            description=lambda w: "a shop", default_branch=lambda w: "main"),
    "delete_project": _call(projects.delete_project, uow=_uow, project_id=lambda w: w.project.id),
    "get_project": _call(projects.get_project, uow=_uow, project_id=lambda w: w.project.id),
    "get_project_by_slug": _call(projects.get_project_by_slug, uow=_uow,
                                 organization_id=lambda w: w.organization.id,
                                 slug=lambda w: "billing"),
    "list_projects": _call(projects.list_projects, uow=_uow,
                           organization_id=lambda w: w.organization.id),
    "modify_project": _call(projects.modify_project, uow=_uow, project_id=lambda w: w.project.id,
                            change=lambda w: lambda p: ProjectChanges(description="new")),
    "search_projects": _call(projects.search_projects, uow=_uow, text=lambda w: "billing",
                             organization_id=lambda w: w.organization.id, limit=lambda w: 5),
    "update_project": _call(projects.update_project, uow=_uow, project_id=lambda w: w.project.id,
                            name=lambda w: "Billing 2", description=lambda w: "changed",
                            expected_updated_at=lambda w: w.project.updated_at),
    "hotspots": _call(reports.hotspots, uow=_uow, project_id=lambda w: w.project.id,
                      limit=lambda w: 5),
    "audit_entries": _call(audit.audit_entries, uow=_uow,
                           organization_id=lambda w: w.organization.id,
                           entity=lambda w: "projects", entity_id=lambda w: str(w.project.id),
                           since=lambda w: dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                           limit=lambda w: 10),
    "verify_audit_trail": _call(audit.verify_audit_trail, uow=_uow,
                                organization_id=lambda w: w.organization.id),
    "issues_summary": _call(reports.issues_summary, uow=_uow, project_id=lambda w: w.project.id,
                            days=lambda w: 30),
    "metric_aggregation": _call(reports.metric_aggregation, uow=_uow,
                                project_id=lambda w: w.project.id,
                                metric_type=lambda w: MetricType.COMPLEXITY),
    "project_report": _call(reports.project_report, uow=_uow, project_id=lambda w: w.project.id,
                            days=lambda w: 30, hotspot_limit=lambda w: 5),
    "register_repository": _call(repositories.register_repository, uow=_uow,
                                 project_id=lambda w: w.project.id,
                                 local_path=lambda w: "/src/other",
                                 remote_url=lambda w: "https://git.example.com/acme/o.git",
                                 default_branch=lambda w: "main",
                                 current_commit=lambda w: "b" * 40, branches=lambda w: []),
    "sync_repository": _call(repositories.sync_repository, uow=_uow,
                             repository_id=lambda w: w.repository.id, branches=lambda w: [],
                             current_commit=lambda w: "c" * 40),
    "configure_rule": _call(rules.configure_rule, uow=_uow, project_id=lambda w: w.project.id,
                            rule_id=lambda w: w.rule.id, enabled=lambda w: False,
                            config_override=lambda w: {"threshold": 3}),
    "effective_rule_set": _call(rules.effective_rule_set, uow=_uow,
                                project_id=lambda w: w.project.id),
    "register_rules": _call(rules.register_rules, uow=_uow, rules=lambda w: [w.rule]),
    "reset_rule": _call(rules.reset_rule, uow=_uow, project_id=lambda w: w.project.id,
                        rule_id=lambda w: w.rule.id),
    "all_projects": _call(search.all_projects, uow=_uow, organization_slug=lambda w: "acme"),
    "resolve_project": _call(search.resolve_project, uow=_uow, slug=lambda w: "billing",
                             organization_slug=lambda w: "acme"),
    "resolve_organization": _call(search.resolve_organization, uow=_uow, slug=lambda w: "acme"),
    "search_everything": _call(search.search_everything, uow=_uow, text=lambda w: "app",
                               organization_id=lambda w: w.organization.id,
                               project_id=lambda w: w.project.id, limit=lambda w: 5),
    "similar_to_file": _call(search.similar_to_file, uow=_uow, reader=lambda w: GitSourceReader(),
                             embedder=lambda w: w.embedder, code_index=lambda w: w.code_index,
                             path=lambda w: "/src/billing/app.py", function=lambda w: "main",
                             limit=lambda w: 5, project_slug=lambda w: "billing",
                             organization_slug=lambda w: "acme", everywhere=lambda w: False),
    "find_similar_code": _call(similarity.find_similar_code, embedder=lambda w: w.embedder,
                               code_index=lambda w: w.code_index, code=lambda w: "def f(): pass",
                               kind=lambda w: CodeUnitKind.FUNCTION, limit=lambda w: 5,
                               project_id=lambda w: w.project.id,
                               organization_id=lambda w: w.organization.id,
                               score_threshold=lambda w: 0.5),
    "index_code_units": _call(similarity.index_code_units, embedder=lambda w: w.embedder,
                              code_index=lambda w: w.code_index, units=lambda w: [],
                              batch_size=lambda w: 16),
    "remove_file_units": _call(similarity.remove_file_units, code_index=lambda w: w.code_index,
                               file_id=lambda w: w.file.id),
    "remove_project_units": _call(similarity.remove_project_units,
                                  code_index=lambda w: w.code_index,
                                  project_id=lambda w: w.project.id),
    "index_repository": _call(index_repository, uow=_uow,
                              reader=lambda w: GitSourceReader(),
                              analyzer=lambda w: FileAnalyzer(), embedder=lambda w: w.embedder,
                              code_index=lambda w: w.code_index, path=lambda w: "/src/billing",
                              organization_slug=lambda w: "acme",
                              project_name=lambda w: "billing",
                              heartbeat_every=lambda w: 30.0),
    "rebuild_vectors": _call(rebuild_vectors, uow=_uow,
                             reader=lambda w: GitSourceReader(), embedder=lambda w: w.embedder,
                             code_index=lambda w: w.code_index,
                             project_slug=lambda w: "billing"),
    "list_issues": _call(issue_services.list_issues, uow=_uow, project_id=lambda w: w.project.id,
                         branch=lambda w: "main", statuses=lambda w: [IssueStatus.OPEN],
                         min_severity=lambda w: Severity.LOW, new_code=lambda w: False,
                         page=lambda w: PageRequest(limit=10)),
    "issue_detail": _call(issue_services.issue_detail, uow=_uow, issue_id=lambda w: w.issue.id),
    "change_issue": _call(issue_services.change_issue, uow=_uow, issue_id=lambda w: w.issue.id,
                          confirm=lambda w: False, resolve=lambda w: Resolution.FALSE_POSITIVE,
                          reopen=lambda w: False, comment=lambda w: "generated code"),
    "new_code_period": _call(quality_services.new_code_period, uow=_uow,
                             project_id=lambda w: w.project.id, branch=lambda w: "main"),
    "new_code_setting": _call(quality_services.new_code_setting, uow=_uow,
                              project_id=lambda w: w.project.id, branch=lambda w: "main"),
    "set_new_code_period": _call(quality_services.set_new_code_period, uow=_uow,
                                 project_id=lambda w: w.project.id,
                                 period=lambda w: NewCodePeriod(kind=NewCodeKind.DAYS, days=30),
                                 branch=lambda w: "main"),
    "create_quality_gate": _call(quality_services.create_quality_gate, uow=_uow,
                                 organization_id=lambda w: w.organization.id,
                                 name=lambda w: "relaxed",
                                 conditions=lambda w: list(DEFAULT_CONDITIONS[:1]),
                                 is_default=lambda w: True),
    "assign_quality_gate": _call(quality_services.assign_quality_gate, uow=_uow,
                                 project_id=lambda w: w.project.id, gate_id=lambda w: w.gate.id),
    "list_quality_gates": _call(quality_services.list_quality_gates, uow=_uow,
                                organization_id=lambda w: w.organization.id),
    "latest_gate": _call(quality_services.latest_gate, uow=_uow,
                         project_id=lambda w: w.project.id, branch=lambda w: "main"),
    "measure_history": _call(quality_services.measure_history, uow=_uow,
                             project_id=lambda w: w.project.id, metric=lambda w: "issues",
                             branch=lambda w: "main"),
    "live_measures": _call(quality_services.live_measures, uow=_uow,
                           project_id=lambda w: w.project.id, branch=lambda w: "main"),
    "housekeeping": _call(housekeeping, uow=_uow, policy=lambda w: RetentionPolicy(),
                          now=_later, dry_run=lambda w: False,
                          project_id=lambda w: w.project.id),
}  # fmt: skip


def public_services() -> dict[str, Callable[..., Awaitable[Any]]]:
    """Every coroutine function the application's modules export, by name."""
    found: dict[str, Callable[..., Awaitable[Any]]] = {}
    modules = [application, *(
        importlib.import_module(f"application.{m.name}")
        for m in pkgutil.iter_modules(application.__path__)
        if not m.name.startswith("_")
    )]  # fmt: skip
    for module in modules:
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if inspect.iscoroutinefunction(value) and name not in NOT_SERVICES:
                found.setdefault(name, value)
    return found


def corruptible(kwargs: dict[str, Any]) -> list[str]:
    """The arguments of the call that a test may replace with a bad value."""
    return [name for name in kwargs if name not in PORTS]
