"""The in-memory unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self

from adapters.common import (
    UNIT_ENDED,
    CommitHook,
    check_reachable,
    check_unit_scope,
    run_commit_hook,
)
from adapters.memory.audit import MemoryAuditTrail
from adapters.memory.database import MemoryDatabase, Transaction
from adapters.memory.issues import (
    MemoryIssueRepository,
    MemoryMeasureRepository,
    MemoryNewCodeRepository,
    MemoryQualityGateRepository,
)
from adapters.memory.repositories import (
    MemoryAnalysisRepository,
    MemoryBranchRepository,
    MemoryFileIndexRepository,
    MemoryMemberRepository,
    MemoryOrganizationRepository,
    MemoryProjectRepository,
    MemoryRepositoryRepository,
    MemoryRuleConfigRepository,
    MemoryRuleRepository,
    MemoryUserRepository,
)
from domain.events import DomainEvent
from domain.ids import OrganizationId

__all__ = ["MemoryUnitOfWork"]


class MemoryUnitOfWork:
    """A unit of work over a :class:`MemoryDatabase` (see ports.unit_of_work.UnitOfWork).

    Each ``async with`` opens a :class:`Transaction`; repositories used outside one raise
    RuntimeError, and so do those used after a commit or rollback inside the block (the
    transaction ended). ``on_commit`` receives the events of each commit once it
    succeeded. A unit opened for ``organization_id`` sees and writes only that
    organization's rows; one made with ``system=True`` every row. Each commit records its
    changes in the store's audit trail under ``actor`` (``db:memory`` when None).
    """

    def __init__(
        self,
        database: MemoryDatabase,
        *,
        on_commit: CommitHook | None = None,
        actor: str | None = None,
        organization_id: OrganizationId | None = None,
        system: bool = False,
    ) -> None:
        check_unit_scope(actor, organization_id, system)
        self._actor = actor
        self._organization_id = organization_id
        self._db = database
        self._on_commit = on_commit
        self._tx: Transaction | None = None
        self._events: list[DomainEvent] = []
        self.organizations = MemoryOrganizationRepository(self._active, database)
        self.users = MemoryUserRepository(self._active, database)
        self.members = MemoryMemberRepository(self._active, database)
        self.projects = MemoryProjectRepository(self._active, database)
        self.repositories = MemoryRepositoryRepository(self._active, database)
        self.branches = MemoryBranchRepository(self._active, database)
        self.files = MemoryFileIndexRepository(self._active, database)
        self.analysis = MemoryAnalysisRepository(self._active, database)
        self.rules = MemoryRuleRepository(self._active, database)
        self.rule_configs = MemoryRuleConfigRepository(self._active, database)
        self.issues = MemoryIssueRepository(self._active, database)
        self.measures = MemoryMeasureRepository(self._active, database)
        self.quality_gates = MemoryQualityGateRepository(self._active, database)
        self.new_code = MemoryNewCodeRepository(self._active, database)
        self.audit = MemoryAuditTrail(database.audit, organization_id)

    @property
    def actor(self) -> str | None:
        return self._actor

    @property
    def organization_id(self) -> OrganizationId | None:
        return self._organization_id

    def _active(self) -> Transaction:
        if self._tx is None:
            raise RuntimeError("the unit of work is not active: use it inside 'async with'")
        if self._tx.closed:
            raise RuntimeError(UNIT_ENDED)
        return self._tx

    async def __aenter__(self) -> Self:
        if self._tx is not None:
            raise RuntimeError("the unit of work is already active; units cannot be nested")
        self._tx = self._db.begin(self._organization_id)
        self._events = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.rollback()
        finally:
            self._tx = None

    async def commit(self) -> None:
        tx = self._active()
        events, self._events = self._events, []
        tx.commit(events, actor=self._actor)
        await run_commit_hook(self._on_commit, events)

    async def rollback(self) -> None:
        if self._tx is not None and not self._tx.closed:
            self._tx.rollback()
        self._events = []

    def sibling(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(
            self._db,
            on_commit=self._on_commit,
            actor=self._actor,
            organization_id=self._organization_id,
            system=self._organization_id is None,
        )

    def for_organization(self, organization_id: OrganizationId) -> MemoryUnitOfWork:
        check_reachable(self._organization_id, organization_id)
        return MemoryUnitOfWork(
            self._db, on_commit=self._on_commit, actor=self._actor, organization_id=organization_id
        )

    def add_event(self, event: DomainEvent) -> None:
        self._active()
        self._events.append(event)

    @property
    def events(self) -> Sequence[DomainEvent]:
        return tuple(self._events)
