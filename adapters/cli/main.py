"""``codeant``: the entry point, its global options and the ``config`` and ``health``
commands.

``main`` parses the command line, resolves the settings (environment over config file over
defaults), runs the chosen command and returns its exit status. Whatever goes wrong ends in
one line on stderr, with any password masked: a bad command line or bad configuration
returns :data:`~adapters.cli.EXIT_USAGE`, a failure :data:`~adapters.cli.EXIT_FAILURE`.

Building the parser imports the command modules only, which import no adapter at the top:
``codeant --help`` loads no driver, and each command loads what it uses when it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from adapters.cli import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Command,
    CommandFailed,
    Context,
    UsageError,
    seconds,
)
from adapters.cli.audit import AUDIT
from adapters.cli.backup import BACKUP
from adapters.cli.db import DB
from adapters.cli.explore import PROJECTS, REPORT, SEARCH, SIMILAR
from adapters.cli.gates import GATES, NEW_CODE
from adapters.cli.index import INDEX
from adapters.cli.issues import GATE, HOUSEKEEPING, ISSUE, ISSUES
from adapters.cli.jobs import JOBS
from adapters.cli.logs import Redactor, cli_logging
from adapters.cli.outbox import OUTBOX
from adapters.cli.output import one_line
from adapters.cli.server import SERVER, open_embedded_database
from adapters.cli.vectors import VECTORS
from adapters.config import ConfigError, Settings, env_var
from domain.errors import DomainError
from ports.errors import PersistenceError
from ports.health import HealthCheck, HealthReport, HealthStatus

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

    from adapters.container import Container

__all__ = ["COMMANDS", "main"]

PROG = "codeant"
DISTRIBUTION = "codeant-persistence"


class _Exit(Exception):
    """Raised by the parser instead of exiting the process."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports a usage error as one line and never exits, and
    records in the namespace the name of the (sub)command that was parsed last, for the
    errors its command raises later."""

    def error(self, message: str) -> NoReturn:
        _usage_error(self.prog, message)
        raise _Exit(EXIT_USAGE)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            print(message, end="", file=sys.stderr)
        raise _Exit(status)

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        # argparse drops an OSError here; a reader that went away must end in exit 141
        if message:
            (file or sys.stderr).write(message)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if not hasattr(parsed, "command_prog"):  # the innermost subcommand sets it first
            parsed.command_prog = self.prog
        return parsed, extras


def _usage_error(prog: str, message: str) -> None:
    print(f"{prog}: error: {one_line(message)} (see '{prog} --help')", file=sys.stderr)


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
        details = one_line(r.error or ", ".join(f"{k}={v}" for k, v in r.details.items()))
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
    JOBS,
    SEARCH,
    SIMILAR,
    REPORT,
    ISSUES,
    ISSUE,
    GATE,
    GATES,
    NEW_CODE,
    PROJECTS,
    HEALTH,
    DB,
    SERVER,
    OUTBOX,
    BACKUP,
    HOUSEKEEPING,
    VECTORS,
    AUDIT,
    CONFIG,
)
"""Every subcommand, in the order ``--help`` lists them."""


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


class _Version(argparse.Action):
    """``--version``: prints the version, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.update(nargs=0, default=argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(f"{PROG} {_version()}")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="CodeAnt persistence: the storage layer of the CodeAnt platform.",
        epilog="Exit status: 0 success, 1 failure (bad input, a server down; health: a "
        "component is unhealthy), 2 bad usage or configuration, 130 interrupted, 141 "
        "output closed early (a pipe such as '| head'). Errors are one line on stderr.",
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
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
    container_factory: Callable[[Settings], Container] | None = None,
) -> int:
    """Run ``codeant`` with ``argv`` (default: the process arguments) and return the exit
    status. ``environ`` (default: the process environment) supplies the settings;
    ``container_factory`` (default: :func:`adapters.container.build_container`) builds the
    container from them."""
    redact = Redactor()
    prog = PROG
    debug = False
    try:
        try:
            args = _parser().parse_args(argv)
        except _Exit as exc:
            sys.stdout.flush()  # --help, --version: a reader that went away shows here
            return exc.status
        prog = args.command_prog
        settings = Settings.from_env(
            os.environ if environ is None else environ, config_file=args.config
        )
        redact = Redactor.for_settings(settings)
        debug = settings.log_level == "DEBUG"
        with cli_logging(settings.log_level, redact):
            context = Context(settings=settings)
            if container_factory is not None:
                context.container_factory = container_factory
            status = asyncio.run(_run(args.run_command, args, context))
        sys.stdout.flush()  # a reader that went away is reported here, not at exit
        return status
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UsageError as exc:
        _usage_error(prog, redact(str(exc)))
        return EXIT_USAGE
    except ConfigError as exc:
        _error(redact(str(exc)))
        return EXIT_USAGE
    except (DomainError, PersistenceError, CommandFailed) as exc:
        # bad input (a path that is no repository, an unknown project), a server that is
        # down, or a command that could not finish: one line, not a traceback
        _error(redact(str(exc)))
        return EXIT_FAILURE
    except OSError as exc:
        _error(redact(_os_error(exc)))
        return EXIT_FAILURE
    except Exception as exc:
        message = f"unexpected {type(exc).__name__}: {exc}"
        if debug:
            print(redact(traceback.format_exc()), end="", file=sys.stderr)
        else:
            message += f" (set {env_var('log_level')}=DEBUG for the traceback)"
        _error(redact(message))
        return EXIT_FAILURE


def _error(message: str) -> None:
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr)


def _os_error(exc: OSError) -> str:
    """An OSError as a sentence: what failed, on which file."""
    reason = exc.strerror or str(exc)
    names = [str(name) for name in (exc.filename, exc.filename2) if name is not None]
    return f"{reason}: {' -> '.join(names)}" if names else reason


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush of the output the
    reader no longer wants does not fail again at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file behind sys.stdout
        pass


if __name__ == "__main__":
    sys.exit(main())
