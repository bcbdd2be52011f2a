"""The audit chain's verification, and tampering with the in-memory trail."""

from __future__ import annotations

import attrs

from adapters.memory.database import MemoryDatabase
from adapters.memory.unit_of_work import MemoryUnitOfWork
from domain.audit import ChainLink, ChainVerifier
from domain.organizations import Organization
from domain.projects import Project


def links(*sequences: int) -> list[ChainLink]:
    """A well-formed chain over ``sequences`` (hashes ``h<n>``)."""
    out, previous = [], ""
    for n in sequences:
        out.append(ChainLink(n, previous, f"h{n}", f"h{n}"))
        previous = f"h{n}"
    return out


def verdict(chain: list[ChainLink], head: tuple[int, str] | None) -> str | None:
    verifier = ChainVerifier(None)
    for link in chain:
        verifier.feed(link)
    return verifier.result(*(head or (None, None))).problem


def test_a_well_formed_chain_is_intact() -> None:
    """Consecutive numbers, each naming the previous hash, ending at the head: intact."""
    assert verdict(links(1, 2, 3), (3, "h3")) is None


def test_a_chain_may_start_after_its_first_entry() -> None:
    """Entries dropped with an old partition leave a chain that starts later: intact."""
    chain = links(4, 5, 6)
    chain[0] = attrs.evolve(chain[0], previous_hash="h3")
    assert verdict(chain, (6, "h6")) is None


def test_each_kind_of_break_is_named() -> None:
    """A gap, a repeat, a broken link, a changed entry and a wrong head each say so."""
    assert verdict(links(1, 3), (3, "h3")) == "entries 2..2 are missing"
    chain = links(1, 2)
    assert verdict([*chain, chain[1]], (2, "h2")) == "entry 2 appears twice"
    relinked = links(1, 2, 3)
    relinked[2] = attrs.evolve(relinked[2], previous_hash="other")
    assert verdict(relinked, (3, "h3")) == "entry 3 does not follow entry 2"
    changed = links(1, 2)
    changed[1] = attrs.evolve(changed[1], recomputed="different")
    assert verdict(changed, (2, "h2")) == "entry 2 was changed after it was recorded"
    assert verdict(links(1, 2), (3, "h3")) == "entries 3..3 are missing"
    assert verdict(links(1, 2), (2, "other")) == "entry 2 is not the recorded head of the chain"
    assert verdict(links(1), None) == "the chain has no recorded head"
    assert verdict([], (2, "h2")) == "entries 1..2 are missing"


async def memory_trail() -> MemoryDatabase:
    database = MemoryDatabase()
    org = Organization(name="Acme", slug="acme")
    async with MemoryUnitOfWork(database, actor="user:alice", system=True) as uow:
        await uow.organizations.create(org)
        for slug in ("one", "two"):
            await uow.projects.create(
                Project(organization_id=org.id, name=slug, slug=slug, repository_url="u")
            )
        await uow.commit()
    return database


async def problems(database: MemoryDatabase) -> list[str | None]:
    async with MemoryUnitOfWork(database, system=True) as uow:
        return [c.problem for c in await uow.audit.verify()]


async def test_tampering_with_the_memory_trail_is_found() -> None:
    """The in-memory trail is held to the same chain: a changed entry, a removed one and
    a removed tail are each found."""
    database = await memory_trail()
    assert await problems(database) == [None]
    entries = database.audit.entries
    original = entries[1]
    entries[1] = attrs.evolve(original, actor="user:mallory")
    assert await problems(database) == ["entry 2 was changed after it was recorded"]
    del entries[1]
    assert await problems(database) == ["entries 2..2 are missing"]
    entries.insert(1, original)
    entries.pop()
    assert await problems(database) == ["entries 3..3 are missing"]
