"""track(): an analysis' findings matched with a branch's issues stage by stage, from the
same line content and message in the same file to the same message but its numbers; the
nearest line among equals, open issues before closed ones, each issue once."""

from __future__ import annotations

import datetime as dt
import random
import string
import uuid
from collections import Counter
from typing import Any

import attrs
import hypothesis.strategies as st
from hypothesis import given, settings

from domain.enums import Category, IssueStatus, Resolution, Severity
from domain.ids import FileId, ProjectId, RuleId
from domain.issues import Finding, Issue, line_hash, masked_message, track

PROJECT = ProjectId(uuid.UUID(int=1))
A, B = FileId(uuid.UUID(int=10)), FileId(uuid.UUID(int=11))
H1, H2, H3 = line_hash("x = compute(a, b)"), line_hash("return y"), line_hash("z += 1")
T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
RULE = RuleId("py.rule")


def issue(
    *,
    line: int | None = 10,
    hashed: str = H1,
    title: str = "function has 12 lines",
    file_id: FileId | None = A,
    rule: str = RULE,
    status: IssueStatus = IssueStatus.OPEN,
    path: str = "src/a.py",
) -> Issue:
    resolution = {
        IssueStatus.CLOSED: Resolution.FIXED,
        IssueStatus.RESOLVED: Resolution.FALSE_POSITIVE,
    }.get(status)
    return Issue(
        project_id=PROJECT, rule_id=RuleId(rule), severity=Severity.MEDIUM,
        category=Category.MAINTAINABILITY, title=title, file_id=file_id, path=path, line=line,
        line_hash=hashed, status=status, resolution=resolution,
        closed_at=T0 if status is IssueStatus.CLOSED else None,
    )  # fmt: skip


def finding(
    *,
    line: int | None = 10,
    hashed: str = H1,
    title: str = "function has 12 lines",
    file_id: FileId | None = A,
    rule: str = RULE,
    path: str = "src/a.py",
) -> Finding:
    return Finding(
        rule_id=RuleId(rule), severity=Severity.MEDIUM, category=Category.MAINTAINABILITY,
        title=title, file_id=file_id, path=path, line=line, line_hash=hashed,
    )  # fmt: skip


def pairs(result: Any) -> list[tuple[Finding, Issue | None]]:
    return list(result.matches)


# ---------------------------------------------------------------------------- helpers


def test_line_hash_ignores_blanks_and_is_empty_for_a_blank_line() -> None:
    """Re-indenting or re-spacing a line keeps its hash; a blank line hashes to ""."""
    assert line_hash("    x = compute(a,  b)\n") == line_hash("x=compute(a,b)") == H1
    assert line_hash("x = compute(a, c)") != H1
    assert line_hash("  \t\n") == "" and line_hash("") == ""
    assert len(H1) == 32


def test_masked_message_masks_every_number() -> None:
    """Every run of digits becomes "#", so only the numbers may differ."""
    assert masked_message("function has 12 lines, 3 params") == "function has # lines, # params"
    assert masked_message("function has 14 lines, 100 params") == masked_message(
        "function has 12 lines, 3 params"
    )
    assert masked_message("no numbers") == "no numbers"


# ---------------------------------------------------------------------------- stages


def test_lines_inserted_above_keep_the_issue() -> None:
    """An issue whose line moved down (same content, message, file) is the same issue."""
    old = issue(line=10)
    moved = finding(line=25)

    result = track([moved], [old])

    assert pairs(result) == [(moved, old)]
    assert result.missing == []


def test_a_renamed_file_keeps_the_issue_by_its_file_id() -> None:
    """The file's id, not its path, locates an issue: a rename keeps it."""
    old = issue(path="src/old_name.py")
    renamed = finding(path="src/new_name.py", line=12)

    assert pairs(track([renamed], [old])) == [(renamed, old)]


def test_numbers_changed_in_the_message_on_the_same_line_content() -> None:
    """A message whose numbers changed, on a line of the same content, is the same issue."""
    old = issue(title="function has 12 lines", line=10)
    grown = finding(title="function has 14 lines", line=30)

    assert pairs(track([grown], [old])) == [(grown, old)]


def test_numbers_changed_and_line_content_changed_elsewhere_in_the_file() -> None:
    """Only the numbers of the message are kept when its line moved and changed: still
    the same issue of the file."""
    old = issue(title="function has 12 lines", line=10, hashed=H1)
    changed = finding(title="function has 40 lines", line=70, hashed=H2)

    assert pairs(track([changed], [old])) == [(changed, old)]


def test_line_content_changed_at_the_same_line() -> None:
    """The same message at the same line, its content edited, is the same issue."""
    old = issue(line=10, hashed=H1)
    edited = finding(line=10, hashed=H2)

    assert pairs(track([edited], [old])) == [(edited, old)]


def test_a_block_moved_to_another_file_keeps_the_issue() -> None:
    """The same line content and message in another file: the block moved there."""
    old = issue(file_id=A, line=10)
    moved = finding(file_id=B, path="src/b.py", line=200)

    assert pairs(track([moved], [old])) == [(moved, old)]


def test_another_file_with_other_content_is_a_new_issue() -> None:
    """In another file, a changed line content (or message) matches nothing."""
    old = issue(file_id=A, hashed=H1)
    elsewhere = finding(file_id=B, hashed=H2)
    retitled = finding(file_id=B, hashed=H1, title="function has 13 lines")

    result = track([elsewhere, retitled], [old])

    assert pairs(result) == [(elsewhere, None), (retitled, None)]
    assert result.missing == [old]


def test_an_empty_line_hash_never_matches_by_content() -> None:
    """Blank line content ("") is no content to match: not across files, nor elsewhere
    in the file under another message."""
    old = issue(file_id=A, hashed="", line=3)
    moved = finding(file_id=B, hashed="", line=3)
    other_message = finding(file_id=A, hashed="", line=40, title="unused import os")

    assert pairs(track([moved, other_message], [old])) == [(moved, None), (other_message, None)]


def test_another_rule_never_matches() -> None:
    """Everything alike but the rule: a new issue, the old one missing."""
    old = issue(rule="py.a")
    other = finding(rule="py.b")

    result = track([other], [old])

    assert pairs(result) == [(other, None)]
    assert result.missing == [old]


def test_a_stricter_stage_wins_over_a_nearer_line() -> None:
    """The issue with the same content and message is chosen over one that only shares
    the finding's line, however far it moved."""
    exact = issue(line=400, hashed=H1)
    same_line = issue(line=20, hashed=H2)
    found = finding(line=20, hashed=H1)

    result = track([found], [same_line, exact])

    assert pairs(result) == [(found, exact)]
    assert result.missing == [same_line]


def test_issues_of_no_file_match_by_message() -> None:
    """A file-less issue is found again by its rule and message."""
    old = issue(file_id=None, line=None, hashed="", path="", title="no licence file")
    again = finding(file_id=None, line=None, hashed="", path="", title="no licence file")

    assert pairs(track([again], [old])) == [(again, old)]


# ---------------------------------------------------------------------------- candidates


def test_among_identical_lines_the_nearest_wins() -> None:
    """Two issues on identical lines each go to the finding nearest them."""
    top, bottom = issue(line=10), issue(line=60)
    near_bottom, near_top = finding(line=63), finding(line=12)

    result = track([near_bottom, near_top], [top, bottom])

    assert pairs(result) == [(near_bottom, bottom), (near_top, top)]
    assert result.missing == []


def test_one_finding_takes_the_nearest_of_three_identical_issues() -> None:
    """With three candidates, the one nearest the finding's line is matched."""
    candidates = [issue(line=5), issue(line=50), issue(line=95)]
    found = finding(line=58)

    result = track([found], candidates)

    assert pairs(result) == [(found, candidates[1])]
    assert set(result.missing) == {candidates[0], candidates[2]}


def test_a_large_group_of_identical_lines_pairs_in_line_order() -> None:
    """Beyond the exhaustive search, a key's findings and issues pair in line order, each
    once."""
    issues = [issue(line=n) for n in range(1, 101)]
    findings = [finding(line=n + 2) for n in range(100, 0, -1)]

    result = track(findings, random.Random(3).sample(issues, len(issues)))

    assert result.missing == []
    assert all(i is not None and i.line == f.line - 2 for f, i in pairs(result))  # type: ignore[operator]


def test_each_issue_is_matched_once() -> None:
    """Two findings of one key and one issue: the nearest is the issue, the other new."""
    old = issue(line=10)
    near, far = finding(line=11), finding(line=30)

    result = track([far, near], [old])

    assert pairs(result) == [(far, None), (near, old)]


def test_an_open_issue_is_matched_before_a_closed_one() -> None:
    """A finding that an open and a closed issue both match is the open one."""
    closed = issue(status=IssueStatus.CLOSED, line=10)
    open_ = issue(status=IssueStatus.OPEN, line=10)
    found = finding(line=10)

    result = track([found], [closed, open_])

    assert pairs(result) == [(found, open_)]
    assert result.missing == [closed]


def test_closed_issues_are_only_tried_after_every_stage_of_the_open_ones() -> None:
    """An open issue matching loosely (its message's numbers changed, elsewhere in the
    file) still wins over a closed issue matching exactly."""
    closed = issue(status=IssueStatus.CLOSED, line=10, hashed=H1, title="function has 12 lines")
    loose = issue(line=90, hashed=H3, title="function has 99 lines")
    found = finding(line=10, hashed=H1, title="function has 12 lines")

    result = track([found], [closed, loose])

    assert pairs(result) == [(found, loose)]
    assert result.missing == [closed]


def test_a_closed_issue_comes_back_when_no_open_one_is_left() -> None:
    """A second finding of the key goes to the closed issue once the open one is taken."""
    closed = issue(status=IssueStatus.CLOSED, line=40)
    open_ = issue(line=10)
    first, second = finding(line=11), finding(line=41)

    result = track([first, second], [closed, open_])

    assert pairs(result) == [(first, open_), (second, closed)]
    assert result.missing == []


def test_resolved_issues_are_candidates_with_the_open_ones() -> None:
    """A resolved issue (not closed) is matched in the first pass, before a closed one."""
    resolved = issue(status=IssueStatus.RESOLVED, line=10)
    closed = issue(status=IssueStatus.CLOSED, line=10)
    found = finding(line=10)

    assert pairs(track([found], [closed, resolved])) == [(found, resolved)]


def test_a_finding_with_no_candidate_is_new_and_unmatched_issues_are_missing() -> None:
    """With no issue at all every finding is new; with no finding every issue is missing;
    matches follow the findings' order."""
    findings = [finding(line=n, rule=f"r{n}") for n in range(5)]
    issues = [issue(rule="gone", line=n) for n in range(1, 4)]

    assert pairs(track(findings, [])) == [(f, None) for f in findings]
    nothing = track([], iter(issues))
    assert nothing.matches == [] and set(nothing.missing) == set(issues)
    result = track(findings, issues)
    assert [f for f, _ in pairs(result)] == findings
    assert len(result.missing) == 3


# ---------------------------------------------------------------------------- properties

LETTERS = string.ascii_lowercase


def word(n: int) -> str:
    """A name of letters only (masking digits would merge two of them)."""
    out = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        out = LETTERS[r] + out
    return out


FILES = [FileId(uuid.UUID(int=100 + n)) for n in range(4)]


@attrs.frozen
class Spec:
    """One issue and what became of it: whether the analysis still finds it, and which of
    its line, content, message's numbers and file changed."""

    rule: int
    file: int
    hashed: bool
    closed: bool
    found: bool
    shift: int
    new_content: bool
    new_number: bool
    new_file: bool


SPECS = st.builds(
    Spec,
    rule=st.integers(0, 2),
    file=st.integers(0, len(FILES) - 1),
    hashed=st.booleans(),
    closed=st.booleans(),
    found=st.booleans(),
    shift=st.integers(-5, 50),
    new_content=st.booleans(),
    new_number=st.booleans(),
    new_file=st.booleans(),
)


def scenario(specs: list[Spec], extra: int) -> tuple[list[Finding], list[Issue], dict[int, int]]:
    """Issues whose every key is unique (each has a line content, a line and a message of
    its own, shared rules and files aside), the findings the analysis made of them, plus
    ``extra`` new ones; and, for the findings expected to match, which issue they are."""
    issues: list[Issue] = []
    findings: list[Finding] = []
    expected: dict[int, int] = {}
    for n, s in enumerate(specs):
        content = line_hash(f"line {word(n)}") if s.hashed else ""
        title = f"issue {word(n)} has {n % 7} lines"
        line = 10 * n + 100
        issues.append(issue(
            rule=f"r{s.rule}", file_id=FILES[s.file], hashed=content, title=title, line=line,
            status=IssueStatus.CLOSED if s.closed else IssueStatus.OPEN,
        ))  # fmt: skip
        if not s.found:
            continue
        file = (s.file + 1) % len(FILES) if s.new_file else s.file
        new_content = line_hash(f"edited {word(n)}") if s.new_content and s.hashed else content
        new_title = f"issue {word(n)} has {n % 7 + 1} lines" if s.new_number else title
        new_line = line + s.shift * 10 + 1  # never another issue's line
        # in its file, only its message's numbers differ at worst (the last stage); in
        # another file, only the same non-blank content and the same message match
        if not s.new_file or (new_content and new_content == content and new_title == title):
            expected[len(findings)] = n
        findings.append(finding(
            rule=f"r{s.rule}", file_id=FILES[file], hashed=new_content, title=new_title,
            line=new_line,
        ))  # fmt: skip
    for n in range(extra):
        findings.append(finding(rule=f"r{n % 3}", hashed="", title=f"new {word(n)} here"))
    return findings, issues, expected


@settings(max_examples=150, deadline=None)
@given(st.lists(SPECS, max_size=40), st.integers(0, 5), st.randoms(use_true_random=False))
def test_with_unambiguous_keys_order_never_changes_the_pairs(
    specs: list[Spec], extra: int, rng: random.Random
) -> None:
    """Whatever the order of the findings and the issues, each finding is the issue it
    came from (when some stage can still see it) and the same pairs are made."""
    findings, issues, expected = scenario(specs, extra)

    result = track(findings, issues)
    made = {(f, i.id) for f, i in result.matches if i is not None}
    assert made == {(findings[f], issues[n].id) for f, n in expected.items()}
    assert {i.id for i in result.missing} == {i.id for i in issues} - {i for _, i in made}

    shuffled_f = rng.sample(findings, len(findings))
    shuffled_i = rng.sample(issues, len(issues))
    again = track(shuffled_f, shuffled_i)
    assert [f for f, _ in again.matches] == shuffled_f
    assert {(f, i.id) for f, i in again.matches if i is not None} == made
    assert {i.id for i in again.missing} == {i.id for i in result.missing}


def loose(rule: int, file: int, line: int, content: str, number: int) -> Finding:
    """A finding of few rules, files, lines, contents and messages: keys collide."""
    return finding(
        rule=f"r{rule}", file_id=FILES[file], line=line, hashed=content,
        title=f"too long: {number} lines",
    )  # fmt: skip


LOOSE_FINDINGS = st.builds(
    loose,
    st.integers(0, 1),
    st.integers(0, 1),
    st.integers(1, 30),
    st.sampled_from(["", H1, H2]),
    st.integers(1, 3),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(LOOSE_FINDINGS, max_size=30),
    st.lists(st.tuples(LOOSE_FINDINGS, st.booleans()), max_size=30),
)
def test_every_issue_is_matched_at_most_once_and_missing_otherwise(
    findings: list[Finding], made_of: list[tuple[Finding, bool]]
) -> None:
    """With keys shared at will, each issue is one finding's at most, of that finding's
    rule; matched and missing issues together are every issue, once."""
    issues = [
        issue(
            rule=f.rule_id, file_id=f.file_id, line=f.line, hashed=f.line_hash, title=f.title,
            status=IssueStatus.CLOSED if closed else IssueStatus.OPEN,
        )
        for f, closed in made_of
    ]  # fmt: skip

    result = track(findings, issues)

    assert [f for f, _ in result.matches] == findings
    matched = [i for _, i in result.matches if i is not None]
    assert all(i.rule_id == f.rule_id for f, i in result.matches if i is not None)
    counts = Counter(i.id for i in [*matched, *result.missing])
    assert counts == Counter(i.id for i in issues)
    # a finding and an issue of one rule and file meet at the last stage at worst (their
    # messages differ only in numbers): such a pair is never left unmade
    shared = {(f.rule_id, f.file_id) for f in findings} & {(i.rule_id, i.file_id) for i in issues}
    assert matched or not shared
