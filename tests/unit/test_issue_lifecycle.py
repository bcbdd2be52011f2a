"""The issue lifecycle: open -> confirmed / resolved / closed, reopened when a verdict is
withdrawn or a fixed issue is found again; every move is a changelog entry, a user's
verdict survives every re-analysis, and a refused move changes nothing."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Callable
from typing import Any

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from domain.enums import Category, IssueStatus, Resolution, Severity
from domain.errors import InvalidTransitionError, ValidationError
from domain.ids import FileId, IssueId, JobId, ProjectId, RuleId
from domain.issues import Finding, Issue, IssueChange

OP, CF, RO, RS, CL = (
    IssueStatus.OPEN,
    IssueStatus.CONFIRMED,
    IssueStatus.REOPENED,
    IssueStatus.RESOLVED,
    IssueStatus.CLOSED,
)
FIXED, FP, WF = Resolution.FIXED, Resolution.FALSE_POSITIVE, Resolution.WONT_FIX
ALLOWED = {
    (OP, CF), (OP, RS), (OP, CL),
    (CF, RO), (CF, RS), (CF, CL),
    (RO, CF), (RO, RS), (RO, CL),
    (RS, RO), (RS, CL),
    (CL, RO), (CL, RS),
}  # fmt: skip
REFUSED = [(a, b) for a, b in itertools.permutations(IssueStatus, 2) if (a, b) not in ALLOWED]
T0 = dt.datetime(2024, 5, 1, 9, tzinfo=dt.UTC)
JOB = JobId(uuid.UUID(int=7))
PROJECT = ProjectId(uuid.UUID(int=1))
FILE = FileId(uuid.UUID(int=2))


def issue_in(status: IssueStatus, resolution: Resolution | None = None) -> Issue:
    """An issue standing in ``status`` (resolved or closed ones as fixed unless told)."""
    if status in (RS, CL) and resolution is None:
        resolution = FIXED
    return Issue(
        project_id=PROJECT,
        branch="main",
        rule_id=RuleId("py.long-function"),
        severity=Severity.MEDIUM,
        category=Category.MAINTAINABILITY,
        title="function has 80 lines",
        file_id=FILE,
        path="src/app.py",
        line=10,
        line_hash="a" * 32,
        status=status,
        resolution=resolution,
        closed_at=T0 - dt.timedelta(days=1) if status is CL else None,
        first_seen_at=T0 - dt.timedelta(days=3),
        last_seen_at=T0 - dt.timedelta(days=2),
        created_at=T0 - dt.timedelta(days=3),
        updated_at=T0 - dt.timedelta(days=1),
    )


def finding(**changes: Any) -> Finding:
    """The finding of the issue above, moved down 5 lines, its numbers changed."""
    base = Finding(
        rule_id=RuleId("py.long-function"),
        severity=Severity.HIGH,
        category=Category.MAINTAINABILITY,
        title="function has 95 lines",
        description="split it",
        file_id=FILE,
        path="src/renamed.py",
        line=15,
        line_hash="a" * 32,
    )
    return attrs.evolve(base, **changes)


def state(issue: Issue) -> dict[str, Any]:
    return attrs.asdict(issue, recurse=False)


def consistent(issue: Issue) -> bool:
    resolved = issue.status in (RS, CL)
    closed = issue.status is CL
    return (issue.resolution is not None) == resolved and (issue.closed_at is not None) == closed


# ---------------------------------------------------------------------------- edges


def test_a_new_issue_is_open_unresolved_and_not_closed() -> None:
    """An issue starts open, with no resolution and no closing time."""
    issue = issue_in(OP)

    assert (issue.status, issue.resolution, issue.closed_at) == (OP, None, None)
    assert issue.status.is_unresolved


# (start, resolution it holds, the move, the status it ends in; None: refused)
MOVES: list[tuple[IssueStatus, Resolution | None, str, IssueStatus | None]] = [
    (OP, None, "confirm", CF), (OP, None, "resolve", RS), (OP, None, "reopen", None),
    (OP, None, "disappear", CL),
    (CF, None, "confirm", None), (CF, None, "resolve", RS), (CF, None, "reopen", None),
    (CF, None, "disappear", CL),
    (RO, None, "confirm", CF), (RO, None, "resolve", RS), (RO, None, "reopen", None),
    (RO, None, "disappear", CL),
    (RS, FP, "confirm", None), (RS, FP, "resolve", None), (RS, FP, "reopen", RO),
    (RS, FP, "disappear", CL), (RS, FIXED, "observe", RO),
    (CL, WF, "confirm", None), (CL, WF, "resolve", None), (CL, WF, "reopen", None),
    (CL, FIXED, "observe", RO), (CL, WF, "observe", RS),
]  # fmt: skip


def move(issue: Issue, name: str) -> IssueChange | None:
    if name == "resolve":
        return issue.resolve(WF, "alice", at=T0)
    if name == "observe":
        return issue.observe(finding(), JOB, T0, actor="analysis")
    if name == "disappear":
        return issue.disappear(JOB, T0, actor="analysis")
    method = getattr(issue, name)
    change: IssueChange = method("alice", at=T0)
    return change


@pytest.mark.parametrize(("start", "resolution", "name", "end"), MOVES)
def test_each_move_goes_along_its_edge_or_is_refused(
    start: IssueStatus, resolution: Resolution | None, name: str, end: IssueStatus | None
) -> None:
    """Every method moves an issue along an edge of the lifecycle, or raises
    InvalidTransitionError and leaves the issue exactly as it was."""
    issue = issue_in(start, resolution)
    before = state(issue)

    if end is None:
        with pytest.raises(InvalidTransitionError) as refused:
            move(issue, name)
        assert refused.value.current is start
        assert state(issue) == before
        return
    change = move(issue, name)

    assert (start, end) in ALLOWED
    assert issue.status is end and consistent(issue)
    assert change is not None
    assert (change.from_status, change.to_status) == (start, end)
    assert (change.from_resolution, change.to_resolution) == (resolution, issue.resolution)
    assert issue.updated_at == change.at == T0


@pytest.mark.parametrize(("start", "end"), REFUSED)
def test_assigning_a_status_off_the_lifecycle_is_refused(
    start: IssueStatus, end: IssueStatus
) -> None:
    """Assigning ``status`` along an edge the lifecycle lacks raises
    InvalidTransitionError naming both ends, and changes nothing."""
    issue = issue_in(start)
    before = state(issue)

    with pytest.raises(InvalidTransitionError) as refused:
        issue.status = end

    assert (refused.value.current, refused.value.target) == (start, end)
    assert state(issue) == before


@pytest.mark.parametrize(("start", "end"), [(OP, CF), (CF, RO), (RO, CF)])
def test_assigning_a_status_along_an_edge_is_accepted(start: IssueStatus, end: IssueStatus) -> None:
    """Assigning ``status`` along an edge between unresolved statuses moves the issue."""
    issue = issue_in(start)

    issue.status = end

    assert issue.status is end


def test_assigning_an_unknown_status_is_refused() -> None:
    """A status that is no IssueStatus is a ValidationError naming the field."""
    issue = issue_in(OP)

    with pytest.raises(ValidationError) as refused:
        issue.status = "done"  # type: ignore[assignment]

    assert refused.value.field == "status"
    assert issue.status is OP


def test_resolved_and_closed_issues_are_not_unresolved() -> None:
    """is_unresolved holds for open, confirmed and reopened only."""
    assert {s for s in IssueStatus if s.is_unresolved} == {OP, CF, RO}


# ---------------------------------------------------------------------------- changelog


def test_a_user_move_records_who_when_why_and_no_job() -> None:
    """resolve returns the entry: the issue, no job, the actor, the time, both statuses,
    both resolutions and the comment."""
    issue = issue_in(CF)

    change = issue.resolve(FP, "alice", comment="generated code", at=T0)

    assert change == IssueChange(
        id=change.id, issue_id=issue.id, job_id=None, actor="alice", at=T0,
        from_status=CF, to_status=RS, from_resolution=None, to_resolution=FP,
        comment="generated code",
    )  # fmt: skip
    assert (issue.status, issue.resolution, issue.closed_at) == (RS, FP, None)


def test_an_analysis_move_names_its_job() -> None:
    """disappear returns an entry naming the job and its actor, from open to closed/fixed."""
    issue = issue_in(OP)

    change = issue.disappear(JOB, T0, actor="analysis")

    assert change is not None
    assert (change.issue_id, change.job_id) == (issue.id, JOB)
    assert (change.actor, change.at) == ("analysis", T0)
    assert (change.from_status, change.to_status) == (OP, CL)
    assert (change.from_resolution, change.to_resolution) == (None, FIXED)
    assert change.comment


def test_reopen_withdraws_the_verdict_in_the_entry() -> None:
    """reopen moves a resolved issue to reopened, the entry going from its resolution to
    none."""
    issue = issue_in(RS, WF)

    change = issue.reopen("bob", comment="we fix it after all", at=T0)

    assert (change.from_status, change.from_resolution) == (RS, WF)
    assert (change.to_status, change.to_resolution) == (RO, None)
    assert (change.actor, change.comment, change.job_id) == ("bob", "we fix it after all", None)
    assert (issue.status, issue.resolution) == (RO, None)


@pytest.mark.parametrize(("status", "resolution"), [(OP, None), (RS, FP), (CL, FIXED)])
def test_a_comment_alone_keeps_the_status(
    status: IssueStatus, resolution: Resolution | None
) -> None:
    """comment returns an entry whose from and to are the issue's status and resolution,
    and moves nothing."""
    issue = issue_in(status, resolution)
    before = state(issue)

    change = issue.comment("carol", "looking into it", at=T0)

    assert (change.from_status, change.to_status) == (status, status)
    assert (change.from_resolution, change.to_resolution) == (resolution, resolution)
    assert (change.actor, change.comment, change.at, change.job_id) == (
        "carol", "looking into it", T0, None,
    )  # fmt: skip
    assert state(issue) == before


def test_an_observation_of_an_open_issue_moves_nothing_but_follows_the_finding() -> None:
    """observe of an unresolved issue returns no entry; its location, message, severity
    and last sighting follow the finding."""
    issue = issue_in(CF)
    first_seen = (issue.first_seen_job_id, issue.first_seen_at)

    change = issue.observe(finding(), JOB, T0, actor="analysis")

    assert change is None
    assert issue.status is CF
    assert (issue.path, issue.line, issue.title, issue.severity) == (
        "src/renamed.py", 15, "function has 95 lines", Severity.HIGH,
    )  # fmt: skip
    assert (issue.description, issue.last_seen_job_id, issue.last_seen_at) == ("split it", JOB, T0)
    assert (issue.first_seen_job_id, issue.first_seen_at) == first_seen


# ---------------------------------------------------------------------------- re-analysis


@pytest.mark.parametrize("verdict", [FP, WF])
def test_a_verdict_survives_every_disappear_and_observe_cycle(verdict: Resolution) -> None:
    """A false positive or won't-fix issue that disappears is closed with its verdict, and
    comes back resolved with it, cycle after cycle; the entries say so."""
    issue = issue_in(OP)
    issue.resolve(verdict, "alice", at=T0)

    for n in range(3):
        at = T0 + dt.timedelta(days=2 * n + 1)
        gone = issue.disappear(JOB, at, actor="analysis")
        assert gone is not None
        assert (gone.from_status, gone.from_resolution, gone.to_status, gone.to_resolution) == (
            RS, verdict, CL, verdict,
        )  # fmt: skip
        assert (issue.status, issue.resolution, issue.closed_at) == (CL, verdict, at)

        later = at + dt.timedelta(days=1)
        back = issue.observe(finding(), JOB, later, actor="analysis")
        assert back is not None
        assert (back.from_status, back.from_resolution, back.to_status, back.to_resolution) == (
            CL, verdict, RS, verdict,
        )  # fmt: skip
        assert (issue.status, issue.resolution, issue.closed_at) == (RS, verdict, None)
        assert issue.observe(finding(), JOB, later, actor="analysis") is None  # still found


def test_an_issue_a_user_marked_fixed_is_reopened_when_found_again() -> None:
    """A user's "fixed" is no verdict: the next analysis that finds the issue reopens it."""
    issue = issue_in(OP)
    issue.resolve(FIXED, "alice", at=T0)

    change = issue.observe(finding(), JOB, T0 + dt.timedelta(hours=1), actor="analysis")

    assert change is not None
    assert (change.from_status, change.from_resolution) == (RS, FIXED)
    assert (change.to_status, change.to_resolution, change.job_id) == (RO, None, JOB)
    assert (issue.status, issue.resolution) == (RO, None)


def test_a_closed_issue_found_again_is_reopened_where_it_is_now() -> None:
    """An issue closed as fixed by an analysis is reopened by the one that finds it again,
    its location following the finding and its closing time cleared."""
    issue = issue_in(CF)
    issue.disappear(JOB, T0, actor="analysis")
    assert (issue.status, issue.resolution, issue.closed_at) == (CL, FIXED, T0)

    later = T0 + dt.timedelta(days=1)
    change = issue.observe(finding(), JobId(uuid.UUID(int=8)), later, actor="analysis")

    assert change is not None
    assert (change.from_status, change.to_status, change.to_resolution) == (CL, RO, None)
    assert (issue.status, issue.resolution, issue.closed_at) == (RO, None, None)
    assert (issue.path, issue.line, issue.last_seen_at) == ("src/renamed.py", 15, later)


def test_a_closed_issue_that_stays_away_moves_no_further() -> None:
    """disappear of an issue already closed returns no entry and keeps its closing time."""
    issue = issue_in(OP)
    issue.disappear(JOB, T0, actor="analysis")

    assert issue.disappear(JOB, T0 + dt.timedelta(days=1), actor="analysis") is None
    assert (issue.status, issue.closed_at) == (CL, T0)


# a model of the lifecycle, written apart from the code: (status, resolution) after a move
Step = tuple[str, Resolution | None]


def expected(status: IssueStatus, resolution: Resolution | None, step: Step) -> Any:
    """The (status, resolution) a step leads to, "refused", or None when nothing moves."""
    name, chosen = step
    if name == "confirm":
        return (CF, None) if status in (OP, RO) else "refused"
    if name == "resolve":
        return (RS, chosen) if status in (OP, CF, RO) else "refused"
    if name == "reopen":
        return (RO, None) if status is RS else "refused"
    if name == "disappear":
        if status is CL:
            return None
        return (CL, resolution if resolution in (FP, WF) else FIXED)
    if name == "observe":
        if status is CL or (status is RS and resolution is FIXED):
            return (RS, resolution) if resolution in (FP, WF) else (RO, None)
        return None
    return None  # comment


STEPS = st.one_of(
    st.sampled_from([("confirm", None), ("reopen", None), ("disappear", None),
                     ("observe", None), ("comment", None)]),
    st.tuples(st.just("resolve"), st.sampled_from(list(Resolution))),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(STEPS, max_size=25))
def test_any_walk_follows_the_lifecycle_and_keeps_its_invariants(steps: list[Step]) -> None:
    """Along any sequence of user and analysis moves the issue goes where the lifecycle
    says, a refused move changes nothing, every entry chains from the state before it,
    and resolution and closed_at are set exactly while resolved or closed (closed)."""
    issue = issue_in(OP)
    at = T0
    for step in steps:
        at += dt.timedelta(minutes=1)
        want = expected(issue.status, issue.resolution, step)
        before = state(issue)
        name, chosen = step
        if want == "refused":
            with pytest.raises(InvalidTransitionError):
                if name == "resolve":
                    assert chosen is not None
                    issue.resolve(chosen, "u", at=at)
                else:
                    getattr(issue, name)("u", at=at)
            assert state(issue) == before
            continue
        if name == "resolve":
            assert chosen is not None
            change: IssueChange | None = issue.resolve(chosen, "u", at=at)
        elif name in ("confirm", "reopen"):
            change = getattr(issue, name)("u", at=at)
        elif name == "comment":
            change = issue.comment("u", "note", at=at)
        elif name == "observe":
            change = issue.observe(finding(), JOB, at, actor="run")
        else:
            change = issue.disappear(JOB, at, actor="run")
        if want is None:
            assert (issue.status, issue.resolution) == (before["status"], before["resolution"])
            assert (change is None) == (name != "comment")
        else:
            assert (issue.status, issue.resolution) == want
            assert change is not None and change.at == at
            assert (change.from_status, change.from_resolution) == (
                before["status"], before["resolution"],
            )  # fmt: skip
            assert (change.to_status, change.to_resolution) == want
        assert consistent(issue)
        if issue.status is CL:
            assert issue.closed_at is not None and issue.closed_at <= at


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("severity", "urgent"),
        ("category", 3),
        ("rule_id", ""),
        ("title", "   "),
        ("title", "x" * 501),
        ("description", "x" * 2001),
        ("line", 0),
        ("line", "12"),
        ("line", True),
        ("line_hash", "x" * 65),
        ("branch", "b" * 256),
        ("path", "a\x00b"),
        ("new_code", 1),
        ("status", "done"),
        ("resolution", "duplicate"),
        ("first_seen_at", dt.datetime(2024, 1, 1)),
    ],
)
def test_an_issue_with_a_bad_field_is_refused(field: str, value: Any) -> None:
    """Each field's rule is checked when an issue is built, naming the field."""
    fields = {
        "project_id": PROJECT, "rule_id": "r", "severity": "low", "category": "bug",
        "title": "t", field: value,
    }  # fmt: skip

    with pytest.raises(ValidationError) as refused:
        Issue(**fields)

    assert refused.value.field == field
    assert refused.value.entity == "Issue"


@pytest.mark.parametrize(
    ("status", "resolution", "closed_at", "field"),
    [
        (OP, FIXED, None, "resolution"),
        (CF, FP, None, "resolution"),
        (RS, None, None, "resolution"),
        (CL, None, T0, "resolution"),
        (CL, FIXED, None, "closed_at"),
        (RS, FIXED, T0, "closed_at"),
        (OP, None, T0, "closed_at"),
    ],
)
def test_status_resolution_and_closing_time_must_agree(
    status: IssueStatus, resolution: Resolution | None, closed_at: dt.datetime | None, field: str
) -> None:
    """A resolution is set exactly for resolved and closed issues, closed_at exactly for
    closed ones."""
    with pytest.raises(ValidationError) as refused:
        Issue(
            project_id=PROJECT, rule_id=RuleId("r"), severity=Severity.LOW,
            category=Category.BUG, title="t", status=status, resolution=resolution,
            closed_at=closed_at,
        )  # fmt: skip

    assert refused.value.field == field


def test_strings_name_statuses_and_resolutions() -> None:
    """Status and resolution given by their values become the members."""
    issue = Issue(
        project_id=PROJECT, rule_id=RuleId("r"), severity="low", category="bug", title="t",
        status="resolved", resolution="wont-fix",
    )  # fmt: skip

    assert (issue.status, issue.resolution) == (RS, WF)
    assert issue.branch == ""


def test_a_branch_of_none_is_the_detached_head() -> None:
    """branch None is stored as "" (a detached HEAD)."""
    issue = Issue(
        project_id=PROJECT, rule_id=RuleId("r"), severity=Severity.LOW, category=Category.BUG,
        title="t", branch=None,
    )  # fmt: skip

    assert issue.branch == ""


BAD_CALLS: list[tuple[str, IssueStatus, Any]] = [
    ("empty actor", OP, lambda i: i.confirm("", at=T0)),
    ("blank actor", RS, lambda i: i.reopen("   ", at=T0)),
    ("actor too long", OP, lambda i: i.resolve(FP, "a" * 256, at=T0)),
    ("actor not a string", OP, lambda i: i.confirm(42, at=T0)),
    ("comment too long", OP, lambda i: i.resolve(WF, "alice", comment="c" * 4001, at=T0)),
    ("comment not a string", RO, lambda i: i.confirm("alice", comment=7, at=T0)),
    ("naive time", OP, lambda i: i.confirm("alice", at=dt.datetime(2024, 1, 1))),
    ("bad resolution", OP, lambda i: i.resolve("duplicate", "alice", at=T0)),
    ("resolution none", CF, lambda i: i.resolve(None, "alice", at=T0)),
    ("resolution of another enum", OP, lambda i: i.resolve(Severity.LOW, "alice", at=T0)),
    ("empty comment alone", OP, lambda i: i.comment("alice", "", at=T0)),
    ("comment alone too long", OP, lambda i: i.comment("alice", "c" * 4001, at=T0)),
    ("analysis with no actor", OP, lambda i: i.disappear(JOB, T0, actor="")),
    ("analysis at a naive time", OP, lambda i: i.disappear(JOB, dt.datetime(2024, 1, 1),
                                                          actor="run")),
    ("observed by no actor", CL, lambda i: i.observe(finding(), JOB, T0, actor="")),
    ("observed at a naive time", CL,
     lambda i: i.observe(finding(), JOB, dt.datetime(2024, 1, 1), actor="run")),
    ("observed with a bad severity", CL,
     lambda i: i.observe(finding(severity="urgent"), JOB, T0, actor="run")),
    ("observed with a bad line", OP,
     lambda i: i.observe(finding(line=0), JOB, T0, actor="run")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("start", "call"), [(s, c) for _, s, c in BAD_CALLS], ids=[n for n, _, _ in BAD_CALLS]
)
def test_a_move_with_bad_input_is_refused_and_changes_nothing(
    start: IssueStatus, call: Callable[[Issue], object]
) -> None:
    """A move given a bad actor, comment, time, resolution or finding raises a
    ValidationError before the issue changes at all."""
    issue = issue_in(start, WF if start in (RS, CL) else None)
    before = state(issue)

    with pytest.raises(ValidationError) as refused:
        call(issue)

    assert not isinstance(refused.value, InvalidTransitionError)
    assert state(issue) == before


def test_the_longest_comment_and_actor_are_accepted() -> None:
    """A comment of 4,000 characters and an actor of 255 are within the limits."""
    issue = issue_in(OP)

    change = issue.resolve(WF, "a" * 255, comment="c" * 4000, at=T0)

    assert (len(change.actor), len(change.comment or "")) == (255, 4000)


def test_ids_are_distinct_per_issue_and_per_change() -> None:
    """Two issues and two entries never share an id; an issue equals itself only."""
    a, b = issue_in(OP), issue_in(OP)
    first, second = a.confirm("u", at=T0), a.comment("u", "x", at=T0)

    assert a.id != b.id and a != b and a == a
    assert isinstance(a.id, uuid.UUID) and IssueId(a.id) == a.id
    assert first.id != second.id
