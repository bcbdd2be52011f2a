"""When ``codeant index`` starts its workers' fork server: at once, or once it knows.

The fork server imports what the workers need (the analyser, numpy) in about 0.3 s. Started
as the command starts, it does so while the command imports its own modules and asks the
database what changed, and the parse begins on a ready server; started only once the run
knows it analyses files, the parse waits for it. A run on an unchanged repository
analyses nothing: a server started at once would only take the core that the command and
the database share meanwhile.

So the command keeps, in ``<data_dir>/index-hints.json``, the state of each repository's
git files (HEAD, the index, the branch's ref) as a run of it found them before it ended
well, under a digest of where the run recorded it (the database, the organization, the
project) and the repository's path; a run starts the server at once unless its
repository's git files are as kept. The hint decides nothing else: what a run analyses is
the database's to say, as always. A hint that is wrong costs time, never a result (an
edit not yet staged leaves the git files as they were: that run starts the server once it
knows it analyses). A file that cannot be read or written is no hint.

Only the standard library is used here: this runs before the command imports the rest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["HINTS_FILE", "IndexHints", "repository_state"]

log = logging.getLogger(__name__)

HINTS_FILE = "index-hints.json"
KEPT = 256
"""The most repositories whose state the file keeps (the most recently indexed)."""


def repository_state(path: str | os.PathLike[str]) -> str | None:
    """The state of the git files of the repository at or above ``path`` (its HEAD, and
    the time, size and inode of its index, its packed refs and its branch's ref file);
    None when there is no repository there or it cannot be read."""
    try:
        git = _git_directory(Path(os.path.realpath(path)))
        if git is None:
            return None
        common = git
        if (git / "commondir").is_file():  # a linked worktree: refs live in the main one
            common = git / (git / "commondir").read_text().strip()
        head = (git / "HEAD").read_text().strip()
        files = [git / "index", common / "packed-refs"]
        if head.startswith("ref:"):
            files.append(common / head.removeprefix("ref:").strip())
        return "\n".join([head, *map(_file_state, files)])
    except (OSError, ValueError):
        return None


def _git_directory(path: Path) -> Path | None:
    """The git directory of the repository at or above ``path`` (``.git``, or where a
    ``.git`` file points), or None."""
    for directory in (path, *path.parents):
        dot_git = directory / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():
            text = dot_git.read_text().strip()
            if not text.startswith("gitdir:"):
                return None
            return directory / text.removeprefix("gitdir:").strip()
    return None


def _file_state(path: Path) -> str:
    try:
        found = path.stat()
    except FileNotFoundError:
        return "-"
    return f"{found.st_mtime_ns} {found.st_size} {found.st_ino}"


class IndexHints:
    """The hint of one run: the repository at ``path``, indexed into the place that
    ``scope`` names (database, organization, project: any strings that tell one place
    from another; they are kept only as a digest), with the hints file in ``data_dir``."""

    def __init__(self, data_dir: Path, scope: Sequence[str], path: str) -> None:
        self._file = data_dir / HINTS_FILE
        real = os.path.realpath(path)
        key = "\0".join([*scope, real])
        self._key = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
        self._state = repository_state(real)

    def unchanged(self) -> bool:
        """Whether the repository's git files are as the last run that ended well found
        them (False when there is no such run, or no state to compare)."""
        return self._state is not None and self._read().get(self._key) == self._state

    def remember(self) -> None:
        """Keep the state this run found, for the next run (the file then holds the
        :data:`KEPT` most recently indexed repositories)."""
        if self._state is None:
            return
        hints = self._read()
        hints.pop(self._key, None)
        hints[self._key] = self._state
        kept = dict(list(hints.items())[-KEPT:])
        try:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self._file.parent, prefix=f".{HINTS_FILE}.")
        except OSError as exc:
            log.debug("could not keep the index hint in %s: %s", self._file, exc)
            return
        try:
            with os.fdopen(handle, "w") as out:
                json.dump(kept, out)
            os.replace(temporary, self._file)
        except OSError as exc:
            log.debug("could not keep the index hint in %s: %s", self._file, exc)
            with contextlib.suppress(OSError):
                os.unlink(temporary)

    def _read(self) -> dict[str, str]:
        try:
            hints = json.loads(self._file.read_text())
        except (OSError, ValueError) as exc:
            if not isinstance(exc, FileNotFoundError):
                log.debug("ignoring the index hints in %s: %s", self._file, exc)
            return {}
        if not isinstance(hints, dict):
            return {}
        return {k: v for k, v in hints.items() if isinstance(k, str) and isinstance(v, str)}
