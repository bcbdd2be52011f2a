"""``codeant``: the entry point, its global options and the ``config`` and ``health``
commands.

``main`` parses the command line, resolves the settings (environment over config file over
defaults), runs the chosen command and returns its exit status. A bad command line or bad
configuration prints one line to stderr and returns :data:`~adapters.cli.EXIT_USAGE`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

from adapters.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Command, Context, seconds
from adapters.cli.backup import BACKUP
from adapters.cli.db import DB
from adapters.cli.explore import PROJECTS, REPORT, SEARCH, SIMILAR
from adapters.cli.index import INDEX
from adapters.cli.outbox import OUTBOX
from adapters.cli.server import SERVER, open_embedded_database
from adapters.cli.vectors import VECTORS
from adapters.config import ConfigError, Settings, env_var
from adapters.container import Container, build_container
from domain.errors import DomainError
from ports.errors import PersistenceError
from ports.health import HealthCheck, HealthReport, HealthStatus

__all__ = ["COMMANDS", "main"]

PROG = "codeant"
EXIT_INTERRUPTED = 130
DISTRIBUTION = "codeant-persistence"


class _Exit(Exception):
    """Raised by the parser instead of exiting the process."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports a usage error as one line and never exits."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise _Exit(EXIT_USAGE)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            print(message, end="", file=sys.stderr)
        raise _Exit(status)


# config ------------------------------------------------------------------------------------


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON object")


async def _run_config(args: argparse.Namespace, context: Context) -> int:
    values = context.settings.as_dict()
    if args.json:
        print(json.dumps(values, indent=2))
        return EXIT_OK
    width = max(len(name) for name in values)
    for name, value in values.items():
        shown = "(unset)" if value is None else value
        print(f"{name:<{width}}  {shown!s:<40}  {env_var(name)}")
    return EXIT_OK


CONFIG = Command(
    name="config",
    help="print the resolved settings (passwords masked)",
    run=_run_config,
    add_arguments=_config_arguments,
)


# health ------------------------------------------------------------------------------------


def _health_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=10.0,
        metavar="SECONDS",
        help="report a component that has not answered by then as unhealthy (default: 10)",
    )


async def _probe(check: HealthCheck, seconds: float) -> HealthReport:
    """The check's report, or an UNHEALTHY one if it has not answered within ``seconds``."""
    try:
        return await asyncio.wait_for(check.check(), seconds)
    except TimeoutError:
        return HealthReport(
            component=check.name,
            status=HealthStatus.UNHEALTHY,
            latency_ms=seconds * 1000,
            error=f"no answer within {seconds:g} s",
        )


def _overall(reports: Sequence[HealthReport]) -> HealthStatus:
    return max((r.status for r in reports), key=lambda s: s.rank, default=HealthStatus.HEALTHY)


def _report_json(report: HealthReport) -> dict[str, Any]:
    return {
        "component": report.component,
        "status": str(report.status),
        "latency_ms": round(report.latency_ms, 3),
        "details": dict(report.details),
        "error": report.error,
    }


def _print_table(reports: Sequence[HealthReport], overall: HealthStatus) -> None:
    rows = [("COMPONENT", "STATUS", "LATENCY", "DETAILS")]
    for r in reports:
        details = r.error or ", ".join(f"{k}={v}" for k, v in r.details.items())
        rows.append((r.component, str(r.status), f"{r.latency_ms:.1f} ms", details))
    widths = [max(len(row[i]) for row in rows) for i in range(3)] + [0]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"overall: {overall}")


async def _run_health(args: argparse.Namespace, context: Context) -> int:
    checks: list[HealthCheck] = context.container.health_checks()
    # the embedded server starts (and migrates) before the timed probes: not a failure
    failed = await open_embedded_database(context)
    # one after the other: the first to touch the database opens it, and that must not
    # count in another component's latency
    reports = [
        failed if failed and check.name == failed.component else await _probe(check, args.timeout)
        for check in checks
    ]
    overall = _overall(reports)
    if args.json:
        body = {"status": str(overall), "checks": [_report_json(r) for r in reports]}
        print(json.dumps(body, indent=2, default=str))
    else:
        _print_table(reports, overall)
    return EXIT_FAILURE if overall is HealthStatus.UNHEALTHY else EXIT_OK


HEALTH = Command(
    name="health",
    help="probe every configured component; exit 1 if one is unhealthy, else 0",
    run=_run_health,
    add_arguments=_health_arguments,
)


# entry point -------------------------------------------------------------------------------

COMMANDS: tuple[Command, ...] = (
    INDEX,
    SEARCH,
    SIMILAR,
    REPORT,
    PROJECTS,
    HEALTH,
    DB,
    SERVER,
    OUTBOX,
    BACKUP,
    VECTORS,
    CONFIG,
)
"""Every subcommand, in the order ``--help`` lists them."""


def _version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="CodeAnt persistence: the storage layer of the CodeAnt platform.",
        epilog="Exit status: 0 success, 1 failure (bad input, a server down; health: a "
        "component is unhealthy), 2 bad usage or configuration, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="TOML settings file (default: $CODEANT_CONFIG, else ./codeant.toml if present)",
    )
    subparsers = parser.add_subparsers(dest="command_name", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(run_command=command)
    return parser


async def _run(command: Command, args: argparse.Namespace, context: Context) -> int:
    try:
        return await command.run(args, context)
    finally:
        await context.close()


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    container_factory: Callable[[Settings], Container] = build_container,
) -> int:
    """Run ``codeant`` with ``argv`` (default: the process arguments) and return the exit
    status. ``environ`` (default: the process environment) supplies the settings;
    ``container_factory`` builds the container from them."""
    try:
        args = _parser().parse_args(argv)
    except _Exit as exc:
        return exc.status
    try:
        settings = Settings.from_env(
            os.environ if environ is None else environ, config_file=args.config
        )
        logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
        context = Context(settings=settings, container_factory=container_factory)
        return asyncio.run(_run(args.run_command, args, context))
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (DomainError, PersistenceError) as exc:
        # bad input (a path that is no repository, an unknown project) or a store that
        # is down: one line, not a traceback
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
