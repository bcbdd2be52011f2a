"""The README's sample session, run as written in a clone of this repository whose
directory has a name of its own: every documented command works in any clone."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import attrs
import pytest

from tests.e2e.cli import PROJECT_ROOT, cli_for
from tests.e2e.sample_repo import tracked_files

CLONE = "Another Clone"
"""The clone's directory: its project is ``default/another-clone``."""


def session() -> list[list[str]]:
    """The arguments of each ``$ codeant ...`` line of the README's sample session."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## A session", 1)[1].split("```console\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line)[1:] for line in re.findall(r"^\$ (codeant .*)$", block, re.M)]


def _clone_of_this_repository(clone: Path) -> None:
    """A git repository at ``clone`` with one commit of the files this one tracks."""
    for path, content in tracked_files(PROJECT_ROOT).items():
        (clone / path).parent.mkdir(parents=True, exist_ok=True)
        (clone / path).write_bytes(content)
    git = ["git", "-C", str(clone), "-c", "user.name=Ann", "-c", "user.email=ann@example.com"]
    subprocess.run([*git, "init", "--quiet", "--initial-branch", "trunk"], check=True)
    subprocess.run([*git, "add", "--all"], check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "Clone"], check=True)


def test_the_session_works_in_a_clone_of_any_name(postgres_server_url: str, tmp_path: Path) -> None:
    """Each command of the README's session exits 0 in a clone whose directory is not the
    one the README shows, and those that name the project name the clone's."""
    if not (PROJECT_ROOT / ".git").exists():
        pytest.skip("the tests do not run from a git work tree")
    commands = session()
    assert [c[0] for c in commands][:2] == ["index", "index"], commands
    clone = tmp_path / CLONE
    clone.mkdir()
    _clone_of_this_repository(clone)
    with cli_for(postgres_server_url, tmp_path / "cli") as cli:
        here = attrs.evolve(cli, workdir=clone)
        for argv in commands:
            done = here.run(*argv)
            shown = f"codeant {shlex.join(argv)}\nstdout: {done.stdout}\nstderr: {done.stderr}"
            assert done.returncode == 0, shown
            if argv[0] in ("index", "jobs"):
                assert "default/another-clone" in done.stdout, shown
            if argv[0] == "report":
                assert done.stdout.startswith("another-clone: "), shown
