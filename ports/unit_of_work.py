"""The Unit of Work port: one transaction and the repositories that work inside it."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self

from domain.events import DomainEvent
from domain.ids import OrganizationId
from ports.repositories import (
    AnalysisRepository,
    AuditTrail,
    BranchRepository,
    FileIndexRepository,
    IssueRepository,
    MeasureRepository,
    MemberRepository,
    NewCodeRepository,
    OrganizationRepository,
    ProjectRepository,
    QualityGateRepository,
    RepositoryRepository,
    RuleConfigRepository,
    RuleRepository,
    UserRepository,
)

__all__ = ["UnitOfWork", "UnitOfWorkFactory"]


class UnitOfWork(Protocol):
    """A transaction over every repository.

    ``async with uow:`` begins a transaction; leaving the block rolls back unless
    :meth:`commit` ran, and always on an exception. Changes are invisible to other units
    until commit. Events added with :meth:`add_event` are written to the outbox in the
    same transaction as the changes, so they are delivered (after commit) if and only if
    the changes committed. :meth:`commit` and :meth:`rollback` end the transaction: a
    repository used after them in the same block raises RuntimeError. A unit can be
    entered again after it exits (a fresh transaction each time), which is how a retried
    service reuses it; it cannot be nested. :meth:`commit` raises
    :class:`~ports.errors.ConcurrencyError` if a concurrent unit committed a conflicting
    change first, and :class:`~ports.errors.DuplicateError` if a uniqueness rule would
    break; either way nothing is written. Every committed change is recorded in the audit
    trail (:attr:`audit`) under :attr:`actor`, given when the unit is made
    (``container.uow(actor="user:alice", ...)``).

    A unit's scope is stated when it is made, never implied. A unit made for one
    organization (``container.uow(organization_id=org.id)``) sees and writes that
    organization's rows only: another organization's rows are not there for it (lookups
    find nothing, writes that name them raise NotFoundError). Cross-organization work
    (migrations, housekeeping, the outbox relay, finding an organization by its slug)
    asks for the system scope (``container.uow(system=True)``); a unit made with neither
    is a ValidationError.
    """

    @property
    def organizations(self) -> OrganizationRepository: ...
    @property
    def users(self) -> UserRepository: ...
    @property
    def members(self) -> MemberRepository: ...
    @property
    def projects(self) -> ProjectRepository: ...
    @property
    def repositories(self) -> RepositoryRepository: ...
    @property
    def branches(self) -> BranchRepository: ...
    @property
    def files(self) -> FileIndexRepository: ...
    @property
    def analysis(self) -> AnalysisRepository: ...
    @property
    def rules(self) -> RuleRepository: ...
    @property
    def rule_configs(self) -> RuleConfigRepository: ...
    @property
    def issues(self) -> IssueRepository: ...
    @property
    def measures(self) -> MeasureRepository: ...
    @property
    def quality_gates(self) -> QualityGateRepository: ...
    @property
    def new_code(self) -> NewCodeRepository: ...
    @property
    def audit(self) -> AuditTrail: ...
    @property
    def actor(self) -> str | None:
        """Who the unit's changes are recorded as in the audit trail (None: unnamed)."""
        ...

    @property
    def organization_id(self) -> OrganizationId | None:
        """The organization whose rows alone the unit sees and writes (None: every
        organization's, in the system scope of cross-organization work)."""
        ...

    def for_organization(self, organization_id: OrganizationId) -> UnitOfWork:
        """A fresh unit like this one (the same store and actor) for ``organization_id``:
        how cross-organization work hands one organization's part to a unit that sees
        that organization alone. A unit of another organization cannot make one
        (NotFoundError: that organization is not there for it)."""
        ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...
    def sibling(self) -> UnitOfWork:
        """A fresh unit like this one (the same store, actor and organization), for work
        that runs beside it or after it: a long job's stages and its heartbeat."""
        ...

    def add_event(self, event: DomainEvent) -> None:
        """Collect ``event``; it reaches the outbox when the unit commits."""
        ...

    @property
    def events(self) -> Sequence[DomainEvent]:
        """Events collected in the current transaction, not yet committed."""
        ...


class UnitOfWorkFactory(Protocol):
    """Makes a fresh unit of work (the container's ``uow`` provider): for one organization
    (``organization_id=...``) or in the system scope (``system=True``), one of the two
    (see :class:`UnitOfWork`)."""

    def __call__(
        self, *, organization_id: OrganizationId | None = None, system: bool = False
    ) -> UnitOfWork: ...
