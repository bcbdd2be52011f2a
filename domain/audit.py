"""The audit trail: who changed what, when, in a hash chain per organization.

Every change of stored data is recorded in the transaction that makes it: the actor named
by the unit of work, the time, the table and the id of the row, the action, and the
fields that changed before and after (rows written in bulk by an analysis are recorded as
a count per statement and job or repository). Entries are numbered in one chain per
organization (users and rules, which belong to none, form their own chain) and each
carries the hash of its fields and of the previous entry's hash, so that an entry changed,
removed or inserted later breaks the chain. :class:`ChainVerifier` checks one chain.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import attrs

from domain import validation as v
from domain.ids import OrganizationId

__all__ = [
    "NO_ORGANIZATION",
    "AuditAction",
    "AuditEntry",
    "ChainCheck",
    "ChainLink",
    "ChainVerifier",
    "entry_hash",
]

#: how the chain of entries that belong to no organization is named in reports
NO_ORGANIZATION = "(no organization)"


class AuditAction(enum.StrEnum):
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


@attrs.frozen
class AuditEntry:
    """One recorded change. ``before`` and ``after`` hold the changed fields (all of them
    for an insert or a delete; ``{"rows": n}`` for rows written in bulk); secrets appear
    as ``"[redacted]"``."""

    organization_id: OrganizationId | None
    sequence: int = attrs.field(validator=v.int_range(1, v.MAX_INT))
    occurred_at: dt.datetime = attrs.field(validator=v.aware_datetime())
    actor: str
    entity: str
    entity_id: str
    action: AuditAction = attrs.field(converter=AuditAction)
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    previous_hash: str
    hash: str


def entry_hash(
    previous_hash: str,
    organization_id: OrganizationId | None,
    sequence: int,
    occurred_at: dt.datetime,
    actor: str,
    entity: str,
    entity_id: str,
    action: AuditAction,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> str:
    """The SHA-256 of an entry's fields and the previous entry's hash, in a fixed text
    form (the in-memory store's; PostgreSQL computes its own in SQL)."""
    epoch = occurred_at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    micros = (epoch.days * 86_400 + epoch.seconds) * 1_000_000 + epoch.microseconds
    text = "\n".join(
        (
            previous_hash,
            "" if organization_id is None else str(organization_id),
            str(sequence),
            str(micros),
            actor,
            entity,
            entity_id,
            str(action),
            json.dumps(before, sort_keys=True, default=str),
            json.dumps(after, sort_keys=True, default=str),
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


@attrs.frozen
class ChainLink:
    """What verification needs of one entry: its number, the previous hash it names, the
    hash it carries, and the hash its fields give now."""

    sequence: int
    previous_hash: str
    hash: str
    recomputed: str


@attrs.frozen
class ChainCheck:
    """The verdict on one organization's chain. ``problem`` says where it first breaks
    (None when intact); ``head_hash`` is the hash of its last entry, worth keeping
    elsewhere: a chain rewritten in full from some entry on ends at another head."""

    organization_id: OrganizationId | None
    entries: int
    first_sequence: int | None
    last_sequence: int | None
    head_hash: str
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


class ChainVerifier:
    """Checks the links of one chain, fed in sequence order, against its recorded head.

    A chain may start after 1 (older entries dropped with their partitions); from its
    first entry on, numbers are consecutive, each entry names the hash of the one before,
    and each hash is that of the entry's fields."""

    def __init__(self, organization_id: OrganizationId | None) -> None:
        self._organization_id = organization_id
        self._entries = 0
        self._first: int | None = None
        self._last: ChainLink | None = None
        self._problem: str | None = None

    def feed(self, link: ChainLink) -> None:
        self._entries += 1
        if self._problem is not None:
            self._last = link
            return
        last = self._last
        if last is None:
            self._first = link.sequence
        elif link.sequence != last.sequence + 1:
            self._problem = (
                f"entries {last.sequence + 1}..{link.sequence - 1} are missing"
                if link.sequence > last.sequence + 1
                else f"entry {link.sequence} appears twice"
            )
        elif link.previous_hash != last.hash:
            self._problem = f"entry {link.sequence} does not follow entry {last.sequence}"
        if self._problem is None and link.recomputed != link.hash:
            self._problem = f"entry {link.sequence} was changed after it was recorded"
        self._last = link

    def result(self, head_sequence: int | None, head_hash: str | None) -> ChainCheck:
        """The verdict, given the chain's head as recorded when entries were sealed."""
        last = self._last
        problem = self._problem
        if problem is None and head_sequence is None and last is not None:
            problem = "the chain has no recorded head"
        if problem is None and head_sequence is not None:
            if last is None or last.sequence < head_sequence:
                after = 0 if last is None else last.sequence
                problem = f"entries {after + 1}..{head_sequence} are missing"
            elif last.sequence > head_sequence or last.hash != head_hash:
                problem = f"entry {last.sequence} is not the recorded head of the chain"
        return ChainCheck(
            organization_id=self._organization_id,
            entries=self._entries,
            first_sequence=self._first,
            last_sequence=None if last is None else last.sequence,
            head_hash="" if last is None else last.hash,
            problem=problem,
        )
