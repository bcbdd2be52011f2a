"""A realistic edit history, indexed run after run on both adapters: issues keep their ids
when lines are inserted above them, when their file is renamed and when the numbers of
their line change; a fix closes an issue and its return reopens it with the same id; a
user's false-positive verdict survives the issue's disappearance and its return; every
move is in the changelog, by the analysis or by the user who made it."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from adapters.code_index import VectorCodeIndex
from adapters.embedders.hashing import HashingEmbedder
from adapters.memory.vectors import MemoryVectorStore
from adapters.source.analyzer import FileAnalyzer
from adapters.source.git import GitSourceReader
from application.indexing import IndexReport, index_repository
from application.issues import change_issue, issue_detail, list_issues
from domain.enums import IssueStatus, Resolution
from domain.ids import ProjectId
from domain.issues import Issue
from tests.contract.conftest import Backend

TODO_RULE = "todo-marker"

APP = """\
import json


def load(path):
    # TODO: retry 3 times before giving up
    with open(path) as handle:
        return json.load(handle)
"""

UTIL = """\
def clean(text):
    # FIXME: strips too much
    return text.strip()
"""


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "dev@example.com")
        self.git("config", "user.name", "Dev")

    def git(self, *args: str) -> None:
        subprocess.run(["git", *args], cwd=self.root, check=True, capture_output=True)

    def write(self, path: str, text: str) -> None:
        (self.root / path).write_text(text)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    root = tmp_path / "shop"
    root.mkdir()
    repository = Repo(root)
    repository.write("app.py", APP)
    repository.write("util.py", UTIL)
    repository.commit("first")
    return repository


async def test_issues_keep_their_identity_through_an_edit_history(
    backend: Backend, repo: Repo
) -> None:
    store, embedder = VectorCodeIndex(MemoryVectorStore()), HashingEmbedder(64)

    async def index() -> IndexReport:
        report = await index_repository(
            backend.uow(actor="ci"), GitSourceReader(), FileAnalyzer(), embedder, store,
            str(repo.root), organization_slug="acme",
        )  # fmt: skip
        assert report.job_id is not None
        return report

    async def todos(project_id: ProjectId) -> dict[str, Issue]:
        page = await list_issues(backend.uow(), project_id, statuses=list(IssueStatus), page=None)
        found = [i for i in page.items if i.rule_id == TODO_RULE]
        assert len({i.title + i.path for i in found}) == len(found)
        return {("TODO" if "TODO" in i.title else "FIXME"): i for i in found}

    first = await index()
    project = ProjectId(uuid.UUID(first.project_id))
    start = await todos(project)
    assert set(start) == {"TODO", "FIXME"}
    todo, fixme = start["TODO"], start["FIXME"]
    assert (todo.path, todo.line, todo.status) == ("app.py", 5, IssueStatus.OPEN)
    assert (fixme.path, fixme.line) == ("util.py", 2)
    assert not todo.new_code  # a branch's first analysis has no new code
    assert first.gate == "passed"

    # lines inserted above the TODO: same id, its new line
    repo.write("app.py", APP.replace("import json\n", "import json\nimport os\nimport sys\n\n\n"))
    repo.commit("imports")
    report = await index()
    now = await todos(project)
    assert now["TODO"].id == todo.id and now["TODO"].line == 9
    assert now["FIXME"].id == fixme.id  # not analysed again: untouched
    assert report.issues_new == 0 and report.issues_closed == 0

    # the file of the FIXME renamed: same id, new path
    repo.git("mv", "util.py", "helpers.py")
    repo.commit("rename")
    await index()
    now = await todos(project)
    assert (now["FIXME"].id, now["FIXME"].path) == (fixme.id, "helpers.py")

    # a user says the TODO is a false positive; its numbers change: the verdict stands
    await change_issue(
        backend.uow(actor="user:alice"), todo.id, resolve=Resolution.FALSE_POSITIVE,
        comment="tracked elsewhere",
    )  # fmt: skip
    text = (repo.root / "app.py").read_text()
    repo.write("app.py", text.replace("retry 3 times", "retry 5 times"))
    repo.commit("five retries")
    await index()
    now = await todos(project)
    assert now["TODO"].id == todo.id
    assert (now["TODO"].status, now["TODO"].resolution) == (
        IssueStatus.RESOLVED,
        Resolution.FALSE_POSITIVE,
    )

    # the FIXME is fixed: closed as fixed; it comes back: reopened, the same id
    helpers = (repo.root / "helpers.py").read_text()
    repo.write("helpers.py", helpers.replace("    # FIXME: strips too much\n", ""))
    repo.commit("fix")
    report = await index()
    now = await todos(project)
    assert report.issues_closed == 1
    assert (now["FIXME"].status, now["FIXME"].resolution) == (IssueStatus.CLOSED, Resolution.FIXED)
    repo.write("helpers.py", helpers)
    repo.commit("regression")
    report = await index()
    now = await todos(project)
    assert report.issues_new == 0 and report.issues_reopened == 1
    assert (now["FIXME"].id, now["FIXME"].status) == (fixme.id, IssueStatus.REOPENED)

    # the false positive disappears and comes back: closed, then resolved as before
    text = (repo.root / "app.py").read_text()
    repo.write("app.py", text.replace("    # TODO: retry 5 times before giving up\n", ""))
    repo.commit("drop the note")
    await index()
    closed = (await todos(project))["TODO"]
    assert (closed.status, closed.resolution) == (IssueStatus.CLOSED, Resolution.FALSE_POSITIVE)
    repo.write("app.py", text)
    repo.commit("the note again")
    await index()
    back = (await todos(project))["TODO"]
    assert (back.id, back.status, back.resolution) == (
        todo.id,
        IssueStatus.RESOLVED,
        Resolution.FALSE_POSITIVE,
    )
    assert len(await todos(project)) == 2  # never duplicated

    detail = await issue_detail(backend.uow(), todo.id)
    moves = [(c.from_status, c.to_status, c.to_resolution, c.actor) for c in detail.changelog]
    assert moves == [
        (None, IssueStatus.OPEN, None, "ci"),
        (IssueStatus.OPEN, IssueStatus.RESOLVED, Resolution.FALSE_POSITIVE, "user:alice"),
        (IssueStatus.RESOLVED, IssueStatus.CLOSED, Resolution.FALSE_POSITIVE, "ci"),
        (IssueStatus.CLOSED, IssueStatus.RESOLVED, Resolution.FALSE_POSITIVE, "ci"),
    ]
    assert detail.changelog[1].comment == "tracked elsewhere"
    assert all(c.job_id is not None for i, c in enumerate(detail.changelog) if i != 1)
    fixme_moves = [
        (c.from_status, c.to_status)
        for c in (await issue_detail(backend.uow(), fixme.id)).changelog
    ]
    assert fixme_moves == [
        (None, IssueStatus.OPEN),
        (IssueStatus.OPEN, IssueStatus.CLOSED),
        (IssueStatus.CLOSED, IssueStatus.REOPENED),
    ]
