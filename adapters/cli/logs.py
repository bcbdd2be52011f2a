"""What the command line writes to stderr besides its own errors: log records and Python
warnings, each on one line, with any password masked, and a message that repeats (a pool
retrying a server that is down) shown once rather than on every retry."""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import parse_qsl, quote, urlsplit

from adapters.cli.output import one_line
from adapters.config import Settings

__all__ = ["OneLineFormatter", "Redactor", "Repeats", "cli_logging"]

PROG = "codeant"
MASK = "***"
_SECRET_KEYS = r"password|passwd|pwd|api[_-]?key|apikey|token|secret"
_URL_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)(?P<secret>\S*)@")
_KEY_VALUE = re.compile(
    rf"(?P<head>\b(?:{_SECRET_KEYS})\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|[^\s&,;)]+)",
    re.IGNORECASE,
)


class Redactor:
    """Masks secrets in text: the password of any URL (``scheme://user:***@host``), the
    value of a ``password=`` (or ``api_key=``, ``token=``...) pair, and the given secrets
    wherever they stand alone, as they are and URL-encoded."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        found = {s for s in secrets if s}
        found |= {quote(s, safe="") for s in found}
        # longest first, so that a secret holding another is masked whole; a secret is
        # masked where it stands alone, not inside a longer word (a password "postgres"
        # must not turn "postgresql://" into "***ql://")
        alternatives = "|".join(re.escape(s) for s in sorted(found, key=len, reverse=True))
        self._bare = (
            re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])")
            if alternatives
            else None
        )

    @classmethod
    def for_settings(cls, settings: Settings) -> Redactor:
        """A redactor of the secrets ``settings`` hold: URL passwords, secret query
        parameters and API keys."""
        secrets: list[str] = []
        for value in settings.as_dict(mask_secrets=False).values():
            if isinstance(value, str) and "://" in value:
                secrets.extend(_url_secrets(value))
        if settings.qdrant_api_key:
            secrets.append(settings.qdrant_api_key)
        return cls(secrets)

    def __call__(self, text: str) -> str:
        text = _URL_USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)
        text = _KEY_VALUE.sub(lambda m: f"{m['head']}{MASK}", text)
        if self._bare is not None:
            text = self._bare.sub(MASK, text)
        return text


def _url_secrets(url: str) -> list[str]:
    """The password and secret query values of ``url``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return []
    found = [password] if password else []
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        if re.fullmatch(_SECRET_KEYS, key, re.IGNORECASE):
            found.append(value)
    return found


class Repeats(logging.Filter):
    """Lets a message through the first time, then drops the same message (same logger,
    level and text) for ``quiet`` seconds; the next one shown after that says how many
    were dropped."""

    def __init__(self, *, quiet: float = 300.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self._quiet = quiet
        self._clock = clock
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, record.getMessage())
        now = self._clock()
        shown = self._seen.get(key)
        if shown is not None and now - shown[0] < self._quiet:
            self._seen[key] = (shown[0], shown[1] + 1)
            return False
        record.codeant_repeats = shown[1] if shown is not None else 0
        self._seen[key] = (now, 0)
        return True


class OneLineFormatter(logging.Formatter):
    """``codeant: warning: psycopg.pool: message`` on one line, the exception's message
    appended; with ``tracebacks`` (the DEBUG level) the traceback follows. Secrets are
    masked either way."""

    def __init__(self, redact: Callable[[str], str], *, tracebacks: bool = False) -> None:
        super().__init__()
        self._redact = redact
        self._tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and not self._tracebacks:
            message = f"{message}: {type(exc).__name__}: {exc}"
        repeats = getattr(record, "codeant_repeats", 0)
        if repeats:
            message += f" (and {repeats} more like it before)"
        line = f"{PROG}: {record.levelname.lower()}: {record.name}: {one_line(message)}"
        if exc is not None and self._tracebacks and record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self._redact(line)


class _Stderr(logging.Handler):
    """Writes to the ``sys.stderr`` of the moment (not the one when it was made)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def cli_logging(level: str, redact: Callable[[str], str]) -> Iterator[None]:
    """For the block: log records of ``level`` and above, and Python warnings, go to
    stderr one line each, repeats held back, secrets masked. The handler is removed and
    the root logger's level restored after it (so the command can run in-process again)."""
    root = logging.getLogger()
    handler = _Stderr()
    handler.setFormatter(OneLineFormatter(redact, tracebacks=level == "DEBUG"))
    handler.addFilter(Repeats())
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(previous)
