"""Rule catalogue and per-project rule configuration services, against the in-memory store."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.memory.database import MemoryDatabase
from adapters.memory.outbox import MemoryOutbox
from adapters.memory.unit_of_work import MemoryUnitOfWork
from application import configure_rule, effective_rule_set, register_rules, reset_rule
from domain.enums import Category, ProgrammingLanguage, Severity
from domain.errors import ValidationError
from domain.events import ConfigurationChanged, RuleChanged
from domain.ids import RuleId
from domain.projects import Project
from domain.rules import Rule
from ports.errors import NotFoundError
from tests.unit.fakes import Committed, Events

PY = ProgrammingLanguage.PYTHON
JS = ProgrammingLanguage.JAVASCRIPT


def _rule(
    id: str,
    severity: Severity = Severity.MEDIUM,
    languages: tuple[ProgrammingLanguage, ...] = (PY,),
    **fields: Any,
) -> Rule:
    return Rule(
        id=RuleId(id),
        name=id.replace("-", " ").title(),
        description=f"Checks {id}.",
        category=Category.MAINTAINABILITY,
        severity=severity,
        languages=languages,
        **fields,
    )


CATALOGUE = [
    _rule("complex-function", implementation={"metric": "cyclomatic", "max": 10}),
    _rule("sql-injection", Severity.CRITICAL, (PY, JS)),
    _rule("long-line", Severity.LOW, (PY, JS)),
    _rule("todo-comment", Severity.INFO, is_enabled=False),
]


@pytest.fixture
async def catalogue(uow: MemoryUnitOfWork, outbox: MemoryOutbox) -> list[Rule]:
    await register_rules(uow, CATALOGUE)
    await outbox.mark_delivered([m.id for m in await outbox.pending()])
    return CATALOGUE


async def test_register_rules_stores_the_catalogue(
    db: MemoryDatabase, uow: MemoryUnitOfWork, events: Events
) -> None:
    """Every rule of the catalogue is stored, each announced with RuleChanged."""
    written = await register_rules(uow, CATALOGUE)
    assert written == len(CATALOGUE)
    async with MemoryUnitOfWork(db, system=True) as fresh:
        stored = await fresh.rules.list()
    assert {r.id for r in stored} == {r.id for r in CATALOGUE}
    assert {e.rule_id for e in await events() if isinstance(e, RuleChanged)} == {
        r.id for r in CATALOGUE
    }


async def test_register_rules_rejects_a_repeated_id(
    uow: MemoryUnitOfWork, committed: Committed
) -> None:
    """Two rules with one id raise ValidationError on ``id`` and nothing is written."""
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await register_rules(uow, [_rule("long-line"), _rule("long-line", Severity.HIGH)])
    assert caught.value.field == "id"
    assert committed() == before


async def test_overrides_are_resolved_by_the_effective_rule_set(
    uow: MemoryUnitOfWork, project: Project, catalogue: list[Rule], events: Events
) -> None:
    """A disabled rule drops out, a severity override reorders, a config override merges
    over the rule's implementation, and a project-enabled rule joins the set."""
    await configure_rule(uow, project.id, RuleId("long-line"), enabled=False)
    await configure_rule(
        uow, project.id, RuleId("complex-function"), severity_override=Severity.HIGH
    )
    await configure_rule(uow, project.id, RuleId("complex-function"), config_override={"max": 15})
    await configure_rule(uow, project.id, RuleId("todo-comment"), enabled=True)
    rules = await effective_rule_set(uow, project.id)
    assert [(e.rule_id, e.severity) for e in rules] == [
        ("sql-injection", Severity.CRITICAL),
        ("complex-function", Severity.HIGH),
        ("todo-comment", Severity.INFO),
    ]
    assert rules[1].config == {"metric": "cyclomatic", "max": 15}
    assert [e.rule_id for e in await events() if isinstance(e, ConfigurationChanged)] == [
        "long-line",
        "complex-function",
        "complex-function",
        "todo-comment",
    ]


async def test_effective_rule_set_filters_by_language_and_can_show_disabled(
    uow: MemoryUnitOfWork, project: Project, catalogue: list[Rule]
) -> None:
    """``language`` keeps the rules of that language; ``include_disabled`` adds the off ones."""
    await configure_rule(uow, project.id, RuleId("long-line"), enabled=False)
    javascript = await effective_rule_set(uow, project.id, language=JS, include_disabled=True)
    assert [(e.rule_id, e.enabled) for e in javascript] == [
        ("sql-injection", True),
        ("long-line", False),
    ]


async def test_configure_rule_keeps_fields_not_given(
    db: MemoryDatabase, uow: MemoryUnitOfWork, project: Project, catalogue: list[Rule]
) -> None:
    """Disabling a rule keeps the severity override set before."""
    await configure_rule(uow, project.id, RuleId("sql-injection"), severity_override=Severity.LOW)
    await configure_rule(uow, project.id, RuleId("sql-injection"), enabled=False)
    async with MemoryUnitOfWork(db, system=True) as fresh:
        config = await fresh.rule_configs.find(project.id, RuleId("sql-injection"))
    assert config is not None
    assert (config.is_enabled, config.severity_override) == (False, Severity.LOW)


async def test_configure_rule_without_changes_writes_nothing(
    uow: MemoryUnitOfWork, project: Project, catalogue: list[Rule], committed: Committed
) -> None:
    """Setting the value a configuration already has writes nothing and raises no event."""
    await configure_rule(uow, project.id, RuleId("long-line"), enabled=False)
    before = committed()
    await configure_rule(uow, project.id, RuleId("long-line"), enabled=False)
    assert committed() == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"severity_override": "urgent"}, "severity_override"),
        ({"enabled": "yes"}, "enabled"),
        ({"config_override": ["max", 3]}, "config_override"),
    ],
)
async def test_configure_rule_rejects_bad_values(
    uow: MemoryUnitOfWork,
    project: Project,
    catalogue: list[Rule],
    committed: Committed,
    changes: dict[str, Any],
    field: str,
) -> None:
    """A bad override raises ValidationError naming it, and nothing is written."""
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await configure_rule(uow, project.id, RuleId("long-line"), **changes)
    assert caught.value.field == field
    assert committed() == before


async def test_configure_an_unknown_rule_raises_not_found(
    uow: MemoryUnitOfWork, project: Project, catalogue: list[Rule], committed: Committed
) -> None:
    """Configuring a rule missing from the catalogue raises NotFoundError naming the rule."""
    before = committed()
    with pytest.raises(NotFoundError) as caught:
        await configure_rule(uow, project.id, RuleId("no-such-rule"), enabled=False)
    assert caught.value.entity == "rule"
    assert committed() == before


async def test_reset_rule_restores_the_rule_defaults(
    uow: MemoryUnitOfWork,
    project: Project,
    catalogue: list[Rule],
    events: Events,
    committed: Committed,
) -> None:
    """After a reset the rule applies as catalogued; a second reset finds nothing to do."""
    await configure_rule(uow, project.id, RuleId("sql-injection"), severity_override=Severity.INFO)
    assert await reset_rule(uow, project.id, RuleId("sql-injection")) is True
    rules = {e.rule_id: e for e in await effective_rule_set(uow, project.id)}
    assert rules[RuleId("sql-injection")].severity is Severity.CRITICAL
    assert not rules[RuleId("sql-injection")].overridden
    assert isinstance((await events())[-1], ConfigurationChanged)
    before = committed()
    assert await reset_rule(uow, project.id, RuleId("sql-injection")) is False
    assert committed() == before
