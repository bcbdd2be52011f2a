"""Ports: the Protocols the core needs from the outside world, and their errors."""

from typing import TYPE_CHECKING, Any

from domain._exports import lazy_export

if TYPE_CHECKING:  # each name loads with its module when first used (see lazy_export)
    from ports.cache import Cache, Codec
    from ports.code_index import CodeIndex
    from ports.errors import (
        ConcurrencyError,
        DuplicateError,
        NotFoundError,
        PersistenceError,
        TransactionAbortedError,
        UnavailableError,
        ValidationError,
    )
    from ports.health import HealthCheck, HealthReport, HealthStatus
    from ports.outbox import Outbox, OutboxMessage
    from ports.pagination import Page, PageRequest
    from ports.repositories import (
        AnalysisRepository,
        BranchRepository,
        FileIndexRepository,
        MemberRepository,
        OrganizationRepository,
        ProjectRepository,
        ProjectSearchFilters,
        RepositoryRepository,
        RuleConfigRepository,
        RuleRepository,
        UserRepository,
    )
    from ports.runtime import Liveness
    from ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
    from ports.vectors import (
        CollectionInfo,
        Distance,
        Embedder,
        ScoredPoint,
        VectorFilter,
        VectorPoint,
        VectorStore,
    )

__all__ = [
    "AnalysisRepository",
    "BranchRepository",
    "Cache",
    "CodeIndex",
    "Codec",
    "CollectionInfo",
    "ConcurrencyError",
    "Distance",
    "DuplicateError",
    "Embedder",
    "FileIndexRepository",
    "HealthCheck",
    "HealthReport",
    "HealthStatus",
    "Liveness",
    "MemberRepository",
    "NotFoundError",
    "OrganizationRepository",
    "Outbox",
    "OutboxMessage",
    "Page",
    "PageRequest",
    "PersistenceError",
    "ProjectRepository",
    "ProjectSearchFilters",
    "RepositoryRepository",
    "RuleConfigRepository",
    "RuleRepository",
    "ScoredPoint",
    "TransactionAbortedError",
    "UnavailableError",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UserRepository",
    "ValidationError",
    "VectorFilter",
    "VectorPoint",
    "VectorStore",
]

_HOMES = {
    "cache": ("Cache", "Codec"),
    "code_index": ("CodeIndex",),
    "errors": (
        "ConcurrencyError",
        "DuplicateError",
        "NotFoundError",
        "PersistenceError",
        "TransactionAbortedError",
        "UnavailableError",
        "ValidationError",
    ),
    "health": ("HealthCheck", "HealthReport", "HealthStatus"),
    "outbox": ("Outbox", "OutboxMessage"),
    "pagination": ("Page", "PageRequest"),
    "repositories": (
        "AnalysisRepository",
        "BranchRepository",
        "FileIndexRepository",
        "MemberRepository",
        "OrganizationRepository",
        "ProjectRepository",
        "ProjectSearchFilters",
        "RepositoryRepository",
        "RuleConfigRepository",
        "RuleRepository",
        "UserRepository",
    ),
    "runtime": ("Liveness",),
    "unit_of_work": ("UnitOfWork", "UnitOfWorkFactory"),
    "vectors": (
        "CollectionInfo",
        "Distance",
        "Embedder",
        "ScoredPoint",
        "VectorFilter",
        "VectorPoint",
        "VectorStore",
    ),
}
"""The module of each name of ``__all__``."""


def __getattr__(name: str) -> Any:
    return lazy_export(__name__, _HOMES, name)
