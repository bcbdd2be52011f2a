"""Rows 8a/8b: issue tracking, :func:`domain.issues.track` matching an analysis' findings
with a branch's open issues, in memory (no database), against a floor measured in the same
run: one dict of the issues keyed by (rule, file, line hash), each finding looked up once.

The branch holds 50,000 open issues (quick; 2,000 tiny, 200,000 full), 25 per file, over
40 rules, with messages that carry numbers and a few identical lines per file. 8a: an
incremental analysis that changed 20 files: lines inserted at some point of each file
shift the issues below it; of their issues 5% are fixed, 5% have their message's numbers
changed, 5% their line edited, and 5% more findings are new; all the branch's issues are
given, the worst case (the application gives only the changed files' issues when the
previous analysis was the branch's). 8b: a full re-analysis, every issue found again
with its line shifted. Both contenders take turns in every round; each figure is the
median of the rounds, with their spread in the notes. The outcome of track() is checked
against what the data was built to give, so that a fast wrong answer is never reported.
"""

from __future__ import annotations

import functools
import gc
import random
import time
import uuid
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import attrs

from domain.enums import Category, Severity
from domain.ids import FileId, IssueId, ProjectId, RuleId
from domain.issues import Finding, Issue, line_hash, track
from tests.perf.context import Context
from tests.perf.harness import Contender, Result, Spread, rounds

__all__ = ["Branch", "branch", "tracking_rows"]

ISSUES = {"tiny": 2_000, "quick": 50_000, "full": 200_000}
"""Open issues of the branch, per size (the quick size's unless named here)."""
PER_FILE = 25
CHANGED_FILES = 20
ROUNDS = {"tiny": 1, "quick": 5, "full": 5}
PEER = "floor: a dict by (rule, file, line hash)"
RULES = [RuleId(f"py.rule-{n:02d}") for n in range(40)]
TITLES = (
    "Function has {n} lines (more than 50)",
    "Cyclomatic complexity of {n} is above 10",
    "Line too long ({n} > 100 characters)",
    "Unused variable 'v{n}'",
    "Call nested {n} levels deep",
)
PROJECT = ProjectId(uuid.UUID(int=1))


@attrs.frozen
class Branch:
    """The branch's issues and two analyses of it, with what each should give."""

    issues: list[Issue]
    incremental: list[Finding]
    full: list[Finding]
    expected_incremental: int  # findings of 8a that are an issue (the others are new)


def _finding(issue: Issue, **changes: Any) -> Finding:
    found = Finding(
        rule_id=issue.rule_id, severity=issue.severity, category=issue.category,
        title=issue.title, file_id=issue.file_id, path=issue.path, line=issue.line,
        line_hash=issue.line_hash,
    )  # fmt: skip
    return attrs.evolve(found, **changes) if changes else found


def branch(issues: int, *, seed: int = 11) -> Branch:
    """A branch of ``issues`` open issues over ``issues // 25`` files, and its analyses."""
    rng = random.Random(seed)
    files = max(CHANGED_FILES, issues // PER_FILE)
    by_file: list[list[Issue]] = []
    made = 0
    for f in range(files):
        file_id = FileId(uuid.UUID(int=10_000 + f))
        path = f"src/pkg{f % 50}/module_{f}.py"
        count = issues // files + (1 if f < issues % files else 0)
        lines = sorted(rng.sample(range(1, 1_500), count))
        own: list[Issue] = []
        for line in lines:
            if own and rng.random() < 0.03:  # an identical line: same rule, content, message
                twin = rng.choice(own)
                rule, title, hashed = twin.rule_id, twin.title, twin.line_hash
            else:
                rule = rng.choice(RULES)
                title = rng.choice(TITLES).format(n=rng.randrange(2, 400))
                hashed = line_hash(f"statement_{made}(x, y)  # {path}:{line}")
            own.append(Issue(
                id=IssueId(uuid.UUID(int=made + 1)), project_id=PROJECT, branch="main",
                rule_id=rule, severity=Severity.MEDIUM, category=Category.MAINTAINABILITY,
                title=title, file_id=file_id, path=path, line=line, line_hash=hashed,
            ))  # fmt: skip
            made += 1
        by_file.append(own)

    def shifted() -> tuple[int, int]:
        """Where lines were inserted in a file, and how many."""
        return rng.randrange(1, 1_500), rng.randrange(1, 40)

    full: list[Finding] = []
    for own in by_file:
        at, by = shifted()
        for issue in own:
            line = issue.line or 0
            full.append(_finding(issue, line=line + by if line >= at else line))
    incremental: list[Finding] = []
    expected = 0
    for own in rng.sample(by_file, CHANGED_FILES):
        at, by = shifted()
        for issue in own:
            line = issue.line or 0
            moved = line + by if line >= at else line
            fate = rng.random()
            if fate < 0.05:
                continue  # fixed
            if fate < 0.10:  # its message's numbers changed
                found = _finding(issue, line=moved, title=issue.title.replace("1", "7"))
            elif fate < 0.15:  # its line edited
                found = _finding(issue, line=moved, line_hash=line_hash(f"edited {issue.id}"))
            else:
                found = _finding(issue, line=moved)
            incremental.append(found)
            expected += 1
        for n in range(max(1, len(own) // 20)):  # new findings
            incremental.append(Finding(
                rule_id=RuleId("py.new-rule"), severity=Severity.HIGH, category=Category.BUG,
                title=f"Possible None dereference of 'n{n}'", file_id=own[0].file_id,
                path=own[0].path, line=1_500 + n, line_hash=line_hash(f"new {own[0].id} {n}"),
            ))  # fmt: skip
    rng.shuffle(incremental)
    rng.shuffle(full)
    return Branch(
        issues=[i for own in by_file for i in own], incremental=incremental, full=full,
        expected_incremental=expected,
    )  # fmt: skip


def floor(findings: Sequence[Finding], issues: Sequence[Issue]) -> list[Issue | None]:
    """The peer: one dict of the issues by (rule, file, line hash), one lookup per finding."""
    index: dict[Hashable, Issue] = {}
    for issue in issues:
        index.setdefault((issue.rule_id, issue.file_id, issue.line_hash), issue)
    return [index.get((f.rule_id, f.file_id, f.line_hash)) for f in findings]


def _timed(call: Callable[[], object]) -> Contender:
    async def run(span: range) -> Sequence[float]:
        out = []
        for _ in span:
            gc.collect()
            start = time.perf_counter()
            call()
            out.append((time.perf_counter() - start) * 1000.0)
        return out

    return run


def _checked(findings: Sequence[Finding], issues: Sequence[Issue], matched: int) -> str:
    """Run track() once, outside the timing, and check its outcome."""
    result = track(findings, issues)
    made = [i for _, i in result.matches if i is not None]
    if len(made) != matched or len({i.id for i in made}) != matched:
        raise RuntimeError(f"track() matched {len(made)} findings, expected {matched}")
    if len(made) + len(result.missing) != len(issues):
        raise RuntimeError("track() lost or repeated an issue")
    strays = [(f, i) for f, i in result.matches if i is not None and
              (i.rule_id, i.file_id) != (f.rule_id, f.file_id)]  # fmt: skip
    if strays:  # no finding of this data moved to another file
        raise RuntimeError(f"track() matched {len(strays)} findings with another file's issue")
    return f"{matched:,} matched, {len(findings) - matched:,} new, {len(result.missing):,} missing"


async def tracking_rows(ctx: Context) -> list[Result]:
    """8a (an incremental analysis) and 8b (a full re-analysis) against the floor."""
    name = ctx.sizes.name
    count = ISSUES.get(name, ISSUES["quick"])
    runs = ROUNDS.get(name, ROUNDS["quick"])
    started = time.perf_counter()
    data = branch(count)
    built = time.perf_counter() - started
    files = len({i.file_id for i in data.issues})
    out: list[Result] = []
    cases = (
        ("8a", f"issue tracking: incremental, {len(data.incremental):,} findings of"
               f" {CHANGED_FILES} files vs {count:,} issues",
         data.incremental, data.expected_incremental),
        ("8b", f"issue tracking: full re-analysis, {len(data.full):,} findings vs {count:,}"
               " issues", data.full, len(data.full)),
    )  # fmt: skip
    details: dict[str, object] = {"issues": count, "files": files, "build_s": built}
    for row, title, findings, matched in cases:
        outcome = _checked(findings, data.issues, matched)
        got = await rounds(
            {
                "ours": _timed(functools.partial(track, findings, data.issues)),
                "floor": _timed(functools.partial(floor, findings, data.issues)),
            },
            runs,
            runs=runs,
        )
        ours: Spread = got["ours"][0]
        peer: Spread = got["floor"][0]
        details[row] = {"findings": len(findings), "outcome": outcome, "track_ms": str(ours),
                        "floor_ms": str(peer)}  # fmt: skip
        out.append(Result(
            row=row, name=f"{title}, median", unit="ms", ours=ours.median, peer=peer.median,
            peer_name=PEER,
            notes=(
                f"{outcome}; {files:,} files; {runs} rounds, ms: track {ours}, floor {peer};"
                " the floor builds one dict of the issues and looks each finding up once"
            ),
        ))  # fmt: skip
    ctx.details["issue_tracking"] = details
    return out
