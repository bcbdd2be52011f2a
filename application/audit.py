"""The audit trail: who changed what and when, and whether the record is intact."""

from __future__ import annotations

import datetime as dt

from application._boundary import service
from application._lookup import require_organization
from domain.audit import AuditEntry, ChainCheck
from domain.ids import OrganizationId
from domain.validation import check_int, check_text
from ports.unit_of_work import UnitOfWork

__all__ = ["MAX_AUDIT_ENTRIES", "audit_entries", "verify_audit_trail"]

MAX_AUDIT_ENTRIES = 10_000


@service
async def audit_entries(
    uow: UnitOfWork,
    organization_id: OrganizationId | None = None,
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """The latest ``limit`` entries, newest first: of one organization (every one when
    None), one table (``entity``, such as ``projects``) and row, at or after ``since``."""
    check_int("limit", limit, 1, MAX_AUDIT_ENTRIES)
    if entity is not None:
        check_text("entity", entity, max_length=63)
    if entity_id is not None:
        check_text("entity_id", entity_id, max_length=255)
    async with uow:
        if organization_id is not None:
            await require_organization(uow, organization_id)
        return await uow.audit.entries(
            organization_id=organization_id,
            entity=entity,
            entity_id=entity_id,
            since=since,
            limit=limit,
        )


@service
async def verify_audit_trail(
    uow: UnitOfWork, organization_id: OrganizationId | None = None
) -> list[ChainCheck]:
    """Check each organization's chain of entries (or that one's): every entry is there,
    unchanged, in order, up to the recorded head."""
    async with uow:
        return await uow.audit.verify(organization_id)
