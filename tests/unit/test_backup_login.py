"""How backup's client programs log in: never with a password on their command line (where
``ps`` shows it), but through a private password file that is gone afterwards."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from adapters.backup.tools import BackupError, login, run

PASSWORD = "pa:ss\\word-7Kq"
URL = "postgresql://app:pa%3Ass%5Cword-7Kq@db.example:5433/codeant?sslmode=prefer"

SPY = """\
import json, os, stat, sys
passfile = os.environ.get("PGPASSFILE")
report = {
    "argv": sys.argv[1:],
    "PGPASSFILE": passfile,
    "PGPASSWORD": os.environ.get("PGPASSWORD"),
    "passfile": open(passfile, encoding="utf-8").read() if passfile else None,
    "mode": stat.S_IMODE(os.stat(passfile).st_mode) if passfile else None,
}
with open(os.environ["SPY_REPORT"], "w", encoding="utf-8") as out:
    json.dump(report, out)
sys.exit(int(os.environ.get("SPY_EXIT", "0")))
"""


@pytest.fixture
def spy(tmp_path: Path) -> Path:
    """A client program that records its arguments and how it could log in."""
    program = tmp_path / "pg_dump"
    program.write_text(f"#!{sys.executable}\n{SPY}")
    program.chmod(0o755)
    return program


def test_login_hands_out_the_url_without_its_password() -> None:
    """The URL a client program gets has every part but the password."""
    with login(URL) as auth:
        params = conninfo_to_dict(auth.url)
        assert "password" not in params
        assert PASSWORD not in auth.url and "pa%3Ass" not in auth.url
        assert params["user"] == "app"
        assert params["host"] == "db.example"
        assert params["port"] == "5433"
        assert params["dbname"] == "codeant"
        assert params["sslmode"] == "prefer"


def test_login_password_file_is_private_escaped_and_removed() -> None:
    """The password goes into a file only its owner may read, with ``:`` and ``\\``
    escaped as libpq reads them, and the file is gone after the block."""
    with login(URL) as auth:
        passfile = Path(auth.env["PGPASSFILE"])
        assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
        assert stat.S_IMODE(passfile.parent.stat().st_mode) == 0o700
        assert passfile.read_text(encoding="utf-8") == "*:*:*:*:pa\\:ss\\\\word-7Kq\n"
    assert not passfile.exists()
    assert not passfile.parent.exists()


def test_login_without_a_password_adds_no_password_file() -> None:
    """A URL without a password (a socket, trust or a client certificate) is handed out
    as it is, with no password file; the child works in the system scope."""
    with login("postgresql://app@db/codeant") as auth:
        assert auth.env == {"PGOPTIONS": "-c codeant.scope=system"}
        assert conninfo_to_dict(auth.url) == {"user": "app", "host": "db", "dbname": "codeant"}


def test_login_refuses_what_a_password_file_cannot_hold() -> None:
    """A password with a line break cannot go into a password file: a clear error."""
    with pytest.raises(BackupError, match="line break"), login("host=db password='a\nb'"):
        pass


def test_the_child_logs_in_through_the_file_and_sees_no_password_in_its_arguments(
    spy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A program run with the login gets the bare URL as its argument and the password
    file in its environment; a PGPASSWORD of the caller, which would win over the file,
    is not passed on."""
    report = tmp_path / "report.json"
    monkeypatch.setenv("SPY_REPORT", str(report))
    monkeypatch.setenv("PGPASSWORD", "stale-and-wrong")
    with login(URL) as auth:
        run([str(spy), "--format=custom", f"--dbname={auth.url}"], what="pg_dump", env=auth.env)
    seen = json.loads(report.read_text(encoding="utf-8"))
    assert not any("pa:ss" in arg or "pa%3Ass" in arg for arg in seen["argv"])
    assert seen["argv"][1] == f"--dbname={auth.url}"
    assert seen["passfile"] == "*:*:*:*:pa\\:ss\\\\word-7Kq\n"
    assert seen["mode"] == 0o600
    assert seen["PGPASSWORD"] is None


def test_a_failing_child_is_reported_without_the_password(
    spy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the program fails, the error names it and its exit status, and holds no
    password."""
    monkeypatch.setenv("SPY_REPORT", str(tmp_path / "report.json"))
    monkeypatch.setenv("SPY_EXIT", "3")
    with pytest.raises(BackupError) as caught, login(URL) as auth:
        run([str(spy), auth.url], what="pg_dump", env=auth.env)
    assert str(caught.value) == "pg_dump failed: exit status 3"


def test_a_child_that_cannot_start_is_a_clear_error(tmp_path: Path) -> None:
    """A program that is missing gives a BackupError naming it."""
    with pytest.raises(BackupError, match="pg_restore could not run"):
        run([str(tmp_path / "missing")], what="pg_restore")


def test_the_callers_environment_is_left_alone(
    spy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Running a program with a login changes nothing in the caller's environment."""
    monkeypatch.setenv("SPY_REPORT", str(tmp_path / "report.json"))
    before = dict(os.environ)
    with login(URL) as auth:
        run([str(spy)], what="pg_dump", env=auth.env)
    assert dict(os.environ) == before
