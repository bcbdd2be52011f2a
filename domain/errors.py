"""Errors raised by the domain when an invariant would be broken."""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = [
    "AnalysisInProgressError",
    "DomainError",
    "InvalidTransitionError",
    "ProjectTakenError",
    "ValidationError",
]


_SHOWN = reprlib.Repr()
_SHOWN.maxlevel = 3  # a value nested without end is shown, not recursed into
_SHOWN.maxstring = _SHOWN.maxother = 120


class DomainError(Exception):
    """Base class of every error the domain raises."""


class ValidationError(DomainError, ValueError):
    """A value breaks an invariant: names the field, the offending value and the rule."""

    def __init__(self, field: str, value: Any, reason: str, *, entity: str | None = None) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        self.entity = entity
        shown = _SHOWN.repr(value)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        where = f"{entity}.{field}" if entity else field
        super().__init__(f"{where}: {reason} (got {shown})")


class InvalidTransitionError(ValidationError):
    """A state machine was asked to move along an edge it does not have."""

    def __init__(self, field: str, current: Any, target: Any, *, entity: str | None = None) -> None:
        self.current = current
        self.target = target
        super().__init__(
            field, target, f"cannot move from {current!s} to {target!s}", entity=entity
        )


class AnalysisInProgressError(DomainError):
    """A live job already analyses the project: a second one would only repeat its work."""

    def __init__(self, project: str, job_id: object, owner: str | None, since: object) -> None:
        self.project = project
        self.job_id = job_id
        self.owner = owner
        super().__init__(
            f"{project} is being analysed by job {job_id} (owner {owner or 'unknown'},"
            f" running since {since}); wait for it to end, or stop that process"
        )


class ProjectTakenError(ValidationError):
    """The project a name leads to holds another repository: a second one must not join
    it under the same name. ``holder`` is that repository's origin URL, else its path."""

    def __init__(self, field: str, name: str, project: str, holder: str) -> None:
        self.project = project
        self.holder = holder
        super().__init__(field, name, f"project {project!r} holds another repository ({holder})")
