"""The audit trail on PostgreSQL: entries written by the schema's triggers (migration
0010), read and verified here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from adapters.postgres._sql import Repo
from adapters.postgres.errors import translated
from domain.audit import AuditEntry, ChainCheck, ChainLink, ChainVerifier
from domain.ids import OrganizationId

__all__ = ["NIL_ORGANIZATION", "PostgresAuditTrail"]

# the key of the chain of entries that belong to no organization in audit_chain_heads
NIL_ORGANIZATION = "00000000-0000-0000-0000-000000000000"

ENTRY_COLUMNS = (
    "organization_id, sequence, occurred_at, actor, entity, entity_id, action, before, after,"
    " previous_hash, hash"
)

SELECT_ENTRIES = f"""
SELECT {ENTRY_COLUMNS} FROM audit_log
WHERE (%(organization_id)s::uuid IS NULL OR organization_id = %(organization_id)s)
  AND (%(entity)s::text IS NULL OR entity = %(entity)s)
  AND (%(entity_id)s::text IS NULL OR entity_id = %(entity_id)s)
  AND (%(since)s::timestamptz IS NULL OR occurred_at >= %(since)s)
ORDER BY occurred_at DESC, id DESC
LIMIT %(limit)s
"""

SELECT_HEADS = """
SELECT NULLIF(organization_id, %(nil)s::uuid) AS organization_id, sequence, hash
FROM audit_chain_heads
WHERE %(organization_id)s::uuid IS NULL OR organization_id = %(organization_id)s
"""

# every entry of the chains asked for, in chain order, with the hash its fields give now
SELECT_LINKS = """
SELECT organization_id, sequence, previous_hash, hash,
       codeant_audit_hash(previous_hash, organization_id, sequence, occurred_at, actor,
                          entity, entity_id, action, before, after) AS recomputed
FROM audit_log
WHERE %(organization_id)s::uuid IS NULL OR organization_id = %(organization_id)s
ORDER BY organization_id NULLS FIRST, sequence, id
"""


class PostgresAuditTrail(Repo):
    async def entries(
        self,
        *,
        organization_id: OrganizationId | None = None,
        entity: str | None = None,
        entity_id: str | None = None,
        since: dt.datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        rows = await self._all(
            SELECT_ENTRIES,
            {
                "organization_id": organization_id,
                "entity": entity,
                "entity_id": entity_id,
                "since": since,
                "limit": limit,
            },
        )
        return [AuditEntry(**row) for row in rows]

    async def verify(self, organization_id: OrganizationId | None = None) -> list[ChainCheck]:
        params = {"organization_id": organization_id, "nil": NIL_ORGANIZATION}
        heads = {row["organization_id"]: row for row in await self._all(SELECT_HEADS, params)}
        checks: list[ChainCheck] = []
        verifier: ChainVerifier | None = None
        chain: Any = None
        conn = await self._connection()
        async with translated(), conn.cursor(name="codeant_audit_verify") as cur:
            await cur.execute(SELECT_LINKS, params)
            async for row in cur:
                if verifier is None or row["organization_id"] != chain:
                    if verifier is not None:
                        checks.append(_verdict(verifier, heads.pop(chain, None)))
                    chain = row["organization_id"]
                    verifier = ChainVerifier(chain)
                verifier.feed(
                    ChainLink(row["sequence"], row["previous_hash"], row["hash"], row["recomputed"])
                )
        if verifier is not None:
            checks.append(_verdict(verifier, heads.pop(chain, None)))
        # a chain whose head was recorded but none of whose entries remain
        checks.extend(_verdict(ChainVerifier(org), head) for org, head in heads.items())
        return checks


def _verdict(verifier: ChainVerifier, head: dict[str, Any] | None) -> ChainCheck:
    if head is None:
        return verifier.result(None, None)
    return verifier.result(head["sequence"], head["hash"])
