"""The command line's contract, kept by every subcommand, run as a real process: a bad
command line or configuration exits 2, a failure exits 1, and either way stderr holds one
line naming the program and what is wrong (no traceback), stdout nothing, and no output a
password.

Three settings: the in-process backend (what the parser and the settings refuse), a
database server that is down (its URL carrying a password), and a scratch database on the
session's server (what the commands themselves refuse). The commands of a setting run a few
at a time, once for the module; each case is then checked by a test of its own.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs
import pytest

from tests.e2e.cli import COMMAND_TIMEOUT, PROJECT_ROOT, Cli, cli_for

PASSWORD = "Pw-9dQk-s3cret"
DOWN_URL = f"postgresql://codeant:{PASSWORD}@127.0.0.1:1/codeant"
"""A server that refuses connections (nothing listens on port 1), with a password."""


@attrs.frozen
class Case:
    """``codeant ARGV`` and what it must do: exit ``status`` with one stderr line that
    contains ``says``."""

    argv: tuple[str, ...]
    status: int
    says: str
    env: dict[str, str] = attrs.field(factory=dict)

    @property
    def id(self) -> str:
        words = [f"{k}={shlex.quote(v)}" for k, v in self.env.items()]
        words += [shlex.quote(arg) for arg in self.argv]
        return " ".join(words) or "(nothing)"


def case(*argv: str, status: int, says: str, **env: str) -> Case:
    return Case(argv=argv, status=status, says=says, env=env)


def _run(argv: tuple[str, ...], env: dict[str, str], cwd: Path) -> Done:
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli.main", *argv],
        cwd=cwd, env=env, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT, check=False,
    )  # fmt: skip


Done = subprocess.CompletedProcess[str]


def run_all(cases: Sequence[Case], run: Callable[[Case], Done]) -> dict[str, Done]:
    """The outcome of every case, run a few at a time (they mostly wait on imports and on
    the server, so the module's run takes a fraction of the sum)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip((c.id for c in cases), pool.map(run, cases), strict=True))


def check(done: Done, expected: Case) -> None:
    """The contract: the exit status, nothing on stdout, one line on stderr naming the
    program and saying what is wrong, no traceback, no password."""
    shown = f"codeant {expected.id}\nstdout: {done.stdout!r}\nstderr: {done.stderr!r}"
    assert done.returncode == expected.status, shown
    assert done.stdout == "", shown
    lines = done.stderr.splitlines()
    assert len(lines) == 1, shown
    [line] = lines
    assert line.startswith("codeant") and ": error: " in line, shown
    assert expected.says in line, shown
    assert PASSWORD not in done.stdout + done.stderr, shown


def _environment(home: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without its CODEANT_* variables, a home and data
    directory of its own and an empty configuration file, plus ``extra``."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "empty.toml"
    config.write_text("")
    env = {key: value for key, value in os.environ.items() if not key.startswith("CODEANT_")}
    env |= {
        "HOME": str(home),
        "CODEANT_CONFIG": str(config),
        "CODEANT_DATA_DIR": str(home / "data"),
    }
    return env | extra


# ------------------------------------------------------------------ bad usage: exit 2

USAGE = [
    case(status=2, says="the following arguments are required: COMMAND"),
    case("frobnicate", status=2, says="invalid choice: 'frobnicate'"),
    case("index", status=2, says="the following arguments are required: path"),
    case("index", "", status=2, says="argument path: must not be empty"),
    case("index", ".", "--project", " ", status=2, says="argument --project: must not be empty"),
    case(
        "index",
        ".",
        "--project",
        "!!!",
        status=2,
        says="argument --project: must contain a letter or digit (a-z, 0-9) to make a slug of"
        " (got '!!!')",
    ),
    case("search", " ", status=2, says="argument text: must not be empty (got ' ')"),
    case("search", "x", "--limit", "0", status=2, says="must be a whole number from 1 to 1000"),
    case("similar", status=2, says="the following arguments are required: FILE[:FUNCTION]"),
    case("report", "--days", "0", status=2, says="must be a whole number from 1 to 1000"),
    case("projects", "--organization", "", status=2, says="must not be empty"),
    case("gates", "create", "g", "--condition", "bugs > 0", status=2, says="metric 'bugs'"),
    case("new-code", "p", "weekly", status=2, says="argument PERIOD: must be previous-analysis"),
    case("health", "--timeout", "nan", status=2, says="must be a number of seconds above 0"),
    case("db", status=2, says="the following arguments are required: ACTION"),
    case("db", "upgrade", "--to", "-1", status=2, says="must be a whole number of 0 or more"),
    case("db", "downgrade", "--to", "1", "--all", status=2, says="not allowed with argument"),
    case("db", "status", status=2, says="codeant db needs the postgres backend"),
    case("outbox", "relay", "--interval", "0", status=2, says="must be a number of seconds"),
    case("outbox", "relay", "--batch-size", "0", status=2, says="must be a whole number"),
    case("backup", "frobnicate", status=2, says="invalid choice: 'frobnicate'"),
    case(
        "backup",
        "prune",
        "--keep-daily",
        "0",
        "--keep-weekly",
        "0",
        status=2,
        says="both 0: that would delete every backup",
    ),
    case("backup", "prune", "--keep-daily", "-1", status=2, says="must be a whole number of 0"),
    case("backup", "restore", "b1", status=2, says="give either --to-database DB"),
    case(
        "backup",
        "restore",
        "b1",
        "--to-database",
        "x",
        "--to-time",
        "2025-01-01T00:00:00+00:00",
        status=2,
        says="give either --to-database DB",
    ),
    case(
        "backup",
        "restore",
        "b1",
        "--to-time",
        "2025-01-01T00:00:00",
        status=2,
        says="must name its time zone",
    ),
    case("backup", "list", status=2, says="codeant backup needs the postgres backend"),
    case("vectors", status=2, says="the following arguments are required: ACTION"),
    case("vectors", "snapshot", status=2, says="snapshots are taken by a Qdrant server"),
    case("config", "--yaml", status=2, says="unrecognized arguments: --yaml"),
    case("config", status=2, says="CODEANT_POOL_TIMEOUT", CODEANT_POOL_TIMEOUT="forever"),
    case(
        "config",
        status=2,
        says="CODEANT_DATABASE_URL: must be a URL",
        CODEANT_DATABASE_URL=f"mysql://root:{PASSWORD}@db/x",
    ),
]


@pytest.fixture(scope="module")
def usage_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Done]:
    home = tmp_path_factory.mktemp("usage")

    def run(one: Case) -> Done:
        env = _environment(home, CODEANT_BACKEND="memory", **one.env)
        return _run(one.argv, env, PROJECT_ROOT)

    return run_all(USAGE, run)


@pytest.mark.parametrize("expected", USAGE, ids=lambda c: c.id)
def test_a_bad_command_line_or_configuration_exits_2(
    expected: Case, usage_outcomes: dict[str, Done]
) -> None:
    """Each subcommand refuses a bad command line, and the settings a bad value, with
    one line on stderr and exit 2, before anything is opened."""
    check(usage_outcomes[expected.id], expected)


# ------------------------------------------------------------------ a server that is down

DOWN = [
    case("index", str(PROJECT_ROOT), status=1, says="cannot connect to the database"),
    case("search", "retry", status=1, says="cannot connect to the database"),
    case("similar", str(PROJECT_ROOT / "README.md"), status=1, says="cannot connect"),
    case("report", status=1, says="cannot connect to the database"),
    case("projects", status=1, says="Connection refused; Is the server running"),
    case("db", "status", status=1, says="cannot connect to the database"),
    case("db", "upgrade", status=1, says="cannot connect to the database"),
    case("outbox", "status", status=1, says="cannot connect to the database"),
    case("outbox", "relay", status=1, says="cannot connect to the database"),
    case("backup", "create", status=1, says="cannot connect to the database"),
    case("vectors", "status", status=1, says="cannot connect to the database"),
    case("vectors", "rebuild", status=1, says="cannot connect to the database"),
    case("server", "stop", status=2, says="no embedded server: the database is configured"),
]


@pytest.fixture(scope="module")
def down_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Done]:
    env = _environment(
        tmp_path_factory.mktemp("down"), CODEANT_DATABASE_URL=DOWN_URL, CODEANT_POOL_TIMEOUT="1"
    )
    return run_all(DOWN, lambda one: _run(one.argv, env, PROJECT_ROOT))


@pytest.mark.parametrize("expected", DOWN, ids=lambda c: c.id)
def test_a_server_that_is_down_is_one_line_without_the_password(
    expected: Case, down_outcomes: dict[str, Done]
) -> None:
    """With the database server down, every command that needs it says so in one line
    (libpq's hint joined to it), exits 1 and shows no password."""
    check(down_outcomes[expected.id], expected)


def test_health_reports_a_server_that_is_down_without_the_password(tmp_path: Path) -> None:
    """health reports the database unhealthy in its table, one row per component,
    exits 1, and shows no password."""
    env = _environment(tmp_path / "home", CODEANT_DATABASE_URL=DOWN_URL, CODEANT_POOL_TIMEOUT="1")
    done = _run(("health",), env, PROJECT_ROOT)
    assert done.returncode == 1, done
    rows = [line.split()[:2] for line in done.stdout.splitlines()]
    # one row per component: libpq's hint stays on the database's row
    assert rows == [
        ["COMPONENT", "STATUS"],
        ["database", "unhealthy"],
        ["cache", "healthy"],
        ["vector_store", "unhealthy"],
        ["overall:", "unhealthy"],
    ], done.stdout
    assert "Is the server running" in done.stdout
    assert "Traceback" not in done.stderr
    assert PASSWORD not in done.stdout + done.stderr


def test_config_shows_no_password(tmp_path: Path) -> None:
    """config masks the password of every configured URL."""
    env = _environment(tmp_path / "home", CODEANT_DATABASE_URL=DOWN_URL)
    done = _run(("config",), env, PROJECT_ROOT)
    assert done.returncode == 0, done
    assert "postgresql://codeant:***@127.0.0.1:1/codeant" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr


# ------------------------------------------------------------------ what the commands refuse


@pytest.fixture(scope="module")
def scratch(postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """``codeant`` on a scratch database (migrated by the first command), for the
    module."""
    with cli_for(postgres_server_url, tmp_path_factory.mktemp("contract")) as cli:
        yield cli


REFUSED = [
    case("index", "/nonexistent/repository", status=1, says="root: does not exist"),
    case("report", status=1, says="no project has been indexed yet; index one with"),
    case("report", "nope", status=1, says="project not found: nope"),
    case("search", "retry", "--project", "nope", status=1, says="project not found: nope"),
    case("search", "retry", "--organization", "nope", status=1, says="organization not found"),
    case("projects", "--organization", "nope", status=1, says="organization not found: nope"),
    case("similar", "/nonexistent/x.py", status=1, says="not found: /nonexistent/x.py"),
    case("db", "upgrade", "--to", "99", status=1, says="no migration has version 99"),
    case("db", "downgrade", "--to", "99", status=1, says="no migration has version 99"),
    case("backup", "verify", "nope", status=1, says="no backups in"),
    case("backup", "restore", "nope", "--to-database", "x", status=1, says="no backups in"),
    case(
        "backup",
        "create",
        "--encrypt-key-file",
        "/nonexistent/key",
        status=1,
        says="cannot read the key file /nonexistent/key",
    ),
    case("backup", "archive", status=2, says="for the embedded server only"),
    case("vectors", "rebuild", "--project", "nope", status=1, says="project not found: nope"),
]


@pytest.fixture(scope="module")
def refused_outcomes(scratch: Cli) -> dict[str, Done]:
    scratch.run("db", "upgrade")  # one migration run before the others start
    return run_all(REFUSED, lambda one: scratch.run(*one.argv))


@pytest.mark.parametrize("expected", REFUSED, ids=lambda c: c.id)
def test_what_a_command_refuses_is_one_line(
    expected: Case, refused_outcomes: dict[str, Done]
) -> None:
    """On a working database, what a command cannot do (an unknown project, version or
    backup, a missing file) is one line on stderr and exit 1 (2 for a request the
    configured server cannot serve)."""
    check(refused_outcomes[expected.id], expected)


def test_vectors_snapshot_of_a_store_without_snapshots_is_a_usage_error(scratch: Cli) -> None:
    """Snapshots are for a Qdrant server: another vector store refuses with exit 2."""
    expected = case("vectors", "snapshot", status=2, says="snapshots are taken by a Qdrant server")
    check(scratch.run(*expected.argv), expected)


def test_index_of_a_directory_outside_git_is_one_line(scratch: Cli, tmp_path: Path) -> None:
    """A directory that is no git repository is refused in one line, exit 1."""
    plain = tmp_path / "plain"
    plain.mkdir()
    expected = case("index", str(plain), status=1, says="is not a git repository")
    check(scratch.run(*expected.argv), expected)


def test_index_of_a_directory_whose_name_makes_no_slug_is_a_usage_error(
    scratch: Cli, tmp_path: Path
) -> None:
    """A repository whose directory name has no letter or digit, indexed without
    --project, is refused in one line, exit 2, before any project is made of it."""
    repository = tmp_path / "!!!"
    repository.mkdir()
    subprocess.run(["git", "init", "--quiet", str(repository)], check=True)
    expected = case(
        "index",
        str(repository),
        status=2,
        says="the repository's directory name '!!!' has no letter or digit to make a project"
        " slug of: name the project with --project",
    )
    check(scratch.run(*expected.argv), expected)
    assert scratch.value("SELECT count(*) AS n FROM projects") == 0


def _repository(root: Path, origin: str, files: int) -> Path:
    """A git repository at ``root`` with ``origin`` and one commit of ``files`` files."""
    root.mkdir(parents=True)
    git = ["git", "-C", str(root), "-c", "user.name=Ann", "-c", "user.email=ann@example.com"]
    subprocess.run([*git, "init", "--quiet"], check=True)
    subprocess.run([*git, "remote", "add", "origin", origin], check=True)
    for n in range(files):
        (root / f"module_{n}.py").write_text(f"VALUE = {n}\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "Modules"], check=True)
    return root


def test_a_second_repository_of_the_same_directory_name_is_refused_its_name(
    scratch: Cli, tmp_path: Path
) -> None:
    """Two repositories whose directories share a name are two projects: the second is
    refused the name in one line naming the first (exit 2, nothing of it stored), and
    indexes under a name of its own given with --project."""
    first = _repository(tmp_path / "a" / "svc", "https://git.example.com/a/svc.git", 3)
    second = _repository(tmp_path / "b" / "svc", "https://git.example.com/b/svc.git", 2)
    assert scratch.run("index", str(first)).returncode == 0
    expected = case(
        "index",
        str(second),
        status=2,
        says="project default/svc already holds another repository"
        " (https://git.example.com/a/svc.git): name this one with --project NAME",
    )
    check(scratch.run(*expected.argv), expected)
    assert scratch.run("index", str(second), "--project", "svc-b").returncode == 0
    projects = {
        p["slug"]: (p["files"], p["repository_url"])
        for p in scratch.rows(
            "SELECT p.slug, p.repository_url, count(f.id) AS files FROM projects p"
            " JOIN repositories r ON r.project_id = p.id JOIN file_index f"
            " ON f.repository_id = r.id WHERE p.slug LIKE 'svc%' GROUP BY p.slug, p.repository_url"
        )
    }
    assert projects == {
        "svc": (3, "https://git.example.com/a/svc.git"),
        "svc-b": (2, "https://git.example.com/b/svc.git"),
    }
