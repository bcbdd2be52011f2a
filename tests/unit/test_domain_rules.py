"""Resolution of a project's effective rule set from the catalogue and its configurations."""

from __future__ import annotations

import uuid
from typing import Any

import hypothesis.strategies as st
from hypothesis import given

from domain.enums import ProgrammingLanguage, Severity
from domain.ids import ProjectId, RuleId
from domain.rules import ProjectRuleConfig, Rule, effective_rules

PROJECT = ProjectId(uuid.uuid4())


def rule(rule_id: str, **fields: Any) -> Rule:
    defaults = {
        "name": rule_id,
        "description": f"Checks {rule_id}.",
        "category": "complexity",
        "languages": ("python",),
    }
    return Rule(id=RuleId(rule_id), **{**defaults, **fields})


def config(rule_id: str, **fields: Any) -> ProjectRuleConfig:
    return ProjectRuleConfig(project_id=PROJECT, rule_id=RuleId(rule_id), **fields)


def test_rules_without_configuration_apply_as_catalogued() -> None:
    """An unconfigured rule keeps its enablement, severity and implementation."""
    catalogue = [rule("long-file", severity="low", implementation={"max_lines": 500})]

    [effective] = effective_rules(catalogue, [])

    assert (effective.rule_id, effective.enabled, effective.severity) == (
        "long-file",
        True,
        Severity.LOW,
    )
    assert (effective.config, effective.overridden) == ({"max_lines": 500}, False)


def test_configuration_overrides_enablement_severity_and_merges_config() -> None:
    """A project config sets enablement and severity, and its config_override is merged
    over the implementation shallowly, the override winning."""
    catalogue = [
        rule(
            "complex-function",
            severity="medium",
            implementation={"threshold": 10, "scope": "function"},
            is_enabled=False,
        )
    ]
    configs = [
        config(
            "complex-function",
            is_enabled=True,
            severity_override="critical",
            config_override={"threshold": 15, "ignore": ["tests/*"]},
        )
    ]

    [effective] = effective_rules(catalogue, configs)

    assert (effective.enabled, effective.severity, effective.overridden) == (
        True,
        Severity.CRITICAL,
        True,
    )
    assert effective.config == {"threshold": 15, "scope": "function", "ignore": ["tests/*"]}
    assert catalogue[0].implementation == {"threshold": 10, "scope": "function"}


def test_a_config_without_severity_override_keeps_the_rule_severity() -> None:
    """A config that only toggles enablement leaves the catalogue severity and config."""
    [effective] = effective_rules(
        [rule("magic-number", severity="high", implementation={"allow": [0, 1]})],
        [config("magic-number")],
    )

    assert (effective.severity, effective.config) == (Severity.HIGH, {"allow": [0, 1]})


def test_disabled_rules_are_left_out_unless_asked_for() -> None:
    """Rules disabled by the catalogue or by the project appear only with include_disabled."""
    catalogue = [rule("a"), rule("b", is_enabled=False), rule("c")]
    configs = [config("c", is_enabled=False)]

    assert [e.rule_id for e in effective_rules(catalogue, configs)] == ["a"]
    everything = effective_rules(catalogue, configs, include_disabled=True)
    assert {e.rule_id: e.enabled for e in everything} == {"a": True, "b": False, "c": False}


def test_configs_of_rules_outside_the_catalogue_are_ignored() -> None:
    """A configuration whose rule is not in the given catalogue adds nothing."""
    assert [e.rule_id for e in effective_rules([rule("a")], [config("zzz")])] == ["a"]


@given(
    st.lists(
        st.tuples(st.sampled_from(list(Severity)), st.sampled_from(list(Severity)) | st.none()),
        max_size=12,
    )
)
def test_effective_rules_sort_by_severity_most_severe_first_then_id(
    shape: list[tuple[Severity, Severity | None]],
) -> None:
    """Whatever the severities and overrides, the result runs from most to least severe,
    ties broken by rule id."""
    catalogue = [rule(f"r{i:02d}", severity=s) for i, (s, _) in enumerate(shape)]
    configs = [config(f"r{i:02d}", severity_override=o) for i, (_, o) in enumerate(shape)]

    result = effective_rules(catalogue, configs)

    expected = sorted(((o or s).rank, f"r{i:02d}") for i, (s, o) in enumerate(shape))
    assert [(e.severity.rank, e.rule_id) for e in result] == expected


def test_a_rule_applies_only_to_its_languages() -> None:
    """applies_to is true for a listed language and false for others or an unknown one."""
    polyglot = rule("x", languages=("python", "rust"))

    assert polyglot.applies_to(ProgrammingLanguage.RUST)
    assert not polyglot.applies_to(ProgrammingLanguage.GO)
    assert not polyglot.applies_to(None)
