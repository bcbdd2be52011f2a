"""The audit trail of the in-memory store: what PostgreSQL's triggers record (migration
0010), recorded when a transaction commits."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from adapters.memory.tenancy import Lookup, organization_of
from adapters.serialization import unstructure
from domain.audit import (
    AuditAction,
    AuditEntry,
    ChainCheck,
    ChainLink,
    ChainVerifier,
    entry_hash,
)
from domain.ids import OrganizationId

__all__ = ["AuditLog", "Change", "MemoryAuditTrail"]

# rows written in bulk are recorded per owner: how many rows a statement wrote
BULK_OWNERS = {
    "file_index": "repository_id",
    "file_history": "job_id",
    "analysis_results": "job_id",
    "code_metrics": "job_id",
}
# rows inserted in bulk by analyses, recorded per owner; their updates row by row
BULK_INSERT_OWNERS = {
    "issues": "project_id",
    "issue_changes": "job_id",
    "analysis_measures": "job_id",
    "analysis_gates": "job_id",
}
BOOKKEEPING = frozenset({"updated_at", "heartbeat_at", "lease_expires_at"})
# fields whose change alone is recorded by no entry (an issue an analysis found again)
QUIET = {"issues": frozenset({"last_seen_job_id", "last_seen_at"})}
SECRETS = frozenset({"password_hash"})
REDACTED = "[redacted]"


@attrs.frozen
class Change:
    """A row as the transaction found it (None: inserted) and leaves it (None: deleted)."""

    table: str
    before: Any
    after: Any


class AuditLog:
    """Every sealed entry, and the head of each organization's chain."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []
        self.heads: dict[OrganizationId | None, tuple[int, str]] = {}

    def record(
        self, changes: Iterable[Change], *, actor: str | None, now: dt.datetime, lookup: Lookup
    ) -> None:
        """Append the entries of one committed transaction."""
        who = actor or "db:memory"
        bulk: Counter[tuple[OrganizationId | None, str, str, AuditAction]] = Counter()
        pending: list[tuple[Any, str, str, AuditAction, Any, Any]] = []
        for change in changes:
            row = change.after if change.after is not None else change.before
            action = (
                AuditAction.INSERT
                if change.before is None
                else AuditAction.DELETE
                if change.after is None
                else AuditAction.UPDATE
            )
            organization = organization_of(change.table, row, lookup)
            owner = BULK_OWNERS.get(change.table) or (
                BULK_INSERT_OWNERS.get(change.table) if action is AuditAction.INSERT else None
            )
            if owner is not None:
                owner_id = getattr(row, owner)
                key = (organization, change.table, "" if owner_id is None else str(owner_id))
                bulk[(*key, action)] += 1
                continue
            before, after = _fields(change.before), _fields(change.after)
            if action is AuditAction.UPDATE:
                assert before is not None and after is not None
                changed = [k for k in after if after[k] != before.get(k)]
                if not set(changed) - QUIET.get(change.table, frozenset()):
                    continue
                before = {k: before.get(k) for k in changed}
                after = {k: after[k] for k in changed}
            pending.append(
                (organization, change.table, str(row.id), action, _redact(before), _redact(after))
            )
        for (organization, table, owner_id, action), count in bulk.items():
            pending.append(
                (organization, table, owner_id, AuditAction(action), None, {"rows": count})
            )
        for organization, table, entity_id, action, before, after in pending:
            self._seal(organization, now, who, table, entity_id, action, before, after)

    def _seal(
        self,
        organization: OrganizationId | None,
        now: dt.datetime,
        actor: str,
        entity: str,
        entity_id: str,
        action: AuditAction,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> None:
        sequence, previous = self.heads.get(organization, (0, ""))
        sequence += 1
        digest = entry_hash(
            previous, organization, sequence, now, actor, entity, entity_id, action, before, after
        )
        self.entries.append(
            AuditEntry(
                organization_id=organization,
                sequence=sequence,
                occurred_at=now,
                actor=actor,
                entity=entity,
                entity_id=entity_id,
                action=action,
                before=before,
                after=after,
                previous_hash=previous,
                hash=digest,
            )
        )
        self.heads[organization] = (sequence, digest)


def _fields(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    data = unstructure(row)
    return {k: value for k, value in data.items() if k not in BOOKKEEPING}


def _redact(fields: dict[str, Any] | None) -> dict[str, Any] | None:
    if fields is None:
        return None
    return {k: REDACTED if k in SECRETS else value for k, value in fields.items()}


class MemoryAuditTrail:
    """The audit trail port over a store's :class:`AuditLog` (committed entries only), as
    a unit for ``scope`` sees it: that organization's chain (None: every chain)."""

    def __init__(self, log: AuditLog, scope: OrganizationId | None = None) -> None:
        self._log = log
        self._scope = scope

    def _wanted(
        self, organization_id: OrganizationId | None
    ) -> Callable[[OrganizationId | None], bool]:
        """Whether a chain is the one asked for (every one when None) and one the unit
        sees (its organization's only, as row-level security has it)."""
        return lambda chain: (
            (organization_id is None or chain == organization_id)
            and (self._scope is None or chain == self._scope)
        )

    async def entries(
        self,
        *,
        organization_id: OrganizationId | None = None,
        entity: str | None = None,
        entity_id: str | None = None,
        since: dt.datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        wanted = self._wanted(organization_id)
        found = [
            e
            for e in reversed(self._log.entries)
            if wanted(e.organization_id)
            and (entity is None or e.entity == entity)
            and (entity_id is None or e.entity_id == entity_id)
            and (since is None or e.occurred_at >= since)
        ]
        found.sort(key=lambda e: e.occurred_at, reverse=True)
        return found[:limit]

    async def verify(self, organization_id: OrganizationId | None = None) -> list[ChainCheck]:
        wanted = self._wanted(organization_id)
        chains: dict[OrganizationId | None, list[AuditEntry]] = {}
        for entry in self._log.entries:
            if wanted(entry.organization_id):
                chains.setdefault(entry.organization_id, []).append(entry)
        for org in self._log.heads:
            if wanted(org):
                chains.setdefault(org, [])
        checks = []
        for org in sorted(chains, key=lambda o: (o is not None, str(o))):
            verifier = ChainVerifier(org)
            for e in sorted(chains[org], key=lambda e: e.sequence):
                recomputed = entry_hash(
                    e.previous_hash, e.organization_id, e.sequence, e.occurred_at, e.actor,
                    e.entity, e.entity_id, e.action, e.before, e.after,
                )  # fmt: skip
                verifier.feed(ChainLink(e.sequence, e.previous_hash, e.hash, recomputed))
            head = self._log.heads.get(org)
            checks.append(verifier.result(*(head if head is not None else (None, None))))
        return checks
