"""The CodeAnt domain: entities, value objects, enums, events and errors.

Pure Python: imports nothing but the standard library and attrs. Everything here is
validated at construction and raises :class:`domain.errors.ValidationError` naming the
field, the value and the rule it breaks.
"""

from typing import TYPE_CHECKING, Any

from domain._exports import lazy_export

if TYPE_CHECKING:  # each name loads with its module when first used (see lazy_export)
    from domain.analysis import AnalysisJob, AnalysisResult, CodeMetric
    from domain.embeddings import CodeEmbedding, SimilarCode
    from domain.enums import (
        AnalysisStatus,
        Category,
        CodeUnitKind,
        JobStatus,
        LineEndingType,
        MemberRole,
        MetricType,
        ProgrammingLanguage,
        ProjectStatus,
        RepositoryType,
        RuleType,
        Severity,
        SubscriptionPlan,
        SyncStatus,
        Visibility,
    )
    from domain.errors import DomainError, InvalidTransitionError, ValidationError
    from domain.files import FileIndex
    from domain.organizations import Organization, OrganizationMember, User
    from domain.projects import Project, Repository, RepositoryBranch
    from domain.rules import EffectiveRule, ProjectRuleConfig, Rule, effective_rules

__all__ = [
    "AnalysisJob",
    "AnalysisResult",
    "AnalysisStatus",
    "Category",
    "CodeEmbedding",
    "CodeMetric",
    "CodeUnitKind",
    "DomainError",
    "EffectiveRule",
    "FileIndex",
    "InvalidTransitionError",
    "JobStatus",
    "LineEndingType",
    "MemberRole",
    "MetricType",
    "Organization",
    "OrganizationMember",
    "ProgrammingLanguage",
    "Project",
    "ProjectRuleConfig",
    "ProjectStatus",
    "Repository",
    "RepositoryBranch",
    "RepositoryType",
    "Rule",
    "RuleType",
    "Severity",
    "SimilarCode",
    "SubscriptionPlan",
    "SyncStatus",
    "User",
    "ValidationError",
    "Visibility",
    "effective_rules",
]

_HOMES = {
    "analysis": ("AnalysisJob", "AnalysisResult", "CodeMetric"),
    "embeddings": ("CodeEmbedding", "SimilarCode"),
    "enums": (
        "AnalysisStatus",
        "Category",
        "CodeUnitKind",
        "JobStatus",
        "LineEndingType",
        "MemberRole",
        "MetricType",
        "ProgrammingLanguage",
        "ProjectStatus",
        "RepositoryType",
        "RuleType",
        "Severity",
        "SubscriptionPlan",
        "SyncStatus",
        "Visibility",
    ),
    "errors": ("DomainError", "InvalidTransitionError", "ValidationError"),
    "files": ("FileIndex",),
    "organizations": ("Organization", "OrganizationMember", "User"),
    "projects": ("Project", "Repository", "RepositoryBranch"),
    "rules": ("EffectiveRule", "ProjectRuleConfig", "Rule", "effective_rules"),
}
"""The module of each name of ``__all__``."""


def __getattr__(name: str) -> Any:
    return lazy_export(__name__, _HOMES, name)
