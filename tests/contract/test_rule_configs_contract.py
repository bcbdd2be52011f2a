"""Contract of RuleConfigRepository: one configuration per project and rule, both of which
must exist; upsert keeps the identity of a known configuration."""

from __future__ import annotations

import attrs
import pytest

from domain.ids import ProjectId, RuleId, new_id
from domain.rules import ProjectRuleConfig
from ports.errors import NotFoundError
from tests.contract.builders import at, fields_of, read, rule, rule_config, scaffold, store
from tests.contract.conftest import Backend


async def upsert(backend: Backend, config: ProjectRuleConfig) -> ProjectRuleConfig:
    async with backend.uow() as uow:
        stored = await uow.rule_configs.upsert(config)
        await uow.commit()
    return stored


async def test_upsert_inserts_a_config_that_round_trips_every_field(backend: Backend) -> None:
    """A new configuration reads back with every field, overrides included."""
    proj, check = (await scaffold(backend)).project, rule()
    await store(backend, check)
    config = rule_config(
        proj.id,
        check.id,
        is_enabled=False,
        severity_override="low",
        config_override={"threshold": 15, "ignore": ["tests/*"]},
        created_at=at(0),
        updated_at=at(1),
    )

    await upsert(backend, config)

    found = await read(backend, lambda uow: uow.rule_configs.find(proj.id, check.id))
    assert found is not None
    assert attrs.asdict(found) == attrs.asdict(config)
    listed = await read(backend, lambda uow: uow.rule_configs.list_by_project(proj.id))
    assert [attrs.asdict(c) for c in listed] == [attrs.asdict(config)]


async def test_upsert_replaces_the_config_of_the_same_project_and_rule(backend: Backend) -> None:
    """A second upsert for the same project and rule replaces it, keeping id and
    created_at, so each pair has one configuration."""
    proj, check = (await scaffold(backend)).project, rule()
    first = rule_config(proj.id, check.id, created_at=at(0), updated_at=at(0))
    await store(backend, check, first)
    second = rule_config(proj.id, check.id, severity_override="critical", config_override={"a": 1})

    returned = await upsert(backend, second)

    expected = attrs.evolve(second, id=first.id, created_at=first.created_at)
    assert fields_of(returned, "updated_at") == fields_of(expected, "updated_at")
    listed = await read(backend, lambda uow: uow.rule_configs.list_by_project(proj.id))
    assert [fields_of(c, "updated_at") for c in listed] == [fields_of(expected, "updated_at")]


async def test_config_of_an_unknown_project_or_rule_raises_not_found(backend: Backend) -> None:
    """A configuration needs both its project and its rule to exist."""
    proj, check = (await scaffold(backend)).project, rule()
    await store(backend, check)

    with pytest.raises(NotFoundError):
        await upsert(backend, rule_config(proj.id, RuleId("no-such-rule")))
    with pytest.raises(NotFoundError):
        await upsert(backend, rule_config(ProjectId(new_id()), check.id))

    assert await read(backend, lambda uow: uow.rule_configs.list_by_project(proj.id)) == []


async def test_list_and_find_are_scoped_to_the_project(backend: Backend) -> None:
    """A project's configurations are listed and found only under that project."""
    mine, theirs = (await scaffold(backend)).project, (await scaffold(backend)).project
    first, second = rule(), rule()
    own = [rule_config(mine.id, first.id), rule_config(mine.id, second.id)]
    await store(backend, first, second, *own, rule_config(theirs.id, first.id, is_enabled=False))

    listed = await read(backend, lambda uow: uow.rule_configs.list_by_project(mine.id))

    assert {c.id for c in listed} == {c.id for c in own}
    found = await read(backend, lambda uow: uow.rule_configs.find(theirs.id, second.id))
    assert found is None


async def test_delete_reports_whether_a_config_was_removed(backend: Backend) -> None:
    """delete returns True and removes an existing configuration, then False."""
    proj, check = (await scaffold(backend)).project, rule()
    await store(backend, check, rule_config(proj.id, check.id))

    async with backend.uow() as uow:
        assert await uow.rule_configs.delete(proj.id, check.id) is True
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.rule_configs.delete(proj.id, check.id) is False

    assert await read(backend, lambda uow: uow.rule_configs.find(proj.id, check.id)) is None
