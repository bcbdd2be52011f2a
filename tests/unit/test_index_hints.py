"""When ``codeant index`` starts its workers' fork server (adapters.cli.index_hints): at
once, unless the repository's git files are as the last run that ended well found them."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

import adapters.cli.index as index_command
import application.indexing
from adapters.cli.index_hints import HINTS_FILE, IndexHints, repository_state
from adapters.cli.main import main
from adapters.config import Settings
from adapters.container import Container, build_container
from application.indexing import IndexReport

_GIT_ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True, capture_output=True, env=_GIT_ENV,
    )  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository of one commit."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.py").write_text("def a():\n    return 1\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "one")
    return root


def _commit(repo: Path, name: str) -> None:
    (repo / name).write_text(f"# {name}\n")
    _git(repo, "add", name)
    _git(repo, "commit", "-q", "-m", name)


def test_the_state_changes_with_a_commit_a_staged_file_and_a_checkout(repo: Path) -> None:
    """The same repository gives the same state until something changes its git files;
    a subdirectory gives its repository's."""
    state = repository_state(repo)
    assert state is not None
    assert repository_state(repo) == state
    (repo / "sub").mkdir()
    assert repository_state(repo / "sub") == state
    (repo / "b.py").write_text("b = 2\n")
    _git(repo, "add", "b.py")
    staged = repository_state(repo)
    assert staged != state
    _git(repo, "commit", "-q", "-m", "two")
    committed = repository_state(repo)
    assert committed not in (state, staged)
    _git(repo, "checkout", "-q", "--detach", "HEAD~1")
    assert repository_state(repo) not in (state, staged, committed)


def test_a_linked_worktree_has_a_state_of_its_own(repo: Path, tmp_path: Path) -> None:
    """A worktree (its ``.git`` a file naming its git directory) has its own HEAD and
    index, and sees the branch refs of the repository it belongs to."""
    linked = tmp_path / "linked"
    _git(repo, "worktree", "add", "-q", "-b", "side", str(linked))
    state = repository_state(linked)
    assert state is not None and state.startswith("ref: refs/heads/side")
    assert state != repository_state(repo)
    _commit(linked, "c.py")
    assert repository_state(linked) != state


def test_there_is_no_state_where_there_is_no_repository(tmp_path: Path) -> None:
    assert repository_state(tmp_path / "missing") is None
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / ".git").write_text("not a pointer to a git directory\n")
    assert repository_state(plain) is None


def test_a_hint_holds_for_its_repository_and_scope_until_the_repository_changes(
    repo: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    hints = IndexHints(data, ["db", "default", ""], str(repo))
    assert not hints.unchanged()  # nothing kept yet
    hints.remember()
    assert IndexHints(data, ["db", "default", ""], str(repo)).unchanged()
    assert not IndexHints(data, ["other db", "default", ""], str(repo)).unchanged()
    assert not IndexHints(data, ["db", "default", "project"], str(repo)).unchanged()
    _commit(repo, "b.py")
    assert not IndexHints(data, ["db", "default", ""], str(repo)).unchanged()


def test_the_file_keeps_digests_only_and_the_latest_repositories(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What tells one database from another (a URL with its password) is kept only as a
    digest; the file holds the KEPT repositories indexed last."""
    data = tmp_path / "data"
    secret = "postgresql://u:hunter2@db/x"
    IndexHints(data, [secret, "default", ""], str(repo)).remember()
    text = (data / HINTS_FILE).read_text()
    assert "hunter2" not in text and str(repo) not in text
    monkeypatch.setattr("adapters.cli.index_hints.KEPT", 3)
    for n in range(5):
        IndexHints(data, [f"db {n}", "default", ""], str(repo)).remember()
    kept = json.loads((data / HINTS_FILE).read_text())
    assert len(kept) == 3
    assert IndexHints(data, ["db 4", "default", ""], str(repo)).unchanged()
    assert not IndexHints(data, ["db 1", "default", ""], str(repo)).unchanged()


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"key": 3}', "\udcff"])
def test_a_broken_hints_file_is_no_hint_and_is_written_again(
    repo: Path, tmp_path: Path, content: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / HINTS_FILE).write_bytes(content.encode("utf-8", "surrogateescape"))
    hints = IndexHints(data, ["db"], str(repo))
    assert not hints.unchanged()
    hints.remember()
    assert IndexHints(data, ["db"], str(repo)).unchanged()


def test_a_data_directory_that_cannot_be_written_keeps_no_hint(repo: Path, tmp_path: Path) -> None:
    """Nothing raises and nothing is kept, whether the data directory cannot be made (a
    file in its place) or the hints file cannot be replaced (a directory in its place):
    no temporary file is left behind."""
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a directory")
    hints = IndexHints(blocked / "data", ["db"], str(repo))
    hints.remember()
    assert not hints.unchanged()
    data = tmp_path / "data"
    (data / HINTS_FILE).mkdir(parents=True)
    hints = IndexHints(data, ["db"], str(repo))
    hints.remember()
    assert not hints.unchanged()
    assert [p.name for p in data.iterdir()] == [HINTS_FILE]


# --------------------------------------------------------------------------- the command


def _report(**changes: Any) -> IndexReport:
    values: dict[str, Any] = dict(
        organization_slug="default", project_slug="repo", project_id="p", repository_id="r",
        commit=None, files=1, lines=2,
    )  # fmt: skip
    return IndexReport(**{**values, **changes})


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Path, bool], list[str]]:
    """Run ``codeant index REPO`` on two cores with the postgres settings (the job itself
    replaced, on in-memory adapters): what happened in order, "start" for the fork
    server's start, "run" for the job; the job fails when asked to."""
    config = tmp_path / "empty.toml"
    config.write_text("")
    environ = {
        "HOME": str(tmp_path), "CODEANT_CONFIG": str(config),
        "CODEANT_DATA_DIR": str(tmp_path / "data"),
        "CODEANT_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    }  # fmt: skip

    def in_memory(settings: Settings) -> Container:
        memory = attrs.evolve(
            settings, backend="memory", database_url=None, vector_backend="memory"
        )
        return build_container(memory)

    def run(repo: Path, fail: bool = False) -> list[str]:
        happened: list[str] = []

        async def index_repository(*args: Any, **kwargs: Any) -> IndexReport:
            happened.append("run")
            if fail:
                raise OSError("the disk went away")
            return _report()

        monkeypatch.setattr(index_command, "_start_workers", lambda: happened.append("start"))
        monkeypatch.setattr(application.indexing, "index_repository", index_repository)
        monkeypatch.setattr(os, "cpu_count", lambda: 2)
        status = main(["index", str(repo), "--json"], environ=environ, container_factory=in_memory)
        assert status == (1 if fail else 0)
        return happened

    return run


def test_the_command_starts_the_server_at_once_unless_the_repository_is_as_last_indexed(
    repo: Path, runs: Callable[..., list[str]]
) -> None:
    """First run: at once. Unchanged since a run that ended well: not before the job
    (which starts it itself when it analyses). A failed run keeps no hint."""
    assert runs(repo) == ["start", "run"]
    assert runs(repo) == ["run"]
    _commit(repo, "b.py")
    assert runs(repo, fail=True) == ["start", "run"]
    assert runs(repo) == ["start", "run"]
    assert runs(repo) == ["run"]
