"""``codeant db``: the schema migrations of the configured (or embedded) database."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING

from adapters.cli import EXIT_FAILURE, EXIT_OK, Command, Context, require_postgres, whole_number
from adapters.cli.output import plural

if TYPE_CHECKING:
    from adapters.postgres.migrations import MigrationRunner

__all__ = ["DB"]


def _arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    up = actions.add_parser("upgrade", help="apply pending migrations (all, or up to --to N)")
    up.add_argument("--to", type=whole_number(0), metavar="N", help="stop at version N")
    down = actions.add_parser(
        "downgrade", help="roll back the latest migration, or down to --to N, or --all"
    )
    target = down.add_mutually_exclusive_group()
    target.add_argument("--to", type=whole_number(0), metavar="N", help="roll back to version N")
    target.add_argument("--all", action="store_true", help="roll back every migration")
    status = actions.add_parser("status", help="list migrations and whether each is applied")
    status.add_argument("--json", action="store_true", help="print JSON")
    verify = actions.add_parser(
        "verify", help="compare the live schema with the migrations; exit 1 on drift"
    )
    verify.add_argument("--json", action="store_true", help="print JSON")


def _progress(action: str, migration: str) -> None:
    verb = "applying" if action == "apply" else "rolling back"
    print(f"{verb} {migration}", file=sys.stderr, flush=True)


async def _run(args: argparse.Namespace, context: Context) -> int:
    from adapters.postgres.migrations import MigrationRunner

    require_postgres(context.settings, "codeant db", "the memory backend has no schema")
    url = await context.container.postgres_database().server_url()
    runner = MigrationRunner(url, progress=_progress)
    return await asyncio.to_thread(_act, runner, args)


def _act(runner: MigrationRunner, args: argparse.Namespace) -> int:
    action = args.db_action
    if action == "upgrade":
        done = runner.upgrade(to=args.to)
        print(
            f"applied {plural(len(done), 'migration')}; now at version {runner.current_version()}"
        )
    elif action == "downgrade":
        done = runner.downgrade(to=0 if args.all else args.to)
        print(
            f"rolled back {plural(len(done), 'migration')};"
            f" now at version {runner.current_version()}"
        )
    elif action == "status":
        states = runner.status()
        if args.json:
            rows = [
                {
                    "version": s.version,
                    "id": s.id,
                    "applied_at": s.applied_at.isoformat() if s.applied_at else None,
                }
                for s in states
            ]
            print(json.dumps({"current_version": runner.current_version(), "migrations": rows}))
        else:
            for s in states:
                when = s.applied_at.isoformat(timespec="seconds") if s.applied_at else "pending"
                print(f"{s.version:>4}  {s.id:<32}  {when}")
            print(f"current version: {runner.current_version()} of {runner.latest_version}")
    else:
        drift = runner.verify()
        if args.json:
            print(json.dumps({"in_sync": not drift, "differences": drift}))
        else:
            print("\n".join(drift) if drift else "schema matches the applied migrations")
        return EXIT_FAILURE if drift else EXIT_OK
    return EXIT_OK


DB = Command(
    name="db",
    help="migrate the database schema: upgrade, downgrade, status, verify",
    run=_run,
    add_arguments=_arguments,
)
