"""Contract of RuleRepository: round trips, unique ids, optimistic concurrency, bulk upsert,
filtered lists and a delete that cascades to project configurations."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from domain.enums import Category, ProgrammingLanguage
from domain.ids import RuleId
from ports.errors import ConcurrencyError, DuplicateError, NotFoundError
from tests.contract.builders import at, fields_of, read, rule, rule_config, scaffold, store
from tests.contract.conftest import Backend


async def listed_ids(backend: Backend, **filters: Any) -> set[RuleId]:
    return {r.id for r in await read(backend, lambda uow: uow.rules.list(**filters))}


async def test_create_then_find_round_trips_every_field(backend: Backend) -> None:
    """A rule reads back by id with every field, implementation and examples included."""
    check = rule(
        name="Prompt injection",
        description="Model output reaches a shell.",
        category="security",
        severity="critical",
        languages=("python", "typescript"),
        rule_type="ai",
        implementation={"model": "small", "threshold": 0.8, "prompts": ["a", "b"]},
        examples={"bad": "os.system(reply)", "good": "subprocess.run([...])"},
        documentation_url="https://docs.example.com/rules/prompt-injection",
        is_enabled=False,
        is_builtin=False,
        created_at=at(0),
        updated_at=at(1),
        version="2.1.0-rc.1",
    )
    await store(backend, check)

    found = await read(backend, lambda uow: uow.rules.find_by_id(check.id))
    assert found is not None

    assert attrs.asdict(found) == attrs.asdict(check)
    assert await read(backend, lambda uow: uow.rules.find_by_id(RuleId("no-such-rule"))) is None


async def test_duplicate_id_raises_duplicate_error(backend: Backend) -> None:
    """A second rule with a taken id is refused and the first is kept."""
    first = rule()
    await store(backend, first)

    with pytest.raises(DuplicateError):
        await store(backend, rule(id=first.id, name="Impostor"))

    found = await read(backend, lambda uow: uow.rules.find_by_id(first.id))
    assert found is not None
    assert found.name == first.name


async def test_update_returns_the_stored_rule_with_a_newer_updated_at(backend: Backend) -> None:
    """update stores the changes and returns them with an updated_at later than before."""
    check = rule(created_at=at(0), updated_at=at(0))
    await store(backend, check)
    changed = attrs.evolve(check, severity="high", languages=("rust",), version="1.1.0")

    async with backend.uow() as uow:
        updated = await uow.rules.update(changed)
        await uow.commit()

    assert updated.updated_at > check.updated_at
    assert fields_of(updated, "updated_at") == fields_of(changed, "updated_at")
    found = await read(backend, lambda uow: uow.rules.find_by_id(check.id))
    assert found is not None
    assert attrs.asdict(found) == attrs.asdict(updated)


async def test_update_with_a_stale_rule_raises_concurrency_error(backend: Backend) -> None:
    """Updating from a copy read before another update raises ConcurrencyError."""
    check = rule()
    await store(backend, check)
    async with backend.uow() as uow:
        await uow.rules.update(attrs.evolve(check, name="First"))
        await uow.commit()

    with pytest.raises(ConcurrencyError):
        async with backend.uow() as uow:
            await uow.rules.update(attrs.evolve(check, name="Second"))
            await uow.commit()

    found = await read(backend, lambda uow: uow.rules.find_by_id(check.id))
    assert found is not None
    assert found.name == "First"


async def test_update_and_delete_of_an_unknown_id_raise_not_found(backend: Backend) -> None:
    """update and delete of a rule that was never stored raise NotFoundError."""
    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.rules.update(rule())
    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.rules.delete(RuleId("no-such-rule"))


async def test_delete_removes_the_rule_and_the_project_configs_of_it(backend: Backend) -> None:
    """Deleting a rule deletes every project's configuration of it, not of other rules."""
    proj = (await scaffold(backend)).project
    doomed, kept = rule(), rule()
    await store(
        backend, doomed, kept, rule_config(proj.id, doomed.id), rule_config(proj.id, kept.id)
    )

    async with backend.uow() as uow:
        await uow.rules.delete(doomed.id)
        await uow.commit()

    async with backend.uow() as uow:
        assert await uow.rules.find_by_id(doomed.id) is None
        assert await uow.rule_configs.find(proj.id, doomed.id) is None
        assert [c.rule_id for c in await uow.rule_configs.list_by_project(proj.id)] == [kept.id]


async def test_upsert_many_inserts_new_rules_and_replaces_known_ones(backend: Backend) -> None:
    """upsert_many writes every rule, returns how many, and keeps created_at of known ids."""
    known = rule(created_at=at(0), updated_at=at(0))
    await store(backend, known)
    replacement = rule(id=known.id, name="Renamed", severity="low")
    fresh = rule(created_at=at(5), updated_at=at(5))

    async with backend.uow() as uow:
        assert await uow.rules.upsert_many([replacement, fresh]) == 2
        await uow.commit()

    async with backend.uow() as uow:
        stored = await uow.rules.find_by_id(known.id)
        expected = attrs.evolve(replacement, created_at=known.created_at)
        assert fields_of(stored, "updated_at") == fields_of(expected, "updated_at")
        found = await uow.rules.find_by_id(fresh.id)
        assert found is not None
        assert attrs.asdict(found) == attrs.asdict(fresh)


async def test_list_filters_by_category_language_and_enablement(backend: Backend) -> None:
    """Each filter narrows the catalogue, they combine, and no filter lists every rule."""
    py_sec = rule(category="security", languages=("python",))
    polyglot = rule(category="security", languages=("rust", "python"), is_enabled=False)
    go_style = rule(category="style", languages=("go",))
    await store(backend, py_sec, polyglot, go_style)

    assert await listed_ids(backend) == {py_sec.id, polyglot.id, go_style.id}
    assert await listed_ids(backend, category=Category.SECURITY) == {py_sec.id, polyglot.id}
    assert await listed_ids(backend, language=ProgrammingLanguage.PYTHON) == {
        py_sec.id,
        polyglot.id,
    }
    assert await listed_ids(backend, language=ProgrammingLanguage.RUST) == {polyglot.id}
    assert await listed_ids(backend, enabled=False) == {polyglot.id}
    assert await listed_ids(backend, enabled=True, category=Category.SECURITY) == {py_sec.id}
