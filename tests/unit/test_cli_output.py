"""What the command line prints around its results: counted nouns, tables, one-line
messages, and log records with secrets masked and repeats held back."""

from __future__ import annotations

import logging

import pytest

from adapters.cli.logs import OneLineFormatter, Redactor, Repeats
from adapters.cli.output import one_line, plural, table
from adapters.config import Settings


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 files"), (1, "1 file"), (2, "2 files"), (1000, "1000 files")],
)
def test_plural_agrees_with_the_count(count: int, expected: str) -> None:
    """A count reads with the singular noun for one only."""
    assert plural(count, "file") == expected


def test_plural_takes_an_irregular_form() -> None:
    """An irregular plural is given, and used for every count but one."""
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(3, "entry", "entries") == "3 entries"


def test_table_aligns_columns_and_keeps_the_header(capsys: pytest.CaptureFixture[str]) -> None:
    """Columns line up two spaces apart, the last one unpadded; a header alone prints."""
    table([("NAME", "N", "WHERE"), ("alpha", "10", "x"), ("b", "2", "longer")])
    assert capsys.readouterr().out.splitlines() == [
        "NAME   N   WHERE",
        "alpha  10  x",
        "b      2   longer",
    ]
    table([("COLLECTION", "POINTS")])
    assert capsys.readouterr().out == "COLLECTION  POINTS\n"


def test_one_line_joins_the_lines_of_a_message() -> None:
    """A message on several lines (libpq's hint) becomes one line."""
    message = (
        'connection to server at "127.0.0.1", port 1 failed: Connection refused\n'
        "\tIs the server running on that host and accepting TCP/IP connections?\n"
    )
    assert one_line(message) == (
        'connection to server at "127.0.0.1", port 1 failed: Connection refused;'
        " Is the server running on that host and accepting TCP/IP connections?"
    )


# ---------------------------------------------------------------------------- redaction


@pytest.mark.parametrize(
    "text",
    [
        "cannot reach postgresql://app:s3cr%3At@db:5432/codeant",
        "host=db user=app password=s3cr:t dbname=codeant",
        "host=db password='s3cr:t' port=5432",
        "redis://:s3cr:t@cache:6379/0 is down",
        "the password s3cr:t was refused",
        "https://qdrant.example?api_key=s3cr:t&x=1",
    ],
)
def test_redactor_masks_passwords_wherever_they_appear(text: str) -> None:
    """URL passwords, password= pairs and the configured secrets (also URL-encoded) are
    masked."""
    redact = Redactor(["s3cr:t"])
    masked = redact(text)
    assert "s3cr" not in masked
    assert "***" in masked


def test_redactor_knows_the_secrets_of_the_settings() -> None:
    """The passwords of the configured URLs and the Qdrant API key are masked even where
    no URL surrounds them."""
    settings = Settings(
        database_url="postgresql://app:pg-pass@db/codeant",
        redis_url="redis://:redis-pass@cache:6379/0",
        qdrant_url="https://qdrant.example:6333",
        qdrant_api_key="qdrant-key",
        vector_backend="qdrant",
    )
    redact = Redactor.for_settings(settings)
    line = "refused pg-pass, redis-pass and qdrant-key"
    assert redact(line) == "refused ***, *** and ***"
    assert redact("nothing secret here: user app on db") == "nothing secret here: user app on db"


def test_redactor_leaves_words_that_merely_contain_a_secret() -> None:
    """A short secret is masked where it stands alone, not inside longer words."""
    redact = Redactor(["postgres"])
    line = 'postgresql://db/x: password authentication failed for user "postgres"'
    assert redact(line) == 'postgresql://db/x: password authentication failed for user "***"'


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("psycopg.pool", logging.WARNING, __file__, 1, message, args, exc_info)


def test_formatter_prints_one_masked_line() -> None:
    """A log record prints as one line naming the program, level and logger, the
    exception's message appended, any password masked."""
    formatter = OneLineFormatter(Redactor(["hunter2"]))
    try:
        raise ConnectionError("refused\n\thint on a line of its own")
    except ConnectionError as exc:
        record = _record("error connecting to %s", "postgresql://u:hunter2@db/x", exc=exc)
    line = formatter.format(record)
    assert line == (
        "codeant: warning: psycopg.pool: error connecting to postgresql://u:***@db/x:"
        " ConnectionError: refused; hint on a line of its own"
    )


def test_formatter_adds_the_traceback_at_debug_level() -> None:
    """With tracebacks on (the DEBUG level) the traceback follows the line."""
    formatter = OneLineFormatter(Redactor(), tracebacks=True)
    try:
        raise ValueError("boom")
    except ValueError as exc:
        record = _record("failed", exc=exc)
    text = formatter.format(record)
    assert text.splitlines()[0] == "codeant: warning: psycopg.pool: failed"
    assert "Traceback (most recent call last)" in text
    assert "ValueError: boom" in text


def test_repeats_shows_a_message_once_per_quiet_period() -> None:
    """The same message is let through once, dropped while the quiet period lasts, and
    shown again after it with the number dropped; a different message passes at once."""
    clock = FakeClock()
    repeats = Repeats(quiet=60, clock=clock)
    first = _record("error connecting in %r: refused", "codeant")
    assert repeats.filter(first)
    for _ in range(5):
        clock.now += 1
        assert not repeats.filter(_record("error connecting in %r: refused", "codeant"))
    assert repeats.filter(_record("another problem"))
    clock.now += 60
    again = _record("error connecting in %r: refused", "codeant")
    assert repeats.filter(again)
    line = OneLineFormatter(Redactor()).format(again)
    assert line.endswith("refused (and 5 more like it before)")
