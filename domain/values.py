"""Value objects: immutable, compared by value, validated at construction."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from domain import validation as v
from domain.enums import (
    Category,
    LineEndingType,
    ProgrammingLanguage,
    Severity,
    to_categories,
    to_languages,
    to_line_ending_type,
    to_programming_language,
    to_severity,
)

__all__ = [
    "AnalysisConfig",
    "ClassSignature",
    "CommitInfo",
    "ComplexityMetrics",
    "ExportDeclaration",
    "FileMetadata",
    "FunctionSignature",
    "ImportDeclaration",
    "LanguageStats",
    "NotificationPreferences",
    "OrganizationSettings",
    "ProjectMetadata",
    "ProjectSettings",
    "SecuritySettings",
    "SourceLocation",
    "WebhookSettings",
]


def _as_tuple(value: Any) -> Any:
    """Lists become tuples; a string or a non-iterable is left for the validator to refuse
    (``tuple("main")`` would silently give its characters)."""
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        return value
    return tuple(value)


def _texts(max_length: int) -> v.Validator:
    """A tuple of strings, each non-empty and at most ``max_length`` characters."""
    each = v.text(max_length=max_length)

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, tuple):
            v.fail(instance, attribute, value, "must be a list of strings")
        for item in value:
            each(instance, attribute, item)

    return check


def _each(validator: v.Validator) -> v.Validator:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        for item in value:
            validator(instance, attribute, item)

    return check


# --------------------------------------------------------------------------- settings


@attrs.frozen(kw_only=True)
class AnalysisConfig:
    """What an analysis looks at. Empty ``categories`` / ``languages`` mean all."""

    categories: tuple[Category, ...] = attrs.field(
        default=(),
        converter=to_categories,
        validator=_each(v.enum_member(Category)),
    )
    languages: tuple[ProgrammingLanguage, ...] = attrs.field(
        default=(),
        converter=to_languages,
        validator=_each(v.enum_member(ProgrammingLanguage)),
    )
    min_severity: Severity = attrs.field(
        default=Severity.INFO,
        converter=to_severity,
        validator=v.enum_member(Severity),
    )
    max_file_size_bytes: int = attrs.field(default=1_000_000, validator=v.int_range(1, 1 << 40))
    exclude_patterns: tuple[str, ...] = attrs.field(
        default=(), converter=_as_tuple, validator=_texts(500)
    )
    include_tests: bool = True


@attrs.frozen(kw_only=True)
class WebhookSettings:
    url: str | None = attrs.field(default=None, validator=v.optional(v.text(max_length=2048)))
    events: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple, validator=_texts(100))
    active: bool = False


_DIGESTS = ("none", "daily", "weekly")


def _digest(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value not in _DIGESTS:
        v.fail(instance, attribute, value, f"must be one of: {', '.join(_DIGESTS)}")


@attrs.frozen(kw_only=True)
class NotificationPreferences:
    email_on_completion: bool = True
    email_on_failure: bool = True
    min_severity: Severity = attrs.field(
        default=Severity.HIGH,
        converter=to_severity,
        validator=v.enum_member(Severity),
    )
    digest: str = attrs.field(default="weekly", validator=_digest)


@attrs.frozen(kw_only=True)
class SecuritySettings:
    require_two_factor: bool = False
    allowed_email_domains: tuple[str, ...] = attrs.field(
        default=(), converter=_as_tuple, validator=_texts(253)
    )
    session_timeout_minutes: int = attrs.field(default=480, validator=v.int_range(5, 43_200))
    ip_allowlist: tuple[str, ...] = attrs.field(
        default=(), converter=_as_tuple, validator=_texts(64)
    )


@attrs.frozen(kw_only=True)
class OrganizationSettings:
    default_analysis_config: AnalysisConfig = attrs.Factory(AnalysisConfig)
    webhook_settings: WebhookSettings = attrs.Factory(WebhookSettings)
    notification_preferences: NotificationPreferences = attrs.Factory(NotificationPreferences)
    security_settings: SecuritySettings = attrs.Factory(SecuritySettings)


@attrs.frozen(kw_only=True)
class ProjectSettings:
    """Per-project settings; ``analysis`` overrides the organization's default config."""

    analysis: AnalysisConfig | None = None
    auto_analyze_on_push: bool = True
    analyze_branches: tuple[str, ...] = attrs.field(
        default=(), converter=_as_tuple, validator=_texts(255)
    )
    quality_gate_min_score: float | None = attrs.field(
        default=None, validator=v.optional(v.finite_number(max_abs=101))
    )


# --------------------------------------------------------------------------- metadata


@attrs.frozen(kw_only=True)
class LanguageStats:
    file_count: int = attrs.field(default=0, validator=v.int_range(0))
    line_count: int = attrs.field(default=0, validator=v.int_range(0))
    size_bytes: int = attrs.field(default=0, validator=v.int_range(0))


@attrs.frozen(kw_only=True)
class CommitInfo:
    hash: str = attrs.field(validator=v.hex_digest(40))
    author: str = attrs.field(default="", validator=v.text(max_length=500, allow_empty=True))
    message: str = attrs.field(default="", validator=v.text(allow_empty=True))
    committed_at: dt.datetime = attrs.field(validator=v.aware_datetime())


def _language_keys(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {to_programming_language(k): v for k, v in value.items()}


@attrs.frozen(kw_only=True)
class ProjectMetadata:
    languages: dict[ProgrammingLanguage, LanguageStats] = attrs.field(
        factory=dict, converter=_language_keys
    )
    total_files: int = attrs.field(default=0, validator=v.int_range(0))
    total_lines: int = attrs.field(default=0, validator=v.int_range(0))
    repository_size: int = attrs.field(default=0, validator=v.int_range(0))
    last_commit: CommitInfo | None = None
    quality_score: float | None = attrs.field(
        default=None, validator=v.optional(v.finite_number(max_abs=101))
    )
    technical_debt_hours: float | None = attrs.field(
        default=None, validator=v.optional(v.finite_number())
    )

    @languages.validator
    def _check_languages(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        for language in value:
            if not isinstance(language, ProgrammingLanguage):
                v.fail(self, attribute, language, "keys must be programming languages")

    def __attrs_post_init__(self) -> None:
        for name in ("quality_score", "technical_debt_hours"):
            value = getattr(self, name)
            if value is not None and value < 0:
                v.fail(self, attrs.fields_dict(type(self))[name], value, "must not be negative")


# --------------------------------------------------------------------------- source code


def _line_span(instance: Any) -> None:
    if instance.line_end < instance.line_start:
        v.fail(
            instance,
            attrs.fields_dict(type(instance))["line_end"],
            instance.line_end,
            f"must be >= line_start ({instance.line_start})",
        )


@attrs.frozen(kw_only=True)
class ImportDeclaration:
    module: str = attrs.field(validator=v.text(max_length=1000))
    names: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple, validator=_texts(1000))
    alias: str | None = None
    line: int | None = attrs.field(default=None, validator=v.optional(v.int_range(1)))


@attrs.frozen(kw_only=True)
class ExportDeclaration:
    name: str = attrs.field(validator=v.text(max_length=1000))
    kind: str = "symbol"
    line: int | None = attrs.field(default=None, validator=v.optional(v.int_range(1)))


@attrs.frozen(kw_only=True)
class FunctionSignature:
    name: str = attrs.field(validator=v.text(max_length=1000))
    parameters: tuple[str, ...] = attrs.field(
        default=(), converter=_as_tuple, validator=_texts(1000)
    )
    return_type: str | None = None
    line_start: int = attrs.field(validator=v.int_range(1))
    line_end: int = attrs.field(validator=v.int_range(1))
    complexity: int = attrs.field(default=1, validator=v.int_range(0))
    nloc: int = attrs.field(default=0, validator=v.int_range(0))
    is_async: bool = False

    def __attrs_post_init__(self) -> None:
        _line_span(self)

    @property
    def signature(self) -> str:
        tail = f" -> {self.return_type}" if self.return_type else ""
        return f"{self.name}({', '.join(self.parameters)}){tail}"


@attrs.frozen(kw_only=True)
class ClassSignature:
    name: str = attrs.field(validator=v.text(max_length=1000))
    bases: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple, validator=_texts(1000))
    methods: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple, validator=_texts(1000))
    line_start: int = attrs.field(validator=v.int_range(1))
    line_end: int = attrs.field(validator=v.int_range(1))

    def __attrs_post_init__(self) -> None:
        _line_span(self)


@attrs.frozen(kw_only=True)
class ComplexityMetrics:
    nloc: int = attrs.field(default=0, validator=v.int_range(0))
    function_count: int = attrs.field(default=0, validator=v.int_range(0))
    cyclomatic_total: int = attrs.field(default=0, validator=v.int_range(0))
    cyclomatic_average: float = attrs.field(default=0.0, validator=v.finite_number())
    cyclomatic_max: int = attrs.field(default=0, validator=v.int_range(0))


@attrs.frozen(kw_only=True)
class FileMetadata:
    """What was learnt reading a file. ``skipped_reason`` says why a file was not parsed
    (binary, undecodable, too large)."""

    encoding: str = attrs.field(default="utf-8", validator=v.text(max_length=50))
    has_bom: bool = False
    line_endings: LineEndingType = attrs.field(
        default=LineEndingType.LF,
        converter=to_line_ending_type,
        validator=v.enum_member(LineEndingType),
    )
    complexity_metrics: ComplexityMetrics | None = None
    imports: tuple[ImportDeclaration, ...] = attrs.field(default=(), converter=_as_tuple)
    exports: tuple[ExportDeclaration, ...] = attrs.field(default=(), converter=_as_tuple)
    functions: tuple[FunctionSignature, ...] = attrs.field(default=(), converter=_as_tuple)
    classes: tuple[ClassSignature, ...] = attrs.field(default=(), converter=_as_tuple)
    description: str | None = None
    skipped_reason: str | None = None


@attrs.frozen(kw_only=True)
class SourceLocation:
    """Where in a file an issue lies. Lines are 1-based; columns 0-based and optional."""

    file_path: str = attrs.field(default="", validator=v.text(max_length=4096, allow_empty=True))
    line_start: int = attrs.field(validator=v.int_range(1))
    line_end: int = attrs.field(validator=v.int_range(1))
    column_start: int | None = attrs.field(default=None, validator=v.optional(v.int_range(0)))
    column_end: int | None = attrs.field(default=None, validator=v.optional(v.int_range(0)))

    def __attrs_post_init__(self) -> None:
        _line_span(self)
        if (
            self.line_start == self.line_end
            and self.column_start is not None
            and self.column_end is not None
            and self.column_end < self.column_start
        ):
            v.fail(
                self,
                attrs.fields_dict(SourceLocation)["column_end"],
                self.column_end,
                f"must be >= column_start ({self.column_start}) on a single line",
            )
