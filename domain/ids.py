"""Typed identifiers.

Each aggregate has its own identifier type so that a ``ProjectId`` cannot be passed where
an ``OrganizationId`` is expected (checked by mypy). Identifiers are UUIDs, except rules,
which are keyed by a stable textual id such as ``"complex-function"``.
"""

from __future__ import annotations

import uuid
from typing import NewType

__all__ = [
    "AnalysisResultId",
    "BranchId",
    "EmbeddingId",
    "EventId",
    "FileHistoryId",
    "FileId",
    "GateId",
    "IssueChangeId",
    "IssueId",
    "JobId",
    "MemberId",
    "MetricId",
    "OrganizationId",
    "ProjectId",
    "RepositoryId",
    "RuleConfigId",
    "RuleId",
    "UserId",
    "new_id",
]

OrganizationId = NewType("OrganizationId", uuid.UUID)
UserId = NewType("UserId", uuid.UUID)
MemberId = NewType("MemberId", uuid.UUID)
ProjectId = NewType("ProjectId", uuid.UUID)
RepositoryId = NewType("RepositoryId", uuid.UUID)
BranchId = NewType("BranchId", uuid.UUID)
FileId = NewType("FileId", uuid.UUID)
FileHistoryId = NewType("FileHistoryId", uuid.UUID)
JobId = NewType("JobId", uuid.UUID)
AnalysisResultId = NewType("AnalysisResultId", uuid.UUID)
MetricId = NewType("MetricId", uuid.UUID)
RuleConfigId = NewType("RuleConfigId", uuid.UUID)
EmbeddingId = NewType("EmbeddingId", uuid.UUID)
EventId = NewType("EventId", uuid.UUID)
IssueId = NewType("IssueId", uuid.UUID)
IssueChangeId = NewType("IssueChangeId", uuid.UUID)
GateId = NewType("GateId", uuid.UUID)
RuleId = NewType("RuleId", str)


def new_id() -> uuid.UUID:
    """A fresh random identifier (UUID version 4, as ``gen_random_uuid()`` makes)."""
    return uuid.uuid4()
