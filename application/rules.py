"""Use cases of rules: register the catalogue, configure rules per project, resolve a
project's effective rule set."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import attrs

from application._boundary import service
from application._lookup import require_project, require_rule
from application.unchanged import UNCHANGED, Unchanged
from domain.enums import ProgrammingLanguage, Severity
from domain.errors import ValidationError
from domain.events import ConfigurationChanged, RuleChanged
from domain.ids import ProjectId, RuleId
from domain.rules import EffectiveRule, ProjectRuleConfig, Rule, effective_rules
from domain.validation import check_instance
from ports.unit_of_work import UnitOfWork

__all__ = ["configure_rule", "effective_rule_set", "register_rules", "reset_rule"]


@service
async def register_rules(uow: UnitOfWork, rules: Sequence[Rule]) -> int:
    """Insert or replace a catalogue of rules by id in one bulk write (RuleChanged for
    each); returns how many were written. A rule stored exactly as given (timestamps
    aside) is left alone, so registering the same catalogue again writes nothing. Ids
    must be unique within ``rules``."""
    for rule in rules:
        check_instance("rules", rule, Rule)
    repeated = sorted(i for i, n in Counter(r.id for r in rules).items() if n > 1)
    if repeated:
        raise ValidationError("id", repeated, "must be unique within a catalogue", entity="Rule")
    if not rules:
        return 0
    async with uow:
        stored = {r.id: r for r in await uow.rules.list()}
        changed = [r for r in rules if r.id not in stored or _content(stored[r.id]) != _content(r)]
        if not changed:
            return 0
        written = await uow.rules.upsert_many(changed)
        for rule in changed:
            uow.add_event(RuleChanged(rule_id=rule.id))
        await uow.commit()
    return written


def _content(rule: Rule) -> dict[str, object]:
    """A rule's fields but its timestamps."""
    fields = attrs.asdict(rule, recurse=False)
    del fields["created_at"], fields["updated_at"]
    return fields


@service
async def configure_rule(
    uow: UnitOfWork,
    project_id: ProjectId,
    rule_id: RuleId,
    *,
    enabled: bool | Unchanged = UNCHANGED,
    severity_override: Severity | Unchanged | None = UNCHANGED,
    config_override: dict[str, Any] | Unchanged | None = UNCHANGED,
) -> ProjectRuleConfig:
    """Set a project's overrides of a rule (ConfigurationChanged); arguments left at
    :data:`UNCHANGED` keep their current value. A new configuration starts from the rule's
    own enablement and no overrides. Returns the configuration as stored; when nothing
    changed, nothing is written. The project is locked while its configuration is read
    and written, so concurrent calls setting different fields all keep their change."""
    if enabled is not UNCHANGED and not isinstance(enabled, bool):
        raise ValidationError("enabled", enabled, "must be a bool", entity="ProjectRuleConfig")
    if config_override is not UNCHANGED and config_override is not None:
        check_instance("config_override", config_override, dict, entity="ProjectRuleConfig")
    given: dict[str, Any] = {
        field: value
        for field, value in (
            ("is_enabled", enabled),
            ("severity_override", severity_override),
            ("config_override", config_override),
        )
        if value is not UNCHANGED
    }
    requested = ProjectRuleConfig(project_id=project_id, rule_id=rule_id, **given)
    async with uow:
        await uow.projects.lock(project_id)  # concurrent changes of its rules queue
        rule = await require_rule(uow, rule_id)
        existing = await uow.rule_configs.find(project_id, rule_id)
        if existing is None:
            config = (
                requested
                if "is_enabled" in given
                else attrs.evolve(requested, is_enabled=rule.is_enabled)
            )
        else:
            config = attrs.evolve(existing, **given)
            if all(getattr(config, f) == getattr(existing, f) for f in given):
                return existing
        stored = await uow.rule_configs.upsert(config)
        uow.add_event(ConfigurationChanged(project_id=project_id, rule_id=rule_id))
        await uow.commit()
    return stored


@service
async def reset_rule(uow: UnitOfWork, project_id: ProjectId, rule_id: RuleId) -> bool:
    """Drop a project's configuration of a rule, so the rule's own settings apply again
    (ConfigurationChanged). Returns whether there was one; if not, nothing is written."""
    async with uow:
        await uow.projects.lock(project_id)
        if not await uow.rule_configs.delete(project_id, rule_id):
            return False
        uow.add_event(ConfigurationChanged(project_id=project_id, rule_id=rule_id))
        await uow.commit()
    return True


@service
async def effective_rule_set(
    uow: UnitOfWork,
    project_id: ProjectId,
    *,
    language: ProgrammingLanguage | None = None,
    include_disabled: bool = False,
) -> list[EffectiveRule]:
    """The rules as they apply to a project (overrides resolved), most severe first; only
    those for ``language`` if given, and only enabled ones unless ``include_disabled``."""
    async with uow:
        await require_project(uow, project_id)
        rules = await uow.rules.list(language=language)
        configs = await uow.rule_configs.list_by_project(project_id)
    return effective_rules(rules, configs, include_disabled=include_disabled)
