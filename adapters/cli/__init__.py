"""The ``codeant`` command line.

Each subcommand is a :class:`Command`: its name, its help line, a function that adds its
arguments to its parser, and a coroutine that runs it with the parsed arguments and a
:class:`Context` and returns the exit status. Every subcommand is listed in
:data:`adapters.cli.main.COMMANDS`; the basic ``config`` and ``health`` are defined beside
the entry point, and each further one lives in a module of its own under ``adapters/cli/``
that exposes its Command.

Exit statuses: :data:`EXIT_OK` on success, :data:`EXIT_FAILURE` when the command ran and
found a failure, :data:`EXIT_USAGE` for a bad command line or bad configuration.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

import attrs

from adapters.config import Settings
from adapters.container import Container
from adapters.container import close as close_container

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "Command",
    "Context",
    "seconds",
    "whole_number",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def seconds(text: str) -> float:
    """Argument type: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
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


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A command that takes no arguments adds none."""


@attrs.define(kw_only=True)
class Context:
    """What a command runs with: the resolved settings and the container, built from them
    on first use (so a command that needs no adapter works whatever they select)."""

    settings: Settings
    container_factory: Callable[[Settings], Container]
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
            await close_container(self._container)


@attrs.frozen(kw_only=True)
class Command:
    """A subcommand of ``codeant``."""

    name: str
    help: str
    run: Callable[[argparse.Namespace, Context], Awaitable[int]]
    add_arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
