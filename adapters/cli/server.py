"""``codeant server``: see, start and stop the embedded PostgreSQL.

With no database configured, commands share an embedded server in ``<data_dir>/postgres``
that stays up between them and stops once it has been idle (no codeant process, no client
connected) for ``CODEANT_EMBEDDED_IDLE_TIMEOUT`` seconds. ``status`` shows it, ``start``
starts it (it then stops after the idle time), ``stop`` stops it now unless a codeant
process is using it (``--wait`` waits for them to finish first).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.cli import EXIT_OK, Command, CommandFailed, Context, UsageError, seconds
from adapters.config import Settings, mask_url
from ports.errors import PersistenceError
from ports.health import HealthReport, HealthStatus

if TYPE_CHECKING:
    from adapters.postgres.embedded import EmbeddedStatus

__all__ = ["SERVER", "open_embedded_database", "reaching_embedded"]


def _arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="server_action", metavar="ACTION", required=True)
    status = actions.add_parser(
        "status",
        help="whether it runs: pid, data directory, URL, users, uptime, idle shutdown",
    )
    status.add_argument("--json", action="store_true", help="print a JSON object")
    actions.add_parser("start", help="start it now; it stops after the idle time")
    stop = actions.add_parser(
        "stop", help="stop it now, unless a codeant process is using it (exit 1 then)"
    )
    stop.add_argument(
        "--wait",
        type=seconds,
        default=0.0,
        metavar="SECONDS",
        help="wait up to SECONDS for the codeant processes using it to finish",
    )


def _not_embedded(settings: Settings) -> str | None:
    """Why there is no embedded server with these settings, if there is none."""
    if settings.backend != "postgres":
        return f"the {settings.backend} backend has no server"
    if settings.database_url is not None:
        return f"the database is configured: {mask_url(settings.database_url)}"
    return None


async def _run(args: argparse.Namespace, context: Context) -> int:
    settings = context.settings
    reason = _not_embedded(settings)
    action = args.server_action
    if reason is not None:
        if action == "status":
            if args.json:
                print(json.dumps({"embedded": False, "reason": reason}))
            else:
                print(f"no embedded server: {reason}")
            return EXIT_OK
        raise UsageError(f"no embedded server: {reason}")
    # here, not at import: the driver loads only for this command
    from adapters.postgres.embedded import embedded_directory, embedded_status, stop_embedded

    pgdata = embedded_directory(settings.data_dir)
    if action == "status":
        status = await asyncio.to_thread(embedded_status, pgdata)
        if args.json:
            print(json.dumps(_as_json(status), indent=2))
        else:
            _print_status(status)
        return EXIT_OK
    if action == "start":
        return await _start(context)
    outcome = await asyncio.to_thread(stop_embedded, pgdata, wait=args.wait)
    if outcome.stopped:
        print(f"stopped the embedded PostgreSQL in {pgdata}")
    elif not outcome.was_running:
        print(f"the embedded PostgreSQL in {pgdata} is not running")
    else:
        who = ", ".join(f"{u.pid} ({u.command})" for u in outcome.users)
        waited = f" after waiting {args.wait:g} s" if args.wait else ""
        raise CommandFailed(
            f"the embedded PostgreSQL was not stopped: in use by {len(outcome.users)} codeant"
            f" process{'es' if len(outcome.users) != 1 else ''}{waited}: {who};"
            " stop it once they finish, or use --wait SECONDS"
        )
    return EXIT_OK


async def _start(context: Context) -> int:
    from adapters.postgres.embedded import embedded_directory, embedded_status

    settings = context.settings
    await context.container.postgres_database().server_url()
    status = await asyncio.to_thread(embedded_status, embedded_directory(settings.data_dir))
    print(f"the embedded PostgreSQL runs in {status.data_directory} (pid {status.pid})")
    print(f"  url  {status.url}")
    if settings.embedded_idle_timeout == 0:
        print("  it stops when this command ends (CODEANT_EMBEDDED_IDLE_TIMEOUT is 0)")
    else:
        print(
            f"  it stops after {settings.embedded_idle_timeout} s with no codeant command and"
            " no client using it (CODEANT_EMBEDDED_IDLE_TIMEOUT), or on 'codeant server stop'"
        )
    return EXIT_OK


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def _as_json(status: EmbeddedStatus) -> dict[str, Any]:
    uptime = status.uptime
    return {
        "embedded": True,
        "running": status.running,
        "data_directory": str(status.data_directory),
        "pid": status.pid,
        "url": status.url,
        "socket_directory": _text(status.socket_directory),
        "started_at": _iso(status.started_at),
        "uptime_seconds": None if uptime is None else round(uptime, 1),
        "users": [
            {"pid": u.pid, "since": _iso(u.since), "command": u.command} for u in status.users
        ],
        "connections": status.connections,
        "supervisor_pid": status.supervisor_pid,
        "idle_timeout_seconds": status.idle_timeout,
        "idle_since": _iso(status.idle_since),
        "stops_at": _iso(status.stops_at),
    }


def _duration(value: float) -> str:
    whole = int(value)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _local(moment: dt.datetime | None) -> str:
    return "?" if moment is None else moment.astimezone().strftime("%H:%M:%S")


def _print_status(status: EmbeddedStatus) -> None:
    if not status.running:
        print(f"embedded PostgreSQL: not running (data directory {status.data_directory})")
        return
    users = "none"
    if status.users:
        users = "; ".join(f"{u.pid} {u.command} (since {_local(u.since)})" for u in status.users)
    if status.users or status.connections:
        idle = f"after {status.idle_timeout:g} s idle; in use now"
    elif status.stops_at is not None:
        idle = (
            f"after {status.idle_timeout:g} s idle; idle since {_local(status.idle_since)},"
            f" stops at about {_local(status.stops_at)}"
        )
    else:
        idle = "no supervisor: the next codeant command starts one"
    connections = "?" if status.connections is None else str(status.connections)
    rows = [
        ("data directory", str(status.data_directory)),
        ("pid", f"{status.pid} (up {_duration(status.uptime or 0.0)})"),
        ("url", status.url or "?"),
        ("users", users),
        ("connections", connections),
        ("idle shutdown", idle),
        ("supervisor", "none" if status.supervisor_pid is None else f"pid {status.supervisor_pid}"),
    ]
    print("embedded PostgreSQL: running")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


SERVER = Command(
    name="server",
    help="the embedded PostgreSQL: status [--json], start, stop [--wait SECONDS]",
    run=_run,
    add_arguments=_arguments,
)


async def open_embedded_database(context: Context) -> HealthReport | None:
    """Start (or join) the embedded server and migrate it, untimed, before ``codeant
    health`` times its probes: starting a server is not a health failure. None when that
    worked or there is no embedded server; else the database's unhealthy report."""
    if _not_embedded(context.settings) is not None:
        return None
    started = time.perf_counter()
    try:
        await context.container.postgres_database().pool()
    except PersistenceError as exc:
        return HealthReport(
            component="database",
            status=HealthStatus.UNHEALTHY,
            latency_ms=(time.perf_counter() - started) * 1000,
            error=f"{type(exc).__name__}: {exc}",
        )
    return None


def reaching_embedded(settings: Settings) -> str:
    """How long the embedded server stays reachable after a command, and how to reach it
    (said after a restore into it)."""
    idle = settings.embedded_idle_timeout
    if idle == 0:
        return (
            "the embedded PostgreSQL stops when this command ends (CODEANT_EMBEDDED_IDLE_TIMEOUT"
            " is 0); to reach the database, set an idle time and run 'codeant server start'"
        )
    return (
        "the embedded PostgreSQL stays up while codeant commands or clients (psql URL) use it"
        f" and stops after {idle} s idle (CODEANT_EMBEDDED_IDLE_TIMEOUT);"
        " 'codeant server status' shows it, 'codeant server start' starts it again"
    )
