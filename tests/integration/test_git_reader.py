"""GitSourceReader on real git repositories built in a temporary directory: HEAD, branches,
remote, the tracked files with their sizes and last-change times, and the refusals."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from adapters.source import GitSourceReader
from ports.errors import ValidationError
from ports.source import SourceReader

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

T0 = 1_700_000_000
"""A commit time (2023-11-14T22:13:20Z); the tests' commits are T0 plus some seconds."""


def at(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(T0 + seconds, dt.UTC)


def git(repo: Path, *args: str, time: int = 0) -> str:
    """Run git in ``repo`` with a fixed identity, no user configuration, and commit time
    T0 + ``time`` (given with a +02:00 offset, which the reader must turn into UTC)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    stamp = f"@{T0 + time} +0200"
    env.update(
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_DATE=stamp,
        GIT_COMMITTER_DATE=stamp,
    )
    done = subprocess.run(
        ["git", "-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        check=True,
    )
    return done.stdout.decode()


def write(repo: Path, relative_path: str, content: bytes | str) -> None:
    path = repo / relative_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)


def commit(repo: Path, message: str, time: int, **files: bytes | str) -> str:
    """Write ``files`` (keyword names stand for paths), commit them, return the hash."""
    for relative_path, content in files.items():
        write(repo, relative_path, content)
    git(repo, "add", "--all")
    git(repo, "commit", "-q", "-m", message, time=time)
    return git(repo, "rev-parse", "HEAD").strip()


def ls_files(repo: Path) -> list[str]:
    return [p for p in git(repo, "ls-files", "-z").split("\0") if p]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    return root.resolve()


@pytest.fixture
def reader() -> SourceReader:
    return GitSourceReader()


async def test_each_file_is_dated_by_the_last_commit_that_changed_it(
    repo: Path, reader: SourceReader
) -> None:
    """last_modified is the time of the last commit touching each file, and HEAD is the
    latest commit with its author, first message line and UTC time."""
    commit(repo, "Add both", 10, **{"a.py": "a = 1\n", "b.py": "b = 1\n"})
    head = commit(repo, "Change b\n\nThe body is not the message.", 20, **{"b.py": "b = 2\n"})

    snapshot = await reader.snapshot(str(repo))

    dates = {f.relative_path: f.last_modified for f in snapshot.files}
    assert dates == {"a.py": at(10), "b.py": at(20)}
    assert snapshot.head_commit is not None
    assert snapshot.head_commit.hash == head
    assert snapshot.head_commit.author == "Ada Lovelace"
    assert snapshot.head_commit.message == "Change b"
    assert snapshot.head_commit.committed_at == at(20)
    assert snapshot.head_commit.committed_at.utcoffset() == dt.timedelta(0)
    assert snapshot.root == str(repo)
    assert {f.relative_path: f.size_bytes for f in snapshot.files} == {"a.py": 6, "b.py": 6}


async def test_a_file_changed_on_a_merged_branch_is_dated_by_that_commit(
    repo: Path, reader: SourceReader
) -> None:
    """A file changed on a branch that was merged keeps the time of its own commit, not
    the merge's; HEAD is the merge."""
    commit(repo, "Start", 10, **{"base.txt": "base\n"})
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, "Feature", 20, **{"feature.txt": "feature\n"})
    git(repo, "checkout", "-q", "main")
    commit(repo, "Main", 30, **{"main.txt": "main\n"})
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge feature", "feature", time=40)

    snapshot = await reader.snapshot(str(repo))

    dates = {f.relative_path: f.last_modified for f in snapshot.files}
    assert dates == {"base.txt": at(10), "feature.txt": at(20), "main.txt": at(30)}
    assert snapshot.head_commit is not None
    assert snapshot.head_commit.message == "Merge feature"


async def test_branches_mark_the_checked_out_one_as_default(
    repo: Path, reader: SourceReader
) -> None:
    """Local branches come with their commit and its time; the checked-out branch is the
    default one."""
    first = commit(repo, "One", 10, **{"a.txt": "1\n"})
    git(repo, "branch", "release")
    second = commit(repo, "Two", 20, **{"a.txt": "2\n"})
    git(repo, "checkout", "-q", "-b", "topic")

    snapshot = await reader.snapshot(str(repo))

    assert snapshot.default_branch == "topic"
    branches = {b.name: (b.commit_hash, b.last_commit_at, b.is_default) for b in snapshot.branches}
    assert branches == {
        "main": (second, at(20), False),
        "release": (first, at(10), False),
        "topic": (second, at(20), True),
    }


async def test_detached_head_takes_the_default_branch_from_origin(
    repo: Path, reader: SourceReader
) -> None:
    """With a detached HEAD the default branch is the one origin/HEAD names, or "HEAD"
    when there is none."""
    commit(repo, "One", 10, **{"a.txt": "1\n"})
    git(repo, "checkout", "-q", "--detach")
    assert (await reader.snapshot(str(repo))).default_branch == "HEAD"

    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    snapshot = await reader.snapshot(str(repo))

    assert snapshot.default_branch == "main"
    assert [(b.name, b.is_default) for b in snapshot.branches] == [("main", True)]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://deploy:s3cr3t@git.example.com/acme/api.git",
            "https://git.example.com/acme/api.git",
        ),
        ("https://ghp_token@git.example.com/acme/api.git", "https://git.example.com/acme/api.git"),
        (
            "ssh://git:s3cr3t@git.example.com:2222/acme/api.git",
            "ssh://git@git.example.com:2222/acme/api.git",
        ),
        ("git@git.example.com:acme/api.git", "git@git.example.com:acme/api.git"),
    ],
)
async def test_remote_url_of_origin_loses_its_credentials(
    repo: Path, reader: SourceReader, url: str, expected: str
) -> None:
    """The origin URL is reported without password (and without any user for https)."""
    commit(repo, "One", 10, **{"a.txt": "1\n"})
    git(repo, "remote", "add", "origin", url)

    assert (await reader.snapshot(str(repo))).remote_url == expected


async def test_no_origin_means_no_remote_url(repo: Path, reader: SourceReader) -> None:
    """A repository without an origin remote has remote_url None."""
    commit(repo, "One", 10, **{"a.txt": "1\n"})
    git(repo, "remote", "add", "upstream", "https://git.example.com/up.git")

    assert (await reader.snapshot(str(repo))).remote_url is None


async def test_files_are_exactly_what_git_ls_files_lists(repo: Path, reader: SourceReader) -> None:
    """Paths with spaces, unicode and newlines, in subdirectories, are listed as git lists
    them, and read back byte for byte."""
    files = {
        "plain.txt": b"plain\n",
        "with space/file name.md": b"# title\n",
        "unicod\u00e9/\u65e5\u672c\u8a9e.py": "x = '\u00e9'\n".encode(),
        "line\nbreak.txt": b"odd name\n",
        "crlf.txt": b"a\r\nb\r\n",
    }
    for relative_path, content in files.items():
        write(repo, relative_path, content)
    git(repo, "add", "--all")
    git(repo, "commit", "-q", "-m", "Odd names", time=10)
    write(repo, "untracked.txt", b"not in git\n")

    snapshot = await reader.snapshot(str(repo))

    assert [f.relative_path for f in snapshot.files] == ls_files(repo)
    assert sorted(f.relative_path for f in snapshot.files) == sorted(files)
    for file in snapshot.files:
        assert file.size_bytes == len(files[file.relative_path])
        assert await reader.read(str(repo), file.relative_path) == files[file.relative_path]


async def test_symlinks_are_files_holding_their_target(
    repo: Path, reader: SourceReader, tmp_path: Path
) -> None:
    """A tracked symbolic link is a file whose content is its target text, never the
    target's content, even when it points outside the repository."""
    outside = tmp_path / "secret.txt"
    outside.write_text("secret\n")
    (repo / "link").symlink_to(outside)
    commit(repo, "Link", 10)

    snapshot = await reader.snapshot(str(repo))

    (link,) = snapshot.files
    assert (link.relative_path, link.size_bytes) == ("link", len(str(outside)))
    assert await reader.read(str(repo), "link") == str(outside).encode()


async def test_submodules_are_left_out(repo: Path, reader: SourceReader) -> None:
    """A submodule entry (a gitlink) is not a file of the snapshot."""
    head = commit(repo, "One", 10, **{"a.txt": "1\n"})
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},vendor/lib")
    git(repo, "commit", "-q", "-m", "Add submodule", time=20)

    snapshot = await reader.snapshot(str(repo))

    assert "vendor/lib" in ls_files(repo)
    assert [f.relative_path for f in snapshot.files] == ["a.txt"]


async def test_staged_files_take_head_time_and_missing_files_are_left_out(
    repo: Path, reader: SourceReader, caplog: pytest.LogCaptureFixture
) -> None:
    """A file added but not committed is dated by HEAD; a tracked file deleted from the
    working tree is left out with a warning naming it."""
    commit(repo, "One", 10, **{"kept.txt": "1\n", "gone.txt": "2\n"})
    commit(repo, "Two", 20, **{"other.txt": "3\n"})
    write(repo, "staged.txt", "new\n")
    git(repo, "add", "staged.txt")
    (repo / "gone.txt").unlink()

    with caplog.at_level(logging.WARNING, logger="adapters.source.git"):
        snapshot = await reader.snapshot(str(repo))

    dates = {f.relative_path: f.last_modified for f in snapshot.files}
    assert dates == {"kept.txt": at(10), "other.txt": at(20), "staged.txt": at(20)}
    assert "gone.txt" in caplog.text


async def test_repository_without_commits_lists_its_index(repo: Path, reader: SourceReader) -> None:
    """A repository without commits has no HEAD commit and no branches, its checked-out
    branch as default, and the staged files dated now."""
    write(repo, "first.py", "print('hi')\n")
    git(repo, "add", "first.py")
    before = dt.datetime.now(dt.UTC)

    snapshot = await reader.snapshot(str(repo))

    assert snapshot.head_commit is None
    assert snapshot.branches == ()
    assert snapshot.default_branch == "main"
    (file,) = snapshot.files
    assert file.relative_path == "first.py"
    assert before <= file.last_modified <= dt.datetime.now(dt.UTC)


async def test_a_directory_that_is_not_a_repository_is_refused(
    tmp_path: Path, reader: SourceReader
) -> None:
    """A plain directory raises ValidationError naming the path and saying why."""
    plain = tmp_path / "plain"
    plain.mkdir()

    with pytest.raises(ValidationError, match="not a git repository") as caught:
        await reader.snapshot(str(plain))

    assert (caught.value.field, caught.value.value) == ("root", str(plain))
    assert str(plain) in str(caught.value)


async def test_a_missing_path_is_refused(tmp_path: Path, reader: SourceReader) -> None:
    """A path that does not exist raises ValidationError naming it."""
    missing = tmp_path / "nowhere"

    with pytest.raises(ValidationError, match="does not exist") as caught:
        await reader.snapshot(str(missing))

    assert str(missing) in str(caught.value)


async def test_a_subdirectory_or_a_bare_repository_is_refused(
    repo: Path, tmp_path: Path, reader: SourceReader
) -> None:
    """Only the top level of a work tree is read: a subdirectory and a bare repository
    are refused with the reason."""
    commit(repo, "One", 10, **{"src/a.py": "a = 1\n"})
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))

    with pytest.raises(ValidationError, match="not its top level"):
        await reader.snapshot(str(repo / "src"))
    with pytest.raises(ValidationError, match="not a git work tree"):
        await reader.snapshot(str(bare))


async def test_a_missing_git_command_is_reported(repo: Path) -> None:
    """When the git executable cannot be run, the error names the path and says git is
    missing."""
    reader = GitSourceReader(git=str(repo / "no-such-git"))

    with pytest.raises(ValidationError, match="git is not installed") as caught:
        await reader.snapshot(str(repo))

    assert str(repo) in str(caught.value)


@pytest.mark.parametrize(
    ("relative_path", "reason"),
    [
        ("../outside.txt", "without '..'"),
        ("/etc/hostname", "relative path"),
        ("", "relative path"),
        ("escape/outside.txt", "symbolic link"),
        ("absent.txt", "does not exist"),
        ("folder", "is a directory"),
    ],
)
async def test_read_refuses_paths_outside_the_root_and_missing_files(
    repo: Path, tmp_path: Path, reader: SourceReader, relative_path: str, reason: str
) -> None:
    """read refuses paths leaving the root (by '..', absolute, or through a symbolic
    link), absent files and directories, naming the path."""
    (tmp_path / "outside.txt").write_text("outside\n")
    (repo / "escape").symlink_to(tmp_path)
    (repo / "folder").mkdir()

    with pytest.raises(ValidationError, match=reason) as caught:
        await reader.read(str(repo), relative_path)

    assert caught.value.field == "relative_path"


def test_the_git_executable_must_be_named() -> None:
    """The constructor refuses a blank git executable."""
    with pytest.raises(ValueError, match="git"):
        GitSourceReader(git=" ")
