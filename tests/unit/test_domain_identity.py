"""Entities compare and hash by type and id; value objects compare by value."""

from __future__ import annotations

import uuid

import attrs

from domain.ids import OrganizationId, ProjectId
from domain.organizations import Organization, User
from domain.projects import Project
from domain.values import AnalysisConfig


def test_an_entity_equals_itself_in_another_state() -> None:
    """Two objects of one entity type with the same id are equal and hash alike, whatever
    their other fields."""
    acme = Organization(name="Acme", slug="acme")
    renamed = attrs.evolve(acme, name="Acme Corp", slug="acme-corp")

    assert renamed == acme
    assert hash(renamed) == hash(acme)
    assert len({acme, renamed}) == 1


def test_entities_with_different_ids_differ_even_with_equal_fields() -> None:
    """Two entities with identical fields but different ids are not equal."""
    first = Organization(name="Acme", slug="acme")
    second = attrs.evolve(first, id=OrganizationId(uuid.uuid4()))

    assert first != second


def test_entities_of_different_types_with_the_same_id_differ() -> None:
    """An organization and a project sharing an id value are different entities."""
    shared = uuid.uuid4()
    org = Organization(id=OrganizationId(shared), name="Acme", slug="acme")
    proj = Project(
        id=ProjectId(shared),
        organization_id=OrganizationId(shared),
        name="Acme",
        slug="acme",
        repository_url="r",
    )

    assert org != proj
    assert org != shared


def test_mutating_an_entity_keeps_its_identity() -> None:
    """Changing a field of an entity leaves it equal to its earlier snapshots and in sets."""
    person = User(email="ada@example.com", username="ada", password_hash="h")
    members = {person}

    person.full_name = "Ada Lovelace"

    assert person in members


def test_value_objects_compare_by_value() -> None:
    """Two value objects with equal fields are equal and hash alike."""
    first = AnalysisConfig(categories=("security",), languages=("python",))
    second = AnalysisConfig(categories=("security",), languages=("python",))

    assert first == second
    assert hash(first) == hash(second)
    assert first != attrs.evolve(second, include_tests=False)
