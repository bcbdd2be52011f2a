"""A git work tree read with the ``git`` command line.

Implements :class:`ports.source.SourceReader`. ``snapshot`` runs a handful of git commands
(in a worker thread, so the event loop never waits on them), whatever the repository's
size:

- the root must be the top level of a git work tree (not a subdirectory of one, not a bare
  repository); anything else raises :class:`~ports.errors.ValidationError` naming the root
  and why (does not exist, not a git repository, git not installed, git's own message);
- ``head_commit``: hash, author name, first line of the message and commit time (UTC) of
  HEAD, None in a repository without commits;
- ``default_branch``: the checked-out branch; with a detached HEAD, the branch
  ``origin/HEAD`` names, else ``"HEAD"``;
- ``remote_url``: the ``origin`` remote's URL (None without one), with the credentials of
  an ``http(s)`` URL removed (user name too: a token is often given as the user name) and
  the password of any other URL;
- ``branches``: the local branches (``refs/heads``) with their commit and its time, from
  one ``git for-each-ref``; ``is_default`` marks the default branch;
- ``files``: the index (what ``git ls-files`` lists) in its order, without submodules and
  without paths that are not UTF-8 (they could not be stored; logged). A symbolic link is
  a file whose content is the link's target, as git stores it, never followed. The size
  is that of the working tree's file; a tracked file missing from the working tree (a
  deletion not yet staged, a sparse checkout) is left out, with one warning for all.
  ``last_modified`` is the commit time of the last commit that changed the path, what
  ``git log -1 -- PATH`` finds, all read in one pass over the history (that stops once
  every path is dated); a path not committed yet gets HEAD's time (the current time
  without a HEAD).

``read`` returns a file's working-tree bytes (a symbolic link's target, never followed)
and refuses paths that leave the root. Paths are exchanged with git NUL-separated, so
names with spaces, newlines or any other character are read exactly. Git runs with the C
locale and without the ``GIT_DIR``-like variables of the environment, so that it reads
the repository at the root given and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import stat
import subprocess
import tempfile
from collections.abc import Generator
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit, urlunsplit

from domain._base import utc_now
from domain.values import CommitInfo
from ports.errors import ValidationError
from ports.source import BranchInfo, Rename, SourceSnapshot, TrackedFile

__all__ = ["GitSourceReader"]

log = logging.getLogger(__name__)

_REPOSITORY_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)
"""Variables (set in git hooks, for instance) that would point git at another repository."""

_CONFIG = ("-c", "log.showSignature=false", "-c", "core.quotePath=false")
_GITLINK = b"160000"
_CHUNK = 1 << 16
_SHOWN_PATHS = 5


class GitSourceReader:
    """Implements :class:`ports.source.SourceReader` with the ``git`` command (see the
    module docstring). ``git`` is the executable to run (a name looked up on ``PATH``, or
    a path); raises ValueError if it is blank."""

    def __init__(self, *, git: str = "git") -> None:
        if not isinstance(git, str) or not git.strip():
            raise ValueError(f"git must name the git executable (got {git!r})")
        self._git = git

    async def snapshot(self, root: str) -> SourceSnapshot:
        """What the repository at ``root`` holds (see the module docstring)."""
        return await asyncio.to_thread(self._snapshot, root)

    async def renames(self, root: str, since_commit: str) -> list[Rename]:
        """The renames git detects (``git diff -M``) from ``since_commit`` to the working
        tree; empty if that commit is not in the repository."""
        return await asyncio.to_thread(self._renames, root, since_commit)

    def _renames(self, root: str, since_commit: str) -> list[Rename]:
        git = _Git(self._git, root)
        git.top_level()
        if not isinstance(since_commit, str) or not _is_commit_hash(since_commit):
            raise ValidationError("since_commit", since_commit, "must be a 40-digit commit hash")
        if git.query("cat-file", "-e", f"{since_commit}^{{commit}}") is None:
            return []
        fields = git._checked(
            "diff", "--no-ext-diff", "--no-color", "-M", "--name-status", "-z", since_commit, "--"
        ).split(b"\0")
        found = []
        i = 0
        while i < len(fields) and fields[i]:
            status = _text(fields[i])
            if status.startswith("R") and i + 2 < len(fields):
                found.append(
                    Rename(
                        old_path=_text(fields[i + 1]),
                        new_path=_text(fields[i + 2]),
                        similarity=int(status[1:] or 100),
                    )
                )
                i += 3
            elif status.startswith("C") and i + 2 < len(fields):
                i += 3
            else:
                i += 2
        return found

    async def read(self, root: str, relative_path: str) -> bytes:
        """The working-tree bytes of the file at ``relative_path`` (POSIX separators)
        under ``root``. Raises ValidationError if the path is absolute, has ``..``
        components, goes through a symbolic link out of the root, or names no readable
        file."""
        return await asyncio.to_thread(_read_working_tree, root, relative_path)

    def _snapshot(self, root: str) -> SourceSnapshot:
        git = _Git(self._git, root)
        top = git.top_level()
        head = git.head_commit()
        default_branch = git.default_branch()
        tracked = git.tracked_paths()
        dated = git.last_changes(set(tracked)) if head is not None else {}
        undated = head.committed_at if head is not None else utc_now()
        return SourceSnapshot(
            root=str(top),
            head_commit=head,
            default_branch=default_branch,
            remote_url=git.remote_url(),
            branches=git.branches(default_branch),
            files=_tracked_files(top, tracked, dated, undated),
            branch=git.checked_out_branch(),
            dirty=head is not None and git.dirty(),
        )


class _GitFailedError(Exception):
    """A git command exited with an error; the message is git's."""


class _Git:
    """The git commands a snapshot runs, at the top level of one work tree."""

    def __init__(self, executable: str, root: str) -> None:
        self._executable = executable
        self._root = root
        self._env = {k: v for k, v in os.environ.items() if k not in _REPOSITORY_VARIABLES}
        self._env["LC_ALL"] = "C"

    def _refuse(self, reason: str) -> ValidationError:
        return ValidationError("root", self._root, reason)

    def _argv(self, args: tuple[str, ...]) -> list[str]:
        return [self._executable, *_CONFIG, *args]

    def run(self, *args: str) -> bytes:
        """The standard output of ``git ARGS`` run at the root; raises _GitFailedError."""
        try:
            done = subprocess.run(
                self._argv(args),
                cwd=self._root,
                env=self._env,
                capture_output=True,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except FileNotFoundError as exc:
            raise self._refuse(f"cannot be read: git is not installed ({exc})") from exc
        except OSError as exc:
            raise self._refuse(f"cannot be read: {exc}") from exc
        if done.returncode != 0:
            raise _GitFailedError(_message(done.stderr) or f"exit status {done.returncode}")
        return done.stdout

    def query(self, *args: str) -> bytes | None:
        """Like :meth:`run`, but None when git fails (an absent ref or remote)."""
        try:
            return self.run(*args)
        except _GitFailedError:
            return None

    def stream(self, *args: str) -> Generator[bytes, None, None]:
        """The NUL-separated fields ``git ARGS`` writes, as it writes them; the command is
        stopped if the caller stops early. Raises ValidationError if it fails."""
        with tempfile.TemporaryFile() as errors:
            try:
                process = subprocess.Popen(
                    self._argv(args),
                    cwd=self._root,
                    env=self._env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=errors,
                )
            except OSError as exc:
                raise self._refuse(f"cannot be read: {exc}") from exc
            assert process.stdout is not None
            try:
                pending = b""
                while chunk := process.stdout.read(_CHUNK):
                    *fields, pending = (pending + chunk).split(b"\0")
                    yield from fields
                if pending:
                    yield pending
            finally:
                if process.poll() is None:
                    process.kill()
                process.stdout.close()
                status = process.wait()
            if status != 0:
                errors.seek(0)
                message = _message(errors.read()) or f"exit status {status}"
                raise self._refuse(f"cannot be read by git: {message}")

    def top_level(self) -> Path:
        """The root, checked to be the top level of a work tree."""
        if not os.path.exists(self._root):
            raise self._refuse("does not exist")
        if not os.path.isdir(self._root):
            raise self._refuse("is not a directory")
        try:
            shown = self.run("rev-parse", "--show-toplevel")
        except _GitFailedError as exc:
            message = str(exc)
            if "not a git repository" in message:
                raise self._refuse("is not a git repository") from None
            if "must be run in a work tree" in message:
                raise self._refuse("is not a git work tree (a bare repository?)") from None
            raise self._refuse(f"cannot be read by git: {message}") from None
        top = Path(os.fsdecode(shown.rstrip(b"\n"))).resolve()
        if top != Path(self._root).resolve():
            raise self._refuse(f"is inside the git work tree {top}, not its top level")
        return top

    def head_commit(self) -> CommitInfo | None:
        if self.query("rev-parse", "-q", "--verify", "HEAD^{commit}") is None:
            return None
        fields = self._checked("log", "-1", "--format=%H%x00%an%x00%ct%x00%B", "HEAD", "--")
        commit_hash, author, seconds, message = _text(fields).split("\0", 3)
        return CommitInfo(
            hash=commit_hash,
            author=author[:500],
            message=message.strip("\n").partition("\n")[0],
            committed_at=_timestamp(seconds),
        )

    def checked_out_branch(self) -> str | None:
        checked_out = self.query("symbolic-ref", "-q", "HEAD")
        if checked_out is None:
            return None
        return _text(checked_out).strip().removeprefix("refs/heads/")

    def dirty(self) -> bool:
        """Whether tracked files differ from HEAD (staged or not); untracked files are
        not indexed, so they do not count."""
        return bool(self._checked("status", "--porcelain", "-z", "--untracked-files=no"))

    def default_branch(self) -> str:
        checked_out = self.checked_out_branch()
        if checked_out is not None:
            return checked_out
        remote_head = self.query("symbolic-ref", "-q", "refs/remotes/origin/HEAD")
        if remote_head is not None:
            return _text(remote_head).strip().removeprefix("refs/remotes/origin/")
        return "HEAD"

    def remote_url(self) -> str | None:
        url = self.query("remote", "get-url", "origin")
        return None if url is None else _without_credentials(_text(url).strip())

    def branches(self, default_branch: str) -> tuple[BranchInfo, ...]:
        listed = self._checked(
            "for-each-ref",
            "--format=%(refname)%00%(objectname)%00%(committerdate:unix)",
            "refs/heads/",
        )
        branches = []
        for line in _text(listed).splitlines():
            refname, commit_hash, seconds = line.split("\0")
            name = refname.removeprefix("refs/heads/")
            branches.append(
                BranchInfo(
                    name=name,
                    commit_hash=commit_hash,
                    is_default=name == default_branch,
                    last_commit_at=_timestamp(seconds) if seconds else None,
                )
            )
        return tuple(branches)

    def tracked_paths(self) -> dict[bytes, bytes]:
        """The index's paths (in its order, each once) with their modes."""
        paths: dict[bytes, bytes] = {}
        for entry in self._checked("ls-files", "-z", "--stage").split(b"\0"):
            if entry:
                meta, _, path = entry.partition(b"\t")
                paths.setdefault(path, meta.partition(b" ")[0])
        return paths

    def last_changes(self, paths: set[bytes]) -> dict[bytes, dt.datetime]:
        """The commit time of the last commit of HEAD's history that changed each of
        ``paths`` (those it finds), from one ``git log`` that stops once all are found.

        Each commit comes as an empty field, its time, then the names it changed (the
        first one after a newline); a merge names none."""
        found: dict[bytes, dt.datetime] = {}
        remaining = set(paths)
        at: dt.datetime | None = None
        header_next = first_name = False
        with contextlib.closing(
            self.stream(
                "log", "-z", "--name-only", "--no-renames", "--format=%x00%ct", "HEAD", "--"
            )
        ) as fields:
            for field in fields:
                if not field:
                    header_next = True
                elif header_next:
                    at, header_next, first_name = _timestamp(_text(field)), False, True
                else:
                    path = field[1:] if first_name and field.startswith(b"\n") else field
                    first_name = False
                    if path in remaining and at is not None:
                        found[path] = at
                        remaining.discard(path)
                        if not remaining:
                            break
        return found

    def _checked(self, *args: str) -> bytes:
        try:
            return self.run(*args)
        except _GitFailedError as exc:
            raise self._refuse(f"cannot be read by git: {exc}") from None


def _tracked_files(
    top: Path,
    tracked: dict[bytes, bytes],
    dated: dict[bytes, dt.datetime],
    undated: dt.datetime,
) -> tuple[TrackedFile, ...]:
    files = []
    missing: list[str] = []
    not_utf8: list[str] = []
    base = os.fsencode(top)
    for path, mode in tracked.items():
        if mode == _GITLINK:
            continue
        try:
            relative_path = path.decode("utf-8")
        except UnicodeDecodeError:
            not_utf8.append(repr(path))
            continue
        try:
            status = os.lstat(os.path.join(base, path))
        except OSError:
            missing.append(relative_path)
            continue
        if stat.S_ISDIR(status.st_mode):
            missing.append(relative_path)
            continue
        files.append(
            TrackedFile(
                relative_path=relative_path,
                size_bytes=status.st_size,
                last_modified=dated.get(path, undated),
            )
        )
    if missing:
        log.warning(
            "%d tracked files are missing from the working tree of %s and were left out: %s",
            len(missing),
            top,
            _some(missing),
        )
    if not_utf8:
        log.warning(
            "%d tracked paths of %s are not UTF-8 and were left out: %s",
            len(not_utf8),
            top,
            _some(not_utf8),
        )
    return tuple(files)


def _read_working_tree(root: str, relative_path: str) -> bytes:
    if not os.path.isdir(root):
        reason = "is not a directory" if os.path.exists(root) else "does not exist"
        raise ValidationError("root", root, reason)
    parts = PurePosixPath(relative_path).parts if isinstance(relative_path, str) else ()
    if (
        not parts
        or "\0" in relative_path
        or PurePosixPath(relative_path).is_absolute()
        or ".." in parts
    ):
        raise ValidationError(
            "relative_path",
            relative_path,
            "must be a relative path inside the root, without '..' (POSIX separators)",
        )
    real_root = os.path.realpath(root)
    target = os.path.join(real_root, *parts)
    if os.path.commonpath([real_root, os.path.realpath(os.path.dirname(target))]) != real_root:
        raise ValidationError(
            "relative_path", relative_path, "leaves the root through a symbolic link"
        )
    try:
        if os.path.islink(target):
            return os.fsencode(os.readlink(target))
        descriptor = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(descriptor, "rb") as file:
            return file.read()
    except (FileNotFoundError, NotADirectoryError):
        reason = "does not exist in the working tree"
    except IsADirectoryError:
        reason = "is a directory"
    except OSError as exc:
        reason = f"cannot be read: {exc.strerror or exc}"
    raise ValidationError("relative_path", relative_path, reason)


def _without_credentials(url: str) -> str:
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    if parts.scheme in ("http", "https"):
        netloc = host
    elif password is not None:
        netloc = f"{userinfo.partition(':')[0]}@{host}"
    else:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _is_commit_hash(text: str) -> bool:
    return len(text) == 40 and all(c in "0123456789abcdef" for c in text)


def _timestamp(seconds: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC)


def _text(output: bytes) -> str:
    return output.decode("utf-8", errors="replace")


def _message(stderr: bytes) -> str:
    """Git's error message: its first ``fatal:`` or ``error:`` line (else its first
    line), without that prefix."""
    lines = [line.strip() for line in _text(stderr).splitlines() if line.strip()]
    chosen = next((line for line in lines if line.startswith(("fatal: ", "error: "))), None)
    if chosen is None:
        return lines[0] if lines else ""
    return chosen.partition(": ")[2]


def _some(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN_PATHS])
    return shown + (f" and {len(items) - _SHOWN_PATHS} more" if len(items) > _SHOWN_PATHS else "")
