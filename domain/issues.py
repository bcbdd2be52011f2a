"""Issues with identity: what an analysis finds, followed from one analysis to the next.

An :class:`Issue` is one problem in a project's branch as it stands now; every analysis
of the branch matches its findings against the branch's issues (:func:`track`), so an
issue keeps its id while its line moves, its file is renamed or the numbers in its message
change. Its status moves along a guarded lifecycle (:class:`IssueStatus`); every move, by
an analysis or by a user, is an :class:`IssueChange` in the issue's changelog. A user's
verdict (``false-positive``, ``wont-fix``) survives every later analysis: an issue that
disappears is closed, keeping it, and one that comes back is resolved with it again; any
other issue that comes back is reopened, never found anew.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import attrs

from domain import validation as v
from domain._base import Entity, utc_now
from domain.enums import (
    Category,
    IssueStatus,
    Resolution,
    Severity,
    to_category,
    to_issue_status,
    to_resolution,
    to_severity,
)
from domain.errors import InvalidTransitionError, ValidationError
from domain.ids import FileId, IssueChangeId, IssueId, JobId, ProjectId, RuleId, new_id

__all__ = [
    "Finding",
    "Issue",
    "IssueChange",
    "Tracking",
    "line_hash",
    "masked_message",
    "track",
]

_ENTITY = "Issue"

# the lifecycle: which status may follow which (by a user or an analysis)
_MOVES: dict[IssueStatus, frozenset[IssueStatus]] = {
    IssueStatus.OPEN: frozenset({IssueStatus.CONFIRMED, IssueStatus.RESOLVED, IssueStatus.CLOSED}),
    IssueStatus.CONFIRMED: frozenset(
        {IssueStatus.REOPENED, IssueStatus.RESOLVED, IssueStatus.CLOSED}
    ),
    IssueStatus.REOPENED: frozenset(
        {IssueStatus.CONFIRMED, IssueStatus.RESOLVED, IssueStatus.CLOSED}
    ),
    IssueStatus.RESOLVED: frozenset({IssueStatus.REOPENED, IssueStatus.CLOSED}),
    IssueStatus.CLOSED: frozenset({IssueStatus.REOPENED, IssueStatus.RESOLVED}),
}


def line_hash(line: str) -> str:
    """The hash of a source line's content with every blank left out, so that indenting
    or re-spacing a line keeps its hash ("" for a blank line)."""
    squeezed = "".join(line.split())
    if not squeezed:
        return ""
    return hashlib.md5(squeezed.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()


_NUMBER = re.compile(r"\d+")


def masked_message(message: str) -> str:
    """``message`` with every number masked: "function has 12 lines" and "function has 14
    lines" are the same message for matching."""
    return _NUMBER.sub("#", message)


def _branch(value: Any) -> Any:
    return "" if value is None else value


def _to_optional_status(value: Any) -> Any:
    return None if value is None else to_issue_status(value)


@attrs.frozen(kw_only=True)
class IssueChange:
    """One move of an issue, by an analysis (``job_id`` set) or by a user: who, when, from
    which status and resolution to which, and why (``comment``). A comment alone (the same
    status) is a change too."""

    id: IssueChangeId = attrs.field(factory=lambda: IssueChangeId(new_id()))
    issue_id: IssueId
    job_id: JobId | None = None
    actor: str = attrs.field(validator=v.text(max_length=255))
    at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    from_status: IssueStatus | None = attrs.field(
        converter=_to_optional_status,
        validator=v.optional(v.enum_member(IssueStatus)),
    )
    to_status: IssueStatus = attrs.field(
        converter=to_issue_status, validator=v.enum_member(IssueStatus)
    )
    from_resolution: Resolution | None = attrs.field(
        default=None, converter=to_resolution, validator=v.optional(v.enum_member(Resolution))
    )
    to_resolution: Resolution | None = attrs.field(
        default=None, converter=to_resolution, validator=v.optional(v.enum_member(Resolution))
    )
    comment: str | None = attrs.field(
        default=None, validator=v.optional(v.text(max_length=4000, allow_empty=True))
    )


def _status_resolution(instance: Issue, _: attrs.Attribute[Any], __: Any) -> None:
    resolved = instance.status in (IssueStatus.RESOLVED, IssueStatus.CLOSED)
    if resolved != (instance.resolution is not None):
        raise ValidationError(
            "resolution",
            instance.resolution,
            f"must be {'set' if resolved else 'None'} for a {instance.status} issue",
            entity=_ENTITY,
        )


@attrs.define(kw_only=True, eq=False)
class Issue(Entity):
    """One problem of a project's branch, as the latest analysis of the branch found it.

    ``branch`` is the branch's name ("" for a detached HEAD). ``path`` and ``line`` are
    where the latest analysis that found the issue located it (the path "" and line None
    for an issue of no file); ``line_hash`` is the hash of that line's content
    (:func:`line_hash`, "" when not known). ``new_code`` says whether the issue lies on the
    branch's new code. ``first_seen_*`` and ``last_seen_*`` name the analyses that found it
    first and last; ``closed_at`` is when an analysis stopped finding it.

    Move it with :meth:`confirm`, :meth:`resolve` and :meth:`reopen` (a user) or
    :meth:`observe` and :meth:`disappear` (an analysis); each returns the changelog entry
    of the move (None when nothing moved). Assigning ``status`` directly is guarded by the
    same lifecycle."""

    id: IssueId = attrs.field(factory=lambda: IssueId(new_id()))
    project_id: ProjectId
    branch: str = attrs.field(
        default="", converter=_branch, validator=v.text(max_length=255, allow_empty=True)
    )
    rule_id: RuleId = attrs.field(validator=v.text(max_length=100))
    severity: Severity = attrs.field(converter=to_severity, validator=v.enum_member(Severity))
    category: Category = attrs.field(converter=to_category, validator=v.enum_member(Category))
    title: str = attrs.field(validator=v.text(max_length=500))
    description: str = attrs.field(default="", validator=v.text(max_length=2000, allow_empty=True))
    file_id: FileId | None = None
    path: str = attrs.field(default="", validator=v.text(max_length=4096, allow_empty=True))
    line: int | None = attrs.field(default=None, validator=v.optional(v.int_range(1, 2**31 - 1)))
    line_hash: str = attrs.field(default="", validator=v.text(max_length=64, allow_empty=True))
    status: IssueStatus = attrs.field(
        default=IssueStatus.OPEN,
        converter=to_issue_status,
        validator=v.enum_member(IssueStatus),
        on_setattr=lambda instance, attribute, new: _guard(instance, new),
    )
    resolution: Resolution | None = attrs.field(
        default=None,
        converter=to_resolution,
        validator=[v.optional(v.enum_member(Resolution))],
    )
    new_code: bool = attrs.field(default=False, validator=v.boolean())
    first_seen_job_id: JobId | None = None
    last_seen_job_id: JobId | None = None
    first_seen_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    last_seen_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    closed_at: dt.datetime | None = attrs.field(
        default=None, validator=v.optional(v.aware_datetime())
    )
    created_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    updated_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())

    def __attrs_post_init__(self) -> None:
        _status_resolution(self, attrs.fields(Issue).resolution, self.resolution)
        if (self.status is IssueStatus.CLOSED) != (self.closed_at is not None):
            raise ValidationError(
                "closed_at",
                self.closed_at,
                "is set exactly when the issue is closed",
                entity=_ENTITY,
            )

    # ------------------------------------------------------------------ by a user

    def confirm(
        self, actor: str, *, comment: str | None = None, at: dt.datetime | None = None
    ) -> IssueChange:
        """A user confirms an open or reopened issue."""
        if self.status is IssueStatus.CONFIRMED:
            raise InvalidTransitionError(
                "status", self.status, IssueStatus.CONFIRMED, entity=_ENTITY
            )
        return self._move(IssueStatus.CONFIRMED, None, actor=actor, comment=comment, at=at)

    def resolve(
        self,
        resolution: Resolution,
        actor: str,
        *,
        comment: str | None = None,
        at: dt.datetime | None = None,
    ) -> IssueChange:
        """A user resolves an unresolved issue: fixed, a false positive, or won't fix. A
        verdict (false positive, won't fix) holds through every later analysis."""
        resolution = v.check_member(
            "resolution", to_resolution(resolution), Resolution, entity=_ENTITY
        )
        if not self.status.is_unresolved:
            raise InvalidTransitionError(
                "status", self.status, IssueStatus.RESOLVED, entity=_ENTITY
            )
        return self._move(IssueStatus.RESOLVED, resolution, actor=actor, comment=comment, at=at)

    def reopen(
        self, actor: str, *, comment: str | None = None, at: dt.datetime | None = None
    ) -> IssueChange:
        """A user reopens a resolved issue (its verdict is withdrawn); a closed issue is
        reopened by the analysis that finds it again."""
        if self.status is not IssueStatus.RESOLVED:
            raise InvalidTransitionError(
                "status", self.status, IssueStatus.REOPENED, entity=_ENTITY
            )
        return self._move(IssueStatus.REOPENED, None, actor=actor, comment=comment, at=at)

    def comment(self, actor: str, text: str, *, at: dt.datetime | None = None) -> IssueChange:
        """A comment alone: the status stays."""
        v.check_text("comment", text, max_length=4000, entity=_ENTITY)
        return self._entry(
            self.status, self.resolution, actor=actor, comment=text, at=at or utc_now(), job_id=None
        )

    # ------------------------------------------------------------------ by an analysis

    def observe(
        self,
        finding: Finding,
        job_id: JobId,
        at: dt.datetime,
        *,
        actor: str,
    ) -> IssueChange | None:
        """The analysis ``job_id`` found the issue again as ``finding``: its location,
        severity and message follow the finding; a closed issue comes back (reopened, or
        resolved with the user's verdict it was closed with), and one a user marked fixed
        is reopened, since it is not."""
        came_back = self.status is IssueStatus.CLOSED or (
            self.status is IssueStatus.RESOLVED and self.resolution is Resolution.FIXED
        )
        change = None
        if came_back:
            verdict = self.verdict
            change = self._prepare(
                IssueStatus.RESOLVED if verdict is not None else IssueStatus.REOPENED,
                verdict,
                actor=actor,
                at=at,
                job_id=job_id,
                comment="found again; the verdict stands" if verdict is not None else "found again",
            )
        self._follow(
            file_id=finding.file_id,
            path=finding.path,
            line=finding.line,
            line_hash=finding.line_hash,
            title=finding.title,
            description=finding.description,
            severity=finding.severity,
            category=finding.category,
            last_seen_job_id=job_id,
            last_seen_at=at,
            updated_at=at,
        )
        if change is not None:
            self._apply(change)
        return change

    def disappear(self, job_id: JobId, at: dt.datetime, *, actor: str) -> IssueChange | None:
        """The analysis ``job_id`` no longer finds the issue: it is closed as fixed (keeping
        a user's verdict). Nothing moves for an issue already closed."""
        if self.status is IssueStatus.CLOSED:
            return None
        return self._move(
            IssueStatus.CLOSED, self.verdict or Resolution.FIXED, actor=actor, at=at, job_id=job_id,
            comment="no longer found",
        )  # fmt: skip

    @property
    def verdict(self) -> Resolution | None:
        """The user's verdict the issue carries (false positive, won't fix), if any."""
        r = self.resolution
        return r if r is not None and r.is_verdict else None

    # ------------------------------------------------------------------ the moves

    def _move(
        self,
        status: IssueStatus,
        resolution: Resolution | None,
        *,
        actor: str,
        at: dt.datetime | None,
        comment: str | None = None,
        job_id: JobId | None = None,
    ) -> IssueChange:
        change = self._prepare(
            status, resolution, actor=actor, at=at, comment=comment, job_id=job_id
        )
        self._apply(change)
        return change

    def _prepare(
        self,
        status: IssueStatus,
        resolution: Resolution | None,
        *,
        actor: str,
        at: dt.datetime | None,
        comment: str | None = None,
        job_id: JobId | None = None,
    ) -> IssueChange:
        """The entry of a move, checked (the edge, the actor, the comment, the time)
        before anything of the issue changes."""
        _guard(self, status)
        return self._entry(
            status, resolution, actor=actor, comment=comment, at=at or utc_now(), job_id=job_id
        )

    def _apply(self, change: IssueChange) -> None:
        # both fields move together; the guard sees the status edge
        object.__setattr__(self, "resolution", None)
        self.status = change.to_status
        object.__setattr__(self, "resolution", change.to_resolution)
        self.closed_at = change.at if change.to_status is IssueStatus.CLOSED else None
        self.updated_at = change.at

    def _follow(self, **values: Any) -> None:
        """Set ``values``, all or none: a value refused puts back the ones set before."""
        before = {name: getattr(self, name) for name in values}
        try:
            for name, value in values.items():
                setattr(self, name, value)
        except BaseException:
            for name, value in before.items():
                object.__setattr__(self, name, value)
            raise

    def _entry(
        self,
        status: IssueStatus,
        resolution: Resolution | None,
        *,
        actor: str,
        comment: str | None,
        at: dt.datetime,
        job_id: JobId | None,
    ) -> IssueChange:
        return IssueChange(
            issue_id=self.id,
            job_id=job_id,
            actor=actor,
            at=at,
            from_status=self.status,
            to_status=status,
            from_resolution=self.resolution,
            to_resolution=resolution,
            comment=comment,
        )

    @classmethod
    def found(
        cls,
        finding: Finding,
        project_id: ProjectId,
        branch: str,
        job_id: JobId,
        at: dt.datetime,
        *,
        new_code: bool,
    ) -> Issue:
        """A new issue for a finding no issue matched."""
        return cls(
            project_id=project_id,
            branch=branch,
            rule_id=finding.rule_id,
            severity=finding.severity,
            category=finding.category,
            title=finding.title,
            description=finding.description,
            file_id=finding.file_id,
            path=finding.path,
            line=finding.line,
            line_hash=finding.line_hash,
            new_code=new_code,
            first_seen_job_id=job_id,
            last_seen_job_id=job_id,
            first_seen_at=at,
            last_seen_at=at,
            created_at=at,
            updated_at=at,
        )


def _guard(instance: Issue, new: Any) -> Any:
    new = to_issue_status(new)
    v.check_member("status", new, IssueStatus, entity=_ENTITY)
    if new != instance.status and new not in _MOVES[instance.status]:
        raise InvalidTransitionError("status", instance.status, new, entity=_ENTITY)
    return new


# ---------------------------------------------------------------------------- tracking


@attrs.frozen(kw_only=True)
class Finding:
    """What an analysis found, as the tracker matches it: the rule, where (file, path,
    line, and the hash of the line's content) and the message."""

    rule_id: RuleId
    severity: Severity
    category: Category
    title: str
    description: str = ""
    file_id: FileId | None = None
    path: str = ""
    line: int | None = None
    line_hash: str = ""


@attrs.frozen
class Tracking:
    """The outcome of :func:`track`: each finding with the issue it is (None: a new one),
    in the order of the findings, and the issues no finding matched."""

    matches: list[tuple[Finding, Issue | None]]
    missing: list[Issue]


_Key = Callable[[Finding | Issue], Hashable | None]


def _message(item: Finding | Issue) -> str:
    return item.title


def _stages() -> list[_Key]:
    """The matching stages, strict to loose; a key of None never matches."""

    def hashed(item: Finding | Issue) -> str | None:
        return item.line_hash or None

    return [
        # the same line content, message and file (its line may have moved)
        lambda i: (i.rule_id, i.file_id, i.line_hash, _message(i)) if hashed(i) else None,
        # the same line content in the file: the message changed
        lambda i: (i.rule_id, i.file_id, i.line_hash) if hashed(i) else None,
        # the same message at the same line: the line's content changed
        lambda i: (i.rule_id, i.file_id, _message(i), i.line),
        # the block moved to another file
        lambda i: (i.rule_id, i.line_hash, _message(i)) if hashed(i) else None,
        # the same message but its numbers, in the same file: the nearest one
        lambda i: (i.rule_id, i.file_id, masked_message(_message(i))),
    ]


def track(findings: Sequence[Finding], issues: Iterable[Issue]) -> Tracking:
    """Match an analysis' ``findings`` with a branch's ``issues`` (the ones that still ask
    for work and those resolved or closed lately): stage by stage, from the strictest key
    (rule, file, line content and message) to the loosest (rule, file and message with
    its numbers masked); within a stage, unresolved issues before closed ones, and between
    several candidates of one key the nearest line. Each issue matches one finding at
    most. Linear in the number of findings and issues."""
    pending = dict(enumerate(findings))
    candidates = sorted(issues, key=lambda i: (i.status is IssueStatus.CLOSED, str(i.id)))
    passes = (
        [i for i in candidates if i.status is not IssueStatus.CLOSED],
        [i for i in candidates if i.status is IssueStatus.CLOSED],
    )
    taken: set[int] = set()  # the issues matched so far, by object identity
    matched: dict[int, Issue] = {}
    for pool in passes:
        for key in _stages():
            if not pending or not pool:
                break
            # the keys the pending findings want, then the issues that have one of them
            wanting: dict[Hashable, list[int]] = defaultdict(list)
            for index, finding in pending.items():
                k = key(finding)
                if k is not None:
                    wanting[k].append(index)
            if not wanting:
                continue
            buckets: dict[Hashable, list[Issue]] = defaultdict(list)
            for issue in pool:
                if id(issue) not in taken:
                    k = key(issue)
                    if k is not None and k in wanting:
                        buckets[k].append(issue)
            for k, candidates_of_key in buckets.items():
                for index, issue in _nearest(wanting[k], candidates_of_key, pending):
                    matched[index] = issue
                    del pending[index]
                    taken.add(id(issue))
    return Tracking(
        matches=[(f, matched.get(n)) for n, f in enumerate(findings)],
        missing=[i for i in candidates if id(i) not in taken],
    )


_EXHAUSTIVE = 4096  # pairs: above it, one key's findings and issues pair in line order


def _nearest(
    indexes: list[int], issues: list[Issue], findings: dict[int, Finding]
) -> list[tuple[int, Issue]]:
    """Pairs of one key's findings and issues, the nearest lines first."""

    def line(item: Finding | Issue) -> int:
        return item.line or 0

    if len(indexes) == 1 and len(issues) == 1:
        return [(indexes[0], issues[0])]
    if len(indexes) * len(issues) > _EXHAUSTIVE:
        ordered_f = sorted(indexes, key=lambda n: (line(findings[n]), n))
        ordered_i = sorted(issues, key=lambda i: (line(i), str(i.id)))
        return list(zip(ordered_f, ordered_i, strict=False))
    pairs = sorted(
        (abs(line(findings[n]) - line(i)), line(i), str(i.id), n, i)
        for n in indexes
        for i in issues
    )
    taken_f: set[int] = set()
    taken_i: set[IssueId] = set()
    out: list[tuple[int, Issue]] = []
    for *_, n, issue in pairs:
        if n in taken_f or issue.id in taken_i:
            continue
        taken_f.add(n)
        taken_i.add(issue.id)
        out.append((n, issue))
    return out
