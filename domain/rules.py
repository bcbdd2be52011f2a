"""Rules, their per-project configuration, and the effective rule set of a project."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import attrs

from domain import validation as v
from domain._base import Entity, utc_now
from domain.enums import (
    Category,
    ProgrammingLanguage,
    RuleType,
    Severity,
    to_category,
    to_languages,
    to_optional_severity,
    to_rule_type,
    to_severity,
)
from domain.ids import ProjectId, RuleConfigId, RuleId, new_id

__all__ = ["EffectiveRule", "ProjectRuleConfig", "Rule", "effective_rules"]

_RULE_ID_RE = re.compile(r"^[a-z0-9]+(?:[-_./][a-z0-9]+)*$")


def rule_id_validator(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or len(value) > 100 or not _RULE_ID_RE.match(value):
        v.fail(
            instance,
            attribute,
            value,
            "must be at most 100 lower-case letters and digits joined by '-', '_', '.' or '/'",
        )


def _check_languages(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple):
        v.fail(instance, attribute, value, "must be a list of languages")
    if not value:
        v.fail(instance, attribute, value, "must name at least one language")
    for language in value:
        v.enum_member(ProgrammingLanguage)(instance, attribute, language)
    if len(set(value)) != len(value):
        v.fail(instance, attribute, value, "must not repeat a language")


@attrs.define(kw_only=True, eq=False)
class Rule(Entity):
    """A check the analyser can run. ``implementation`` describes how (for a static rule,
    e.g. the metric and threshold it tests)."""

    id: RuleId = attrs.field(validator=rule_id_validator)
    name: str = attrs.field(validator=v.text(max_length=255))
    description: str = attrs.field(validator=v.text())
    category: Category = attrs.field(converter=to_category, validator=v.enum_member(Category))
    severity: Severity = attrs.field(
        default=Severity.MEDIUM,
        converter=to_severity,
        validator=v.enum_member(Severity),
    )
    languages: tuple[ProgrammingLanguage, ...] = attrs.field(
        converter=to_languages, validator=_check_languages
    )
    rule_type: RuleType = attrs.field(
        default=RuleType.STATIC,
        converter=to_rule_type,
        validator=v.enum_member(RuleType),
    )
    implementation: dict[str, Any] = attrs.field(factory=dict, validator=v.json_document())
    examples: dict[str, Any] | None = attrs.field(
        default=None, validator=v.optional(v.json_document())
    )
    documentation_url: str | None = attrs.field(
        default=None, validator=v.optional(v.text(max_length=2048))
    )
    is_enabled: bool = True
    is_builtin: bool = True
    created_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    updated_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    version: str = attrs.field(default="1.0.0", validator=v.semver())

    def applies_to(self, language: ProgrammingLanguage | None) -> bool:
        return language is not None and language in self.languages


@attrs.define(kw_only=True, eq=False)
class ProjectRuleConfig(Entity):
    """A project's choice about one rule: ``(project_id, rule_id)`` is unique."""

    id: RuleConfigId = attrs.field(factory=lambda: RuleConfigId(new_id()))
    project_id: ProjectId
    rule_id: RuleId = attrs.field(validator=rule_id_validator)
    is_enabled: bool = True
    severity_override: Severity | None = attrs.field(
        default=None,
        converter=to_optional_severity,
        validator=v.optional(v.enum_member(Severity)),
    )
    config_override: dict[str, Any] | None = attrs.field(
        default=None, validator=v.optional(v.json_document())
    )
    created_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    updated_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())


@attrs.frozen(kw_only=True)
class EffectiveRule:
    """A rule as it applies to one project: overrides resolved."""

    rule: Rule
    enabled: bool
    severity: Severity
    config: dict[str, Any]
    overridden: bool

    @property
    def rule_id(self) -> RuleId:
        return self.rule.id


def effective_rules(
    rules: list[Rule], configs: list[ProjectRuleConfig], *, include_disabled: bool = False
) -> list[EffectiveRule]:
    """Resolve a project's rule set: a project config overrides the rule's enablement and
    severity, and its ``config_override`` is merged over the rule's ``implementation``
    (shallowly, the override winning). Sorted by severity (most severe first), then id."""
    by_rule = {c.rule_id: c for c in configs}
    out: list[EffectiveRule] = []
    for rule in rules:
        config = by_rule.get(rule.id)
        enabled = rule.is_enabled if config is None else config.is_enabled
        severity = rule.severity
        merged = dict(rule.implementation)
        if config is not None:
            if config.severity_override is not None:
                severity = config.severity_override
            if config.config_override:
                merged.update(config.config_override)
        if enabled or include_disabled:
            out.append(
                EffectiveRule(
                    rule=rule,
                    enabled=enabled,
                    severity=severity,
                    config=merged,
                    overridden=config is not None,
                )
            )
    out.sort(key=lambda e: (e.severity.rank, e.rule.id))
    return out
