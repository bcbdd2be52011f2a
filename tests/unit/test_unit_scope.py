"""A unit of work states its scope when it is made: one organization or the system scope,
never both and never neither, on both adapters and before any I/O."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from adapters.memory import MemoryDatabase, MemoryUnitOfWork
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from domain.errors import ValidationError
from domain.ids import OrganizationId
from ports.unit_of_work import UnitOfWork

MakeUnit = Callable[..., UnitOfWork]


def memory_unit(**scope: Any) -> UnitOfWork:
    return MemoryUnitOfWork(MemoryDatabase(), **scope)


def postgres_unit(**scope: Any) -> UnitOfWork:
    # never opened: the scope is checked when the unit is made
    return PostgresUnitOfWork(PostgresDatabase(url="postgresql://nobody@127.0.0.1:1/none"), **scope)


ADAPTERS = pytest.mark.parametrize("make", [memory_unit, postgres_unit], ids=["memory", "postgres"])


@ADAPTERS
def test_a_unit_without_a_scope_is_refused(make: MakeUnit) -> None:
    with pytest.raises(ValidationError) as error:
        make()
    assert error.value.field == "organization_id"
    assert "system=True" in str(error.value)


@ADAPTERS
def test_a_unit_cannot_be_of_one_organization_and_the_system_scope(make: MakeUnit) -> None:
    with pytest.raises(ValidationError) as error:
        make(organization_id=OrganizationId(uuid.uuid4()), system=True)
    assert error.value.field == "system"


@ADAPTERS
@pytest.mark.parametrize(
    ("scope", "field"),
    [({"system": 1}, "system"), ({"organization_id": "acme"}, "organization_id")],
)
def test_a_scope_of_the_wrong_type_is_named(
    make: MakeUnit, scope: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as error:
        make(**scope)
    assert error.value.field == field


@ADAPTERS
def test_each_scope_is_kept_by_siblings(make: MakeUnit) -> None:
    organization = OrganizationId(uuid.uuid4())
    system = make(system=True)
    tenant = make(organization_id=organization)
    assert system.organization_id is None and system.sibling().organization_id is None
    assert tenant.sibling().organization_id == organization
    assert system.for_organization(organization).organization_id == organization
