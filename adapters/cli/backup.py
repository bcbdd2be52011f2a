"""``codeant backup``: logical backups of the configured (or embedded) database, and
point-in-time recovery for the embedded server.

Backups live in ``--directory`` (default ``<data_dir>/backups``): dumps with their
manifests at the top, base backups under ``base/``, the WAL archive under ``wal/``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.cli import (
    EXIT_FAILURE,
    EXIT_OK,
    Command,
    CommandFailed,
    Context,
    UsageError,
    require_postgres,
    text,
    whole_number,
)
from adapters.cli.output import plural, table

if TYPE_CHECKING:
    from adapters.backup import BackupStore

__all__ = ["BACKUP"]

_DATA_DIRECTORY = "SHOW data_directory"


def _moment(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"must be an ISO 8601 time (got {text!r})") from exc
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"must name its time zone, e.g. +00:00 (got {text!r})")
    return value


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--directory", type=Path, metavar="DIR", help="backup directory (<data_dir>/backups)"
    )
    actions = parser.add_subparsers(dest="backup_action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="dump the database with a manifest")
    create.add_argument(
        "--encrypt-key-file", type=Path, metavar="F", help="encrypt with the key in F"
    )
    listing = actions.add_parser("list", help="list the backups, newest first")
    listing.add_argument("--json", action="store_true", help="print JSON")
    verify = actions.add_parser("verify", help="restore into a scratch database and compare")
    which = verify.add_mutually_exclusive_group()
    which.add_argument("name", nargs="?", type=text, help="the backup (default: the newest)")
    which.add_argument("--latest", action="store_true", help="the newest backup")
    verify.add_argument("--key-file", type=Path, metavar="F", help="key of an encrypted backup")
    restore = actions.add_parser(
        "restore", help="restore a dump into a database, or a base backup to a point in time"
    )
    restore.add_argument(
        "name", type=text, help="the backup (a dump, or with --to-time a base backup)"
    )
    restore.add_argument(
        "--to-database", type=text, metavar="DB", help="the database to restore into"
    )
    restore.add_argument("--force", action="store_true", help="replace a non-empty database")
    restore.add_argument("--key-file", type=Path, metavar="F", help="key of an encrypted backup")
    restore.add_argument(
        "--to-time", type=_moment, metavar="T", help="replay the WAL archive up to T (ISO 8601)"
    )
    restore.add_argument(
        "--to-directory", type=Path, metavar="DIR", help="data directory of the recovered server"
    )
    prune = actions.add_parser(
        "prune",
        help="delete backups beyond the retention policy (at least one of N and M above 0)",
    )
    prune.add_argument(
        "--keep-daily", type=whole_number(0), required=True, metavar="N",
        help="keep the newest backup of each of the N most recent days that have one",
    )  # fmt: skip
    prune.add_argument(
        "--keep-weekly", type=whole_number(0), required=True, metavar="M",
        help="keep the newest backup of each of the M most recent weeks that have one",
    )  # fmt: skip
    actions.add_parser("archive", help="embedded server: turn WAL archiving on (restarts it)")
    actions.add_parser("base", help="take a base backup for point-in-time recovery")


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _check(args: argparse.Namespace) -> None:
    """Raise UsageError for options that parse but cannot go together."""
    action = args.backup_action
    if action == "restore" and (args.to_time is None) == (args.to_database is None):
        raise UsageError(
            "give either --to-database DB (to restore a dump) or --to-time T (to recover a"
            " base backup to a point in time)"
        )
    if action == "prune" and args.keep_daily + args.keep_weekly == 0:
        raise UsageError(
            "--keep-daily and --keep-weekly are both 0: that would delete every backup"
        )


async def _run(args: argparse.Namespace, context: Context) -> int:
    from adapters.backup import BackupError, BackupStore

    _check(args)
    settings = context.settings
    require_postgres(settings, "codeant backup", "the memory backend has nothing to back up")
    directory = args.directory or settings.data_dir / "backups"
    database = context.container.postgres_database()
    if args.backup_action == "archive" and not database.embedded:
        raise UsageError(
            "WAL archiving is set up here for the embedded server only; a configured"
            " server (CODEANT_DATABASE_URL) archives as its own configuration says"
        )
    url = await database.server_url()
    try:
        if args.backup_action == "archive":
            await asyncio.to_thread(_archive, url, Path(directory))
            return EXIT_OK
        store = BackupStore(directory, url=url)
        status = await asyncio.to_thread(_act, store, args)
    except BackupError as exc:
        raise CommandFailed(str(exc)) from exc
    if database.embedded and args.backup_action == "restore" and args.to_time is None:
        from adapters.cli.server import reaching_embedded

        print(reaching_embedded(settings))
    return status


def _archive(url: str, directory: Path) -> None:
    from psycopg.conninfo import conninfo_to_dict

    from adapters.backup import ArchivedCluster, enable_archiving
    from adapters.backup.tools import connect, server_major

    enable_archiving(url, directory / "wal")
    with connect(url) as conn:
        row = conn.execute(_DATA_DIRECTORY).fetchone()
    assert row is not None
    socket = Path(str(conninfo_to_dict(url)["host"]))
    _progress("restarting the embedded server with WAL archiving on")
    ArchivedCluster(Path(row[0]), socket_dir=socket, major=server_major(url)).restart()
    print(f"WAL archiving on, into {directory / 'wal'}")


def _act(store: BackupStore, args: argparse.Namespace) -> int:
    """Run the action on ``store``."""
    from adapters.backup import base_backup, restore_to_time
    from adapters.backup.crypto import load_key
    from adapters.config import mask_url
    from adapters.serialization import converter

    action = args.backup_action
    if action == "create":
        manifest = store.create(key=load_key(args.encrypt_key_file), progress=_progress)
        print(manifest.name)
    elif action == "list":
        backups = store.backups()
        if args.json:
            print(json.dumps([converter.unstructure(m) for m in backups], indent=2))
            return EXIT_OK
        table(
            [("NAME", "CREATED", "BYTES", "SCHEMA", "ENCRYPTED")]
            + [
                (
                    m.name,
                    m.created_at.isoformat(timespec="seconds"),
                    str(m.size),
                    str(m.schema_version),
                    "yes" if m.encrypted else "no",
                )
                for m in backups
            ]
        )
        print(f"{plural(len(backups), 'backup')} in {store.directory}")
    elif action == "verify":
        report = store.verify(args.name, key=load_key(args.key_file), progress=_progress)
        print(f"{report.name}: {'OK' if report.ok else 'FAILED'}")
        for problem in report.problems:
            print(f"  {problem}")
        return EXIT_OK if report.ok else EXIT_FAILURE
    elif action == "restore" and args.to_time is not None:
        target = args.to_directory or store.directory / "restored" / args.name
        cluster = restore_to_time(
            store.directory / "base" / args.name,
            store.directory / "wal",
            args.to_time,
            data_dir=target,
            socket_dir=target.with_name(target.name + ".socket"),
        )
        print(f"recovered to {args.to_time.isoformat()}; server running at {cluster.url()}")
    elif action == "restore":
        url = store.restore(
            args.name,
            database=args.to_database,
            force=args.force,
            key=load_key(args.key_file),
            progress=_progress,
        )
        print(f"restored into {mask_url(url)}")
    elif action == "base":
        name = "base-" + dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        _progress(f"taking the base backup {name}")
        base_backup(store.url, store.directory / "base" / name)
        print(name)
    else:
        deleted = store.prune(keep_daily=args.keep_daily, keep_weekly=args.keep_weekly)
        print(f"deleted {plural(len(deleted), 'backup')}")
        for name in deleted:
            print(f"  {name}")
    return EXIT_OK


BACKUP = Command(
    name="backup",
    help="back up, verify, restore and prune; WAL archiving and point-in-time recovery",
    run=_run,
    add_arguments=_arguments,
)
