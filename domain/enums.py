"""Enumerations of the domain. Values are the strings stored in the database."""

from __future__ import annotations

import enum
from typing import Any, TypeVar

__all__ = [
    "AnalysisStatus",
    "Category",
    "CodeUnitKind",
    "FileChange",
    "GateStatus",
    "IssueStatus",
    "JobStatus",
    "LineEndingType",
    "MemberRole",
    "MetricType",
    "NewCodeKind",
    "ProgrammingLanguage",
    "ProjectStatus",
    "RepositoryType",
    "Resolution",
    "RuleType",
    "Severity",
    "SubscriptionPlan",
    "SyncStatus",
    "Visibility",
]


class Severity(enum.StrEnum):
    """How serious an issue is. Ordered: ``CRITICAL > HIGH > MEDIUM > LOW > INFO``."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """1 for critical down to 5 for info, the order of the issues-summary query."""
        return _SEVERITY_RANK[self]

    # A lower rank is more severe, so it compares greater. A plain string compares as the
    # severity it names (never alphabetically); any other string is a TypeError.
    def __lt__(self, other: object) -> bool:
        return self.rank > _other_rank(other)

    def __le__(self, other: object) -> bool:
        return self.rank >= _other_rank(other)

    def __gt__(self, other: object) -> bool:
        return self.rank < _other_rank(other)

    def __ge__(self, other: object) -> bool:
        return self.rank <= _other_rank(other)

    __hash__ = enum.StrEnum.__hash__


def _other_rank(other: object) -> int:
    if isinstance(other, Severity):
        return other.rank
    if isinstance(other, str):
        try:
            return Severity(other).rank
        except ValueError:
            pass
    raise TypeError(f"cannot compare a severity with {other!r}")


_SEVERITY_RANK = {
    Severity.CRITICAL: 1,
    Severity.HIGH: 2,
    Severity.MEDIUM: 3,
    Severity.LOW: 4,
    Severity.INFO: 5,
}


class Category(enum.StrEnum):
    """What an issue or a rule is about."""

    SECURITY = "security"
    PERFORMANCE = "performance"
    MAINTAINABILITY = "maintainability"
    RELIABILITY = "reliability"
    COMPLEXITY = "complexity"
    DUPLICATION = "duplication"
    STYLE = "style"
    DOCUMENTATION = "documentation"
    BEST_PRACTICES = "best_practices"
    BUG = "bug"


class MetricType(enum.StrEnum):
    """Families of code metrics (seed section 3.3.2)."""

    COMPLEXITY = "complexity"
    QUALITY = "quality"
    SECURITY = "security"
    PERFORMANCE = "performance"
    MAINTAINABILITY = "maintainability"
    COVERAGE = "coverage"
    DUPLICATION = "duplication"
    SIZE = "size"


class AnalysisStatus(enum.StrEnum):
    """Where a file stands in analysis."""

    PENDING = "pending"
    ANALYZING = "analyzing"
    ANALYZED = "analyzed"
    SKIPPED = "skipped"
    FAILED = "failed"
    DELETED = "deleted"


class FileChange(enum.StrEnum):
    """What an analysis found of a file, relative to the file as the index last had it."""

    ADDED = "added"
    MODIFIED = "modified"
    RENAMED = "renamed"
    RESTORED = "restored"  # a removed path that came back: the file keeps its identity
    ANALYSED = "analysed"  # analysed again with neither path nor content changed
    DELETED = "deleted"


class JobStatus(enum.StrEnum):
    """Lifecycle of an analysis job: pending -> running -> completed | failed | cancelled."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL_JOB_STATUSES

    def can_move_to(self, target: JobStatus) -> bool:
        """Whether the lifecycle has an edge from this status to ``target``."""
        return target in _JOB_TRANSITIONS[self]


_TERMINAL_JOB_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
_JOB_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


class IssueStatus(enum.StrEnum):
    """Where a tracked issue stands: ``open`` when first found, ``confirmed`` by a user,
    ``reopened`` when it came back or a user reopened it, ``resolved`` by a user (with a
    :class:`Resolution`), ``closed`` when an analysis no longer finds it."""

    OPEN = "open"
    CONFIRMED = "confirmed"
    REOPENED = "reopened"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def is_unresolved(self) -> bool:
        """Open, confirmed or reopened: an issue that still asks for work."""
        return self in _UNRESOLVED


_UNRESOLVED = frozenset({IssueStatus.OPEN, IssueStatus.CONFIRMED, IssueStatus.REOPENED})


class Resolution(enum.StrEnum):
    """Why an issue is resolved or closed."""

    FIXED = "fixed"
    FALSE_POSITIVE = "false-positive"
    WONT_FIX = "wont-fix"

    @property
    def is_verdict(self) -> bool:
        """A user's judgement that survives every later analysis."""
        return self is not Resolution.FIXED


class NewCodeKind(enum.StrEnum):
    """What "new code" is measured against on a branch."""

    PREVIOUS_ANALYSIS = "previous-analysis"
    DAYS = "days"
    REFERENCE_BRANCH = "reference-branch"
    ANALYSIS = "analysis"


class GateStatus(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"


class ProjectStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    ARCHIVED = "archived"


class Visibility(enum.StrEnum):
    PRIVATE = "private"
    INTERNAL = "internal"
    PUBLIC = "public"


class RepositoryType(enum.StrEnum):
    GIT = "git"
    MERCURIAL = "mercurial"
    SVN = "svn"


class SubscriptionPlan(enum.StrEnum):
    FREE = "free"
    PRO = "pro"
    TEAM = "team"
    ENTERPRISE = "enterprise"


class SyncStatus(enum.StrEnum):
    PENDING = "pending"
    SYNCING = "syncing"
    SYNCED = "synced"
    FAILED = "failed"


class LineEndingType(enum.StrEnum):
    LF = "lf"
    CRLF = "crlf"
    CR = "cr"
    MIXED = "mixed"
    NONE = "none"


class MemberRole(enum.StrEnum):
    """Role of a user in an organization, most powerful first."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class RuleType(enum.StrEnum):
    STATIC = "static"
    AI = "ai"
    CUSTOM = "custom"


class CodeUnitKind(enum.StrEnum):
    """The kinds of code unit that get embeddings; each has a vector collection of its own."""

    FUNCTION = "function"
    CLASS = "class"
    FILE = "file"


class ProgrammingLanguage(enum.StrEnum):
    """Languages the platform knows by name. Values are lower-case identifiers."""

    PYTHON = "python"
    JAVASCRIPT = "javascript"
    TYPESCRIPT = "typescript"
    JAVA = "java"
    KOTLIN = "kotlin"
    SCALA = "scala"
    GROOVY = "groovy"
    C = "c"
    CPP = "cpp"
    CSHARP = "csharp"
    OBJECTIVE_C = "objective_c"
    SWIFT = "swift"
    GO = "go"
    RUST = "rust"
    RUBY = "ruby"
    PHP = "php"
    PERL = "perl"
    LUA = "lua"
    R = "r"
    JULIA = "julia"
    DART = "dart"
    ELIXIR = "elixir"
    ERLANG = "erlang"
    HASKELL = "haskell"
    OCAML = "ocaml"
    FSHARP = "fsharp"
    CLOJURE = "clojure"
    ZIG = "zig"
    FORTRAN = "fortran"
    SOLIDITY = "solidity"
    SHELL = "shell"
    POWERSHELL = "powershell"
    SQL = "sql"
    HTML = "html"
    CSS = "css"
    SCSS = "scss"
    VUE = "vue"
    MARKDOWN = "markdown"
    RESTRUCTUREDTEXT = "restructuredtext"
    JSON = "json"
    YAML = "yaml"
    TOML = "toml"
    XML = "xml"
    INI = "ini"
    DOCKERFILE = "dockerfile"
    MAKEFILE = "makefile"
    CMAKE = "cmake"
    PROTOBUF = "protobuf"
    GRAPHQL = "graphql"
    TERRAFORM = "terraform"
    TEXT = "text"
    OTHER = "other"


# --------------------------------------------------------------------------- converters
# attrs converters: a stored string becomes the member; anything else is passed on for the
# field's validator to reject with the field's name. (Named functions, so that mypy's attrs
# plugin can type the constructors.)

_E = TypeVar("_E", bound=enum.Enum)


def coerce_enum(enum_cls: type[_E], value: Any) -> Any:
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(value)
    except (ValueError, TypeError):
        return value


def coerce_enum_tuple(enum_cls: type[_E], values: Any) -> Any:
    if isinstance(values, str):
        return values
    try:
        return tuple(coerce_enum(enum_cls, x) for x in values)
    except TypeError:
        return values


def to_severity(value: Any) -> Any:
    return coerce_enum(Severity, value)


def to_category(value: Any) -> Any:
    return coerce_enum(Category, value)


def to_metric_type(value: Any) -> Any:
    return coerce_enum(MetricType, value)


def to_analysis_status(value: Any) -> Any:
    return coerce_enum(AnalysisStatus, value)


def to_file_change(value: Any) -> Any:
    return coerce_enum(FileChange, value)


def to_job_status(value: Any) -> Any:
    return coerce_enum(JobStatus, value)


def to_issue_status(value: Any) -> Any:
    return coerce_enum(IssueStatus, value)


def to_resolution(value: Any) -> Any:
    return None if value is None else coerce_enum(Resolution, value)


def to_new_code_kind(value: Any) -> Any:
    return coerce_enum(NewCodeKind, value)


def to_gate_status(value: Any) -> Any:
    return coerce_enum(GateStatus, value)


def to_project_status(value: Any) -> Any:
    return coerce_enum(ProjectStatus, value)


def to_visibility(value: Any) -> Any:
    return coerce_enum(Visibility, value)


def to_repository_type(value: Any) -> Any:
    return coerce_enum(RepositoryType, value)


def to_subscription_plan(value: Any) -> Any:
    return coerce_enum(SubscriptionPlan, value)


def to_sync_status(value: Any) -> Any:
    return coerce_enum(SyncStatus, value)


def to_line_ending_type(value: Any) -> Any:
    return coerce_enum(LineEndingType, value)


def to_member_role(value: Any) -> Any:
    return coerce_enum(MemberRole, value)


def to_rule_type(value: Any) -> Any:
    return coerce_enum(RuleType, value)


def to_code_unit_kind(value: Any) -> Any:
    return coerce_enum(CodeUnitKind, value)


def to_programming_language(value: Any) -> Any:
    return coerce_enum(ProgrammingLanguage, value)


def to_optional_severity(value: Any) -> Any:
    return None if value is None else coerce_enum(Severity, value)


def to_optional_language(value: Any) -> Any:
    return None if value is None else coerce_enum(ProgrammingLanguage, value)


def to_categories(values: Any) -> Any:
    return coerce_enum_tuple(Category, values)


def to_languages(values: Any) -> Any:
    return coerce_enum_tuple(ProgrammingLanguage, values)
