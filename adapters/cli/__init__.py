"""The ``codeant`` command line.

Each subcommand is a :class:`Command`: its name, its help line, a function that adds its
arguments to its parser, and a coroutine that runs it with the parsed arguments and a
:class:`Context` and returns the exit status. Every subcommand is listed in
:data:`adapters.cli.main.COMMANDS`; the basic ``config`` and ``health`` are defined beside
the entry point, and each further one lives in a module of its own under ``adapters/cli/``
that exposes its Command.

Building the parser must stay cheap (``codeant --help`` answers at once), so a command's
module imports only what its arguments need at the top: the services, adapters and drivers
it runs with are imported inside its ``run`` coroutine, and the container is built (and
its module imported) only when a command first asks :attr:`Context.container`. Adding a
command is one such module and one entry in ``COMMANDS``; a test checks that ``--help`` of
every listed command still imports no adapter, driver or service.

Exit statuses: :data:`EXIT_OK` on success, :data:`EXIT_FAILURE` when the command ran and
found a failure, :data:`EXIT_USAGE` for a bad command line or bad configuration,
:data:`EXIT_INTERRUPTED` on Ctrl-C, :data:`EXIT_BROKEN_PIPE` when the reader of the output
went away. A command that cannot go on raises :class:`UsageError` (exit 2) or
:class:`CommandFailed` (exit 1) with a one-line message; the entry point prints it.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import attrs

from adapters.config import ConfigError, Settings, env_var

if TYPE_CHECKING:
    from adapters.container import Container

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "Command",
    "CommandFailed",
    "Context",
    "UsageError",
    "require_postgres",
    "seconds",
    "text",
    "whole_number",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
"""128 + SIGINT, as a shell reports a program stopped by Ctrl-C."""
EXIT_BROKEN_PIPE = 141
EXIT_TERMINATED = 143
"""A run that SIGTERM stopped (``codeant index`` cancels its job first)."""
"""128 + SIGPIPE, as a shell reports a program whose reader went away (``| head``)."""


class UsageError(Exception):
    """The command line asks for something that cannot be done as given (or not with the
    configured backend); the message says what to give instead. Exit status 2."""


class CommandFailed(Exception):
    """The command ran and could not do what was asked; the message says why. Exit
    status 1."""


def seconds(text: str) -> float:
    """Argument type: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0 (got {text!r})")
    return value


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """Argument type: a whole number from ``low`` (to ``high``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"of {low} or more"
            raise argparse.ArgumentTypeError(f"must be a whole number {bound} (got {text!r})")
        return value

    return parse


def text(value: str) -> str:
    """Argument type: text that is not empty or blank."""
    if not value.strip():
        raise argparse.ArgumentTypeError(f"must not be empty (got {value!r})")
    return value


def require_postgres(settings: Settings, command: str, reason: str) -> None:
    """Raise ConfigError (exit 2) unless the settings select the postgres backend, which
    ``command`` needs for ``reason``."""
    if settings.backend != "postgres":
        raise ConfigError(
            env_var("backend"), settings.backend, f"{command} needs the postgres backend; {reason}"
        )


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A command that takes no arguments adds none."""


def _build_container(settings: Settings) -> Container:
    """The container of ``settings``; its module (and every adapter) is imported here,
    when a command first needs it. Without a configured actor, the audit trail records
    the command's changes as ``cli:<login name>``."""
    from adapters.container import build_container

    if settings.actor is None:
        settings = attrs.evolve(settings, actor=f"cli:{login_name()}")
    return build_container(settings)


def login_name() -> str:
    """The user running the command, as the operating system knows them."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name, no password entry for the uid
        import os

        return str(os.getuid())


@attrs.define(kw_only=True)
class Context:
    """What a command runs with: the resolved settings and the container, built from them
    on first use (so a command that needs no adapter works whatever they select, and
    imports none)."""

    settings: Settings
    container_factory: Callable[[Settings], Container] = _build_container
    _container: Container | None = attrs.field(default=None, init=False)

    @property
    def container(self) -> Container:
        """The container; raises ConfigError if the settings select a missing adapter."""
        if self._container is None:
            self._container = self.container_factory(self.settings)
        return self._container

    async def close(self) -> None:
        """Release the container's resources (pools, servers), if it was built."""
        if self._container is not None:
            from adapters.container import close

            await close(self._container)


@attrs.frozen(kw_only=True)
class Command:
    """A subcommand of ``codeant``."""

    name: str
    help: str
    run: Callable[[argparse.Namespace, Context], Awaitable[int]]
    add_arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
