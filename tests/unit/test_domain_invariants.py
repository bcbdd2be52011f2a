"""Invariants of the domain's entities and value objects: every broken one raises
domain.errors.ValidationError naming the field; enum fields take their stored strings."""

from __future__ import annotations

import datetime as dt
import math
import re
import string
import uuid
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given

from domain.analysis import AnalysisJob, AnalysisResult, CodeMetric
from domain.embeddings import CodeEmbedding
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
from domain.errors import ValidationError
from domain.files import FileIndex
from domain.organizations import Organization, OrganizationMember, User
from domain.projects import Project, Repository, RepositoryBranch
from domain.rules import ProjectRuleConfig, Rule
from domain.values import (
    AnalysisConfig,
    ClassSignature,
    CommitInfo,
    FileMetadata,
    FunctionSignature,
    LanguageStats,
    NotificationPreferences,
    ProjectMetadata,
    SecuritySettings,
    SourceLocation,
)
from domain.vectors import Vector

NOW = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
NAIVE = dt.datetime(2024, 3, 1)

# The smallest valid set of fields of each class; tests override one field at a time.
SAMPLES: dict[type, dict[str, Any]] = {
    Organization: {"name": "Acme", "slug": "acme"},
    User: {"email": "ada@example.com", "username": "ada", "password_hash": "argon2$x"},
    OrganizationMember: {"organization_id": uuid.uuid4(), "user_id": uuid.uuid4()},
    Project: {
        "organization_id": uuid.uuid4(),
        "name": "API",
        "slug": "api",
        "repository_url": "https://git.example.com/api.git",
    },
    Repository: {
        "project_id": uuid.uuid4(),
        "local_path": "/srv/repos/api",
        "remote_url": "https://git.example.com/api.git",
        "default_branch": "main",
    },
    RepositoryBranch: {"repository_id": uuid.uuid4(), "name": "main", "commit_hash": "a" * 40},
    FileIndex: {
        "repository_id": uuid.uuid4(),
        "relative_path": "src/app.py",
        "absolute_path": "/srv/repos/api/src/app.py",
        "size_bytes": 10,
        "file_hash": "b" * 64,
        "last_modified": NOW,
    },
    AnalysisJob: {"project_id": uuid.uuid4()},
    AnalysisResult: {
        "job_id": uuid.uuid4(),
        "rule_id": "complex-function",
        "severity": "high",
        "category": "complexity",
        "title": "Function is too complex",
        "description": "Cyclomatic complexity 14 exceeds 10.",
    },
    CodeMetric: {
        "file_id": uuid.uuid4(),
        "job_id": uuid.uuid4(),
        "metric_type": "complexity",
        "metric_name": "cyclomatic",
        "value": 3,
    },
    Rule: {
        "id": "complex-function",
        "name": "Complex function",
        "description": "Flags complex functions.",
        "category": "complexity",
        "languages": ("python",),
    },
    ProjectRuleConfig: {"project_id": uuid.uuid4(), "rule_id": "complex-function"},
    CodeEmbedding: {
        "organization_id": uuid.uuid4(),
        "project_id": uuid.uuid4(),
        "repository_id": uuid.uuid4(),
        "file_id": uuid.uuid4(),
        "file_path": "src/app.py",
        "kind": "function",
        "symbol": "main",
        "line_start": 1,
        "line_end": 3,
        "code_hash": "c" * 64,
        "model": "hashing-v1",
        "vector": (0.5, -0.5),
    },
    SourceLocation: {"line_start": 1, "line_end": 1},
    FunctionSignature: {"name": "parse", "line_start": 1, "line_end": 2},
    ClassSignature: {"name": "Parser", "line_start": 1, "line_end": 2},
    CommitInfo: {"hash": "d" * 40, "committed_at": NOW},
    AnalysisConfig: {},
    NotificationPreferences: {},
    SecuritySettings: {},
    FileMetadata: {},
    ProjectMetadata: {},
}


def build(cls: type, **overrides: Any) -> Any:
    return cls(**{**SAMPLES[cls], **overrides})


def rejected_field(cls: type, **overrides: Any) -> str:
    """The field named by the ValidationError that building ``cls`` with ``overrides`` raises."""
    with pytest.raises(ValidationError) as caught:
        build(cls, **overrides)
    return caught.value.field


def test_every_sample_is_valid() -> None:
    """The samples the other tests start from break no invariant."""
    for cls in SAMPLES:
        build(cls)


class Together(dict[str, Any]):
    """Several fields set at once, for invariants that relate two fields."""


REJECTED: list[tuple[type, str, list[Any]]] = [
    (Organization, "slug", ["", "Acme", "-acme", "acme-", "ac--me", "ac me", "ac_me", "a" * 101]),
    (Organization, "name", ["", "   ", "x" * 256, "a\x00b", 42]),
    (Organization, "created_at", [NAIVE, "2024-03-01"]),
    (Organization, "deleted_at", [NAIVE]),
    (User, "email", ["plain", "a@b", "@example.com", "a@@example.com", "a b@example.com"]),
    (
        User,
        "email",
        ["a@-example.com", "a@example.com ", "a@example..com", "a" * 309 + "@example.com"],
    ),
    (User, "username", ["", "-ada", "ada-", "a b", "ada!", "x" * 51]),
    (User, "password_hash", [""]),
    (User, "last_login_at", [NAIVE]),
    (OrganizationMember, "permissions", [{"x": "yes"}, {"": True}, ["read"]]),
    (Project, "slug", ["API", "a--b"]),
    (Project, "repository_url", [""]),
    (Project, "default_branch", ["", "b" * 101]),
    (Repository, "current_commit", ["A" * 40, "a" * 39, "a" * 41, "g" * 40]),
    (Repository, "size_bytes", [-1, 1.5, True]),
    (Repository, "file_count", [-1, 1 << 31]),
    (RepositoryBranch, "commit_hash", ["", "a" * 64, "z" * 40]),
    (FileIndex, "file_hash", ["b" * 63, "B" * 64, "b" * 40]),
    (FileIndex, "content_hash", ["xyz"]),
    (FileIndex, "relative_path", ["", "/etc/passwd", "\\windows", "a/../b", "..", "a\\..\\b"]),
    (FileIndex, "size_bytes", [-1]),
    (FileIndex, "line_count", [-1, 1 << 31]),
    (FileIndex, "last_modified", [NAIVE]),
    (AnalysisJob, "progress", [-1, 101, 50.5, True]),
    (AnalysisJob, "priority", [0, 11]),
    (AnalysisJob, "job_type", ["", "full job", "x" * 51]),
    (
        AnalysisJob,
        "completed_at",
        [Together({"started_at": NOW, "completed_at": NOW - dt.timedelta(1)})],
    ),
    (AnalysisResult, "confidence", [-0.01, 1.01, 0.855, math.nan, math.inf, True, "0.5"]),
    (AnalysisResult, "title", ["", "t" * 501]),
    (AnalysisResult, "rule_id", ["", "r" * 101]),
    (CodeMetric, "value", [1e6, -1e6, 1.23456, math.nan]),
    (CodeMetric, "threshold_min", [math.inf, 0.00001]),
    (CodeMetric, "threshold_max", [Together({"threshold_min": 5, "threshold_max": 4})]),
    (CodeMetric, "metric_name", ["", "m" * 101]),
    (Rule, "languages", [(), ("python", "python"), ("klingon",), "python"]),
    (Rule, "version", ["1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0.0", "", "1.0.0-" + "a" * 15]),
    (Rule, "id", ["Bad Id", "-x", "x-", "r" * 101, ""]),
    (ProjectRuleConfig, "rule_id", ["Not Valid"]),
    (
        CodeEmbedding,
        "vector",
        [(), (math.nan,), ("a",), (1e308, 1e308, math.inf), (0.5, -math.inf), (1.0, math.nan)],
    ),
    (CodeEmbedding, "code_hash", ["c" * 63]),
    (CodeEmbedding, "line_end", [Together({"line_start": 5, "line_end": 4})]),
    (SourceLocation, "line_start", [0]),
    (SourceLocation, "line_end", [Together({"line_start": 5, "line_end": 4})]),
    (SourceLocation, "column_end", [Together({"column_start": 9, "column_end": 3})]),
    (FunctionSignature, "line_end", [Together({"line_start": 5, "line_end": 4})]),
    (ClassSignature, "line_end", [Together({"line_start": 5, "line_end": 4})]),
    (CommitInfo, "hash", ["abc"]),
    (CommitInfo, "committed_at", [NAIVE]),
    (AnalysisConfig, "categories", [("security", "nonsense")]),
    (AnalysisConfig, "languages", [("klingon",)]),
    (AnalysisConfig, "max_file_size_bytes", [0]),
    (NotificationPreferences, "digest", ["hourly"]),
    (SecuritySettings, "session_timeout_minutes", [4, 43_201]),
    (ProjectMetadata, "quality_score", [-1, 101]),
    (ProjectMetadata, "technical_debt_hours", [-0.5]),
    (ProjectMetadata, "languages", [{"klingon": LanguageStats()}, {3: LanguageStats()}]),
]


def _rejected_cases() -> Iterator[pytest.ParameterSet]:
    for cls, field, values in REJECTED:
        for value in values:
            overrides = value if isinstance(value, Together) else {field: value}
            yield pytest.param(cls, overrides, field, id=f"{cls.__name__}.{field}={value!r:.40}")


@pytest.mark.parametrize(("cls", "overrides", "field"), list(_rejected_cases()))
def test_broken_invariants_raise_validation_error_naming_the_field(
    cls: type, overrides: dict[str, Any], field: str
) -> None:
    """Each invalid value is refused at construction with the offending field named."""
    assert rejected_field(cls, **overrides) == field


ENUM_FIELDS = [
    (Organization, "subscription_plan", SubscriptionPlan),
    (OrganizationMember, "role", MemberRole),
    (Project, "repository_type", RepositoryType),
    (Project, "visibility", Visibility),
    (Project, "status", ProjectStatus),
    (Repository, "sync_status", SyncStatus),
    (FileIndex, "language", ProgrammingLanguage),
    (FileIndex, "analysis_status", AnalysisStatus),
    (AnalysisJob, "status", JobStatus),
    (AnalysisResult, "severity", Severity),
    (AnalysisResult, "category", Category),
    (CodeMetric, "metric_type", MetricType),
    (Rule, "severity", Severity),
    (Rule, "category", Category),
    (Rule, "rule_type", RuleType),
    (ProjectRuleConfig, "severity_override", Severity),
    (CodeEmbedding, "kind", CodeUnitKind),
    (CodeEmbedding, "language", ProgrammingLanguage),
    (FileMetadata, "line_endings", LineEndingType),
    (AnalysisConfig, "min_severity", Severity),
    (NotificationPreferences, "min_severity", Severity),
]


@pytest.mark.parametrize(
    ("cls", "field", "enum"), ENUM_FIELDS, ids=[f"{c.__name__}.{f}" for c, f, _ in ENUM_FIELDS]
)
def test_enum_fields_take_stored_strings_and_reject_others_naming_the_field(
    cls: type, field: str, enum: type[StrEnum]
) -> None:
    """Every stored string becomes its enum member; any other string or a member of
    another enum is refused with the field named."""
    for member in enum:
        assert getattr(build(cls, **{field: member.value}), field) is member
    assert rejected_field(cls, **{field: "no-such-value"}) == field
    foreign = next(iter(RuleType if enum is not RuleType else Visibility))
    assert rejected_field(cls, **{field: foreign}) == field


def test_collections_of_enums_take_stored_strings() -> None:
    """Rule languages and analysis-config categories and languages convert each string."""
    rule = build(Rule, languages=["python", "rust"])
    config = build(AnalysisConfig, categories=["bug"], languages=("go",))

    assert rule.languages == (ProgrammingLanguage.PYTHON, ProgrammingLanguage.RUST)
    assert config.categories == (Category.BUG,)
    assert config.languages == (ProgrammingLanguage.GO,)


# --------------------------------------------------------------------------- formats

LOWER_ALNUM = string.ascii_lowercase + string.digits
slug_words = st.text(alphabet=LOWER_ALNUM, min_size=1, max_size=12)
slugs = st.lists(slug_words, min_size=1, max_size=6).map("-".join)


@given(slugs)
def test_lowercase_words_joined_by_single_hyphens_are_slugs(slug: str) -> None:
    """Any run of lower-case alphanumeric words joined by single hyphens is a valid slug."""
    assert build(Organization, slug=slug).slug == slug
    assert build(Project, slug=slug).slug == slug


@given(slugs, st.sampled_from(["A", "_", " ", ".", "/", "é", "--"]), st.integers(0, 200))
def test_a_slug_with_a_foreign_character_or_double_hyphen_is_rejected(
    slug: str, bad: str, where: int
) -> None:
    """Inserting an upper-case letter, punctuation, space, accent or '--' anywhere breaks a
    slug."""
    cut = where % (len(slug) + 1)
    assert rejected_field(Organization, slug=slug[:cut] + bad + slug[cut:]) == "slug"


email_locals = st.text(alphabet=string.ascii_letters + string.digits + ".+_-", min_size=1)
domain_labels = st.text(alphabet=LOWER_ALNUM, min_size=1, max_size=20)


@given(email_locals.filter(lambda s: len(s) <= 64), st.lists(domain_labels, min_size=2, max_size=4))
def test_local_part_at_dotted_domain_is_an_email(local: str, labels: list[str]) -> None:
    """name@label.label... addresses are accepted as given."""
    email = f"{local}@{'.'.join(labels)}"
    assert build(User, email=email).email == email


@given(
    st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=1),
    st.text(alphabet=string.ascii_letters + string.digits + "._-", max_size=48),
    st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=1),
)
def test_usernames_start_and_end_alphanumeric(first: str, middle: str, last: str) -> None:
    """Letters, digits, '.', '_' and '-' between an alphanumeric first and last character
    make a username."""
    name = first + middle + last
    assert build(User, username=name).username == name


HEX40 = re.compile(r"[0-9a-f]{40}")
HEX64 = re.compile(r"[0-9a-f]{64}")
hexish = st.text(alphabet="0123456789abcdefABCDEFxz ", max_size=80)


@given(st.text(alphabet="0123456789abcdef", min_size=40, max_size=40))
def test_forty_lowercase_hex_digits_are_a_commit_hash(digest: str) -> None:
    """Any 40 lower-case hex digits are a commit hash wherever one is stored."""
    assert build(Repository, current_commit=digest).current_commit == digest
    assert build(RepositoryBranch, commit_hash=digest).commit_hash == digest
    assert build(CommitInfo, hash=digest).hash == digest


@given(hexish.filter(lambda s: not HEX40.fullmatch(s)))
def test_anything_else_is_not_a_commit_hash(text: str) -> None:
    """A commit hash that is not exactly 40 lower-case hex digits is refused."""
    assert rejected_field(Repository, current_commit=text) == "current_commit"
    assert rejected_field(RepositoryBranch, commit_hash=text) == "commit_hash"


@given(st.text(alphabet="0123456789abcdef", min_size=64, max_size=64))
def test_sixty_four_lowercase_hex_digits_are_a_file_hash(digest: str) -> None:
    """Any 64 lower-case hex digits are a file, content or code hash."""
    indexed = build(FileIndex, file_hash=digest, content_hash=digest)
    assert (indexed.file_hash, indexed.content_hash) == (digest, digest)
    assert build(CodeEmbedding, code_hash=digest).code_hash == digest


def test_a_vector_holds_32_bit_floats_and_refuses_what_they_cannot_hold() -> None:
    """A vector's components become 32-bit floats, whatever their sum; one beyond their
    range is refused, naming it."""
    largest = 3.4028234663852886e38
    vector = build(CodeEmbedding, vector=(largest, largest, -largest)).vector
    assert isinstance(vector, Vector) and vector == (largest, largest, -largest)
    assert tuple(build(CodeEmbedding, vector=[1, 2.5]).vector) == (1.0, 2.5)
    assert build(CodeEmbedding, vector=(0.1,)).vector[0] == 0.10000000149011612
    with pytest.raises(ValidationError, match=r"component 1 is 1e\+39, not a finite 32-bit"):
        build(CodeEmbedding, vector=(0.0, 1e39))


@given(hexish.filter(lambda s: not HEX64.fullmatch(s)))
def test_anything_else_is_not_a_file_hash(text: str) -> None:
    """A file hash that is not exactly 64 lower-case hex digits is refused."""
    assert rejected_field(FileIndex, file_hash=text) == "file_hash"
    assert rejected_field(FileIndex, content_hash=text) == "content_hash"


@given(
    st.integers(0, 999),
    st.integers(0, 999),
    st.integers(0, 999),
    st.sampled_from(["", "-rc.1", "-alpha", "+build5", "-b.2+x7"]),
)
def test_semantic_versions_are_accepted(major: int, minor: int, patch: int, suffix: str) -> None:
    """MAJOR.MINOR.PATCH with optional pre-release and build parts, up to 20 characters, is
    a rule version."""
    version = f"{major}.{minor}.{patch}{suffix}"
    assert build(Rule, version=version).version == version


# --------------------------------------------------------------------------- numbers


@given(st.integers(-1000, 1000))
def test_progress_is_an_integer_from_0_to_100(progress: int) -> None:
    """A job's progress is accepted exactly when it lies in [0, 100]."""
    if 0 <= progress <= 100:
        assert build(AnalysisJob, progress=progress).progress == progress
    else:
        assert rejected_field(AnalysisJob, progress=progress) == "progress"


@given(st.integers(0, 100))
def test_confidences_with_two_decimals_in_the_unit_interval_are_accepted(hundredths: int) -> None:
    """Every multiple of 0.01 from 0 to 1 is a valid confidence."""
    confidence = hundredths / 100
    assert build(AnalysisResult, confidence=confidence).confidence == confidence


@given(st.floats(min_value=-1e300, max_value=1e300).filter(lambda x: not 0 <= x <= 1))
def test_confidences_outside_the_unit_interval_are_rejected(confidence: float) -> None:
    """A confidence below 0 or above 1 is refused."""
    assert rejected_field(AnalysisResult, confidence=confidence) == "confidence"


def test_a_huge_confidence_is_rejected_as_out_of_range() -> None:
    """A finite confidence too large to scale is still refused as a ValidationError."""
    assert rejected_field(AnalysisResult, confidence=1e307) == "confidence"


@given(st.integers(0, 999).filter(lambda k: k % 10))
def test_confidences_with_three_decimals_are_rejected(thousandths: int) -> None:
    """A confidence with a third decimal does not fit DECIMAL(3,2) and is refused."""
    assert rejected_field(AnalysisResult, confidence=thousandths / 1000) == "confidence"


@given(st.integers(1, 10_000), st.integers(1, 10_000))
def test_a_line_span_must_not_end_before_it_starts(start: int, end: int) -> None:
    """Locations, signatures and embeddings accept a span exactly when line_end >= line_start."""
    for cls in (SourceLocation, FunctionSignature, ClassSignature, CodeEmbedding):
        if end >= start:
            assert build(cls, line_start=start, line_end=end).line_end == end
        else:
            assert rejected_field(cls, line_start=start, line_end=end) == "line_end"


thresholds = st.none() | st.integers(-10_000, 10_000).map(lambda n: n / 4)


@given(st.integers(-10_000, 10_000).map(lambda n: n / 4), thresholds, thresholds)
def test_metric_violation_is_derived_from_its_thresholds(
    value: float, low: float | None, high: float | None
) -> None:
    """Thresholds are accepted when min <= max, and a metric is a violation exactly when its
    value lies outside them."""
    if low is not None and high is not None and low > high:
        assert rejected_field(CodeMetric, value=value, threshold_min=low, threshold_max=high) == (
            "threshold_max"
        )
        return
    metric = build(CodeMetric, value=value, threshold_min=low, threshold_max=high)
    below = low is not None and value < low
    above = high is not None and value > high
    assert metric.is_violation is (below or above)
