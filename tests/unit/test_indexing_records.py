"""The project slug the main job makes of a name, and the project a repository is
indexed into."""

from __future__ import annotations

import pytest

from adapters.memory.database import MemoryDatabase
from adapters.memory.unit_of_work import MemoryUnitOfWork
from application.indexing import slugify
from application.indexing.records import organization_for, project_for, repository_for
from domain.errors import ProjectTakenError, ValidationError
from domain.projects import Project
from ports.source import SourceSnapshot


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Orders Service", "orders-service"),
        ("orders_service.v2", "orders-service-v2"),
        ("--Café--", "caf"),
        ("x" * 150, "x" * 100),
    ],
)
def test_a_slug_keeps_the_letters_and_digits_of_the_name(name: str, slug: str) -> None:
    """A slug is the name's lower-case ASCII letters and digits, runs joined by one
    hyphen, at most 100 characters."""
    assert slugify(name) == slug


@pytest.mark.parametrize("name", ["!!!", "---", "日本語", " _ "])
def test_a_name_without_a_letter_or_digit_has_no_slug(name: str) -> None:
    """A name without an ASCII letter or digit is refused, naming the field, instead of
    becoming a made-up slug shared by every such name."""
    with pytest.raises(ValidationError) as caught:
        slugify(name, field="project_name")
    assert caught.value.field == "project_name"
    assert caught.value.value == name


def _snapshot(root: str, remote_url: str | None) -> SourceSnapshot:
    return SourceSnapshot(
        root=root, head_commit=None, default_branch="main", remote_url=remote_url,
        branches=(), files=(),
    )  # fmt: skip


async def _index_records(db: MemoryDatabase, snapshot: SourceSnapshot, name: str) -> Project:
    """The records the main job finds or makes for ``snapshot`` under the name ``name``."""
    uow = lambda: MemoryUnitOfWork(db, system=True)  # noqa: E731
    organization = await organization_for(uow, "default")
    project = await project_for(uow, organization, name, slugify(name), snapshot)
    await repository_for(uow, project, snapshot)
    return project


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("/a/svc", "https://git.example.com/a/svc.git"), ("/b/svc", "https://git.example.com/b/svc.git")),
        (("/a/svc", None), ("/b/svc", None)),
        (("/a/svc", "https://git.example.com/a/svc.git"), ("/b/svc", None)),
    ],
)  # fmt: skip
async def test_another_repository_does_not_join_a_project_of_the_same_name(
    first: tuple[str, str | None], second: tuple[str, str | None]
) -> None:
    """A repository of another origin URL (without one, at another path) is refused the
    project a first repository holds under the same name, naming that repository, and
    nothing joins the project."""
    db = MemoryDatabase()
    project = await _index_records(db, _snapshot(*first), "svc")
    with pytest.raises(ProjectTakenError) as caught:
        await _index_records(db, _snapshot(*second), "svc")
    assert caught.value.project == "default/svc"
    assert caught.value.holder == (first[1] or first[0])
    async with MemoryUnitOfWork(db, system=True) as unit:
        clones = await unit.repositories.list_by_project(project.id)
    assert [c.local_path for c in clones] == [first[0]]


async def test_the_same_repository_finds_its_project_again() -> None:
    """Another clone of the same origin, and the same checkout after its origin changed,
    find the project the repository holds."""
    db = MemoryDatabase()
    url = "https://git.example.com/a/svc.git"
    project = await _index_records(db, _snapshot("/a/svc", url), "svc")
    assert (await _index_records(db, _snapshot("/elsewhere/svc", url), "svc")).id == project.id
    moved = _snapshot("/a/svc", "https://mirror.example.com/svc.git")
    assert (await _index_records(db, moved, "svc")).id == project.id
