"""PostgreSQL repositories of organizations, users and memberships."""

from __future__ import annotations

from typing import Any

from adapters.postgres._sql import (
    Repo,
    columns,
    entity_params,
    fetch_page,
    insert_sql,
    to_entity,
    update_sql,
)
from domain.ids import OrganizationId, UserId
from domain.organizations import Organization, OrganizationMember, User
from ports.errors import ConcurrencyError, NotFoundError
from ports.pagination import Page, PageRequest
from ports.repositories import MEMBER_SORTS, ORGANIZATION_SORTS, USER_SORTS

__all__ = ["PostgresMemberRepository", "PostgresOrganizationRepository", "PostgresUserRepository"]

ORG_COLUMNS = (
    "id", "name", "slug", "description", "settings", "subscription_plan",
    "created_at", "updated_at", "deleted_at",
)  # fmt: skip
ORG_JSON = ("settings",)
INSERT_ORGANIZATION = insert_sql("organizations", ORG_COLUMNS)
SELECT_ORGANIZATION = (
    f"SELECT {columns(ORG_COLUMNS)} FROM organizations WHERE id = %(id)s AND deleted_at IS NULL"
)
# NO KEY UPDATE, not UPDATE: lockers queue behind each other (and behind updates of the
# row), yet inserts of rows that refer to the organization (their foreign-key check takes
# KEY SHARE) go on while the lock is held.
LOCK_ORGANIZATION = SELECT_ORGANIZATION + " FOR NO KEY UPDATE"
SELECT_ORGANIZATION_BY_SLUG = (
    f"SELECT {columns(ORG_COLUMNS)} FROM organizations WHERE slug = %(slug)s AND deleted_at IS NULL"
)
UPDATE_ORGANIZATION = update_sql(
    "organizations",
    ORG_COLUMNS,
    where="id = %(id)s AND updated_at = %(updated_at)s AND deleted_at IS NULL",
)
ORGANIZATION_EXISTS = (
    "SELECT 1 AS found FROM organizations WHERE id = %(id)s AND deleted_at IS NULL"
)
SOFT_DELETE_ORGANIZATION = (
    "UPDATE organizations SET deleted_at = clock_timestamp()"
    " WHERE id = %(id)s AND deleted_at IS NULL"
)
LIST_ORGANIZATIONS = f"SELECT {columns(ORG_COLUMNS)} FROM organizations WHERE deleted_at IS NULL"

USER_COLUMNS = (
    "id", "email", "username", "password_hash", "full_name", "avatar_url", "email_verified",
    "is_active", "preferences", "created_at", "updated_at", "last_login_at",
)  # fmt: skip
USER_JSON = ("preferences",)
INSERT_USER = insert_sql("users", USER_COLUMNS)
SELECT_USER = f"SELECT {columns(USER_COLUMNS)} FROM users WHERE id = %(id)s"
SELECT_USER_BY_EMAIL = f"SELECT {columns(USER_COLUMNS)} FROM users WHERE email = %(email)s"
SELECT_USER_BY_USERNAME = f"SELECT {columns(USER_COLUMNS)} FROM users WHERE username = %(username)s"
UPDATE_USER = update_sql("users", USER_COLUMNS, where="id = %(id)s AND updated_at = %(updated_at)s")
USER_EXISTS = "SELECT 1 AS found FROM users WHERE id = %(id)s"
LIST_USERS = f"SELECT {columns(USER_COLUMNS)} FROM users WHERE (is_active OR NOT %(active_only)s)"

MEMBER_COLUMNS = (
    "id", "organization_id", "user_id", "role", "permissions", "joined_at", "invited_by",
)  # fmt: skip
MEMBER_JSON = ("permissions",)
INSERT_MEMBER = insert_sql("organization_members", MEMBER_COLUMNS)
SELECT_MEMBER = (
    f"SELECT {columns(MEMBER_COLUMNS)} FROM organization_members"
    " WHERE organization_id = %(organization_id)s AND user_id = %(user_id)s"
)
UPDATE_MEMBER = (
    "UPDATE organization_members SET role = %(role)s, permissions = %(permissions)s,"
    " invited_by = %(invited_by)s, joined_at = %(joined_at)s"
    f" WHERE id = %(id)s RETURNING {columns(MEMBER_COLUMNS)}"
)
DELETE_MEMBER = (
    "DELETE FROM organization_members"
    " WHERE organization_id = %(organization_id)s AND user_id = %(user_id)s"
)
LIST_MEMBERS = (
    f"SELECT {columns(MEMBER_COLUMNS)} FROM organization_members"
    " WHERE organization_id = %(organization_id)s"
)
LIST_MEMBERSHIPS_OF_USER = (
    f"SELECT {columns(MEMBER_COLUMNS)} FROM organization_members"
    " WHERE user_id = %(user_id)s ORDER BY joined_at, id"
)


async def versioned_update(
    repo: Repo, query: str, params: dict[str, Any], exists: str, entity: str, cls: type[Any]
) -> Any:
    """Run an optimistic UPDATE; tell a missing row (NotFoundError) from a row changed
    since it was read (ConcurrencyError)."""
    row = await repo._one(query, params)
    if row is not None:
        return to_entity(row, cls)
    if await repo._one(exists, {"id": params["id"]}) is None:
        raise NotFoundError(entity, params["id"])
    raise ConcurrencyError(f"{entity} {params['id']} changed since it was read")


class PostgresOrganizationRepository(Repo):
    async def create(self, organization: Organization) -> Organization:
        row = await self._one(INSERT_ORGANIZATION, entity_params(organization, json=ORG_JSON))
        assert row is not None
        return to_entity(row, Organization)

    async def find_by_id(self, id: OrganizationId) -> Organization | None:
        row = await self._read_one(SELECT_ORGANIZATION, {"id": id})
        return to_entity(row, Organization) if row else None

    async def find_by_slug(self, slug: str) -> Organization | None:
        row = await self._read_one(SELECT_ORGANIZATION_BY_SLUG, {"slug": slug})
        return to_entity(row, Organization) if row else None

    async def lock(self, id: OrganizationId) -> Organization:
        row = await self._one(LOCK_ORGANIZATION, {"id": id})
        if row is None:
            raise NotFoundError("organization", id)
        return to_entity(row, Organization)

    async def update(self, organization: Organization) -> Organization:
        params = entity_params(organization, json=ORG_JSON)
        result: Organization = await versioned_update(
            self, UPDATE_ORGANIZATION, params, ORGANIZATION_EXISTS, "organization", Organization
        )
        return result

    async def delete(self, id: OrganizationId) -> None:
        if not await self._rowcount(SOFT_DELETE_ORGANIZATION, {"id": id}):
            raise NotFoundError("organization", id)

    async def list(self, page: PageRequest) -> Page[Organization]:
        return await fetch_page(
            self, LIST_ORGANIZATIONS, {}, page,
            sorts=ORGANIZATION_SORTS, text_sorts=frozenset({"name", "slug"}),
            convert=lambda r: to_entity(r, Organization),
        )  # fmt: skip


class PostgresUserRepository(Repo):
    async def create(self, user: User) -> User:
        row = await self._one(INSERT_USER, entity_params(user, json=USER_JSON))
        assert row is not None
        return to_entity(row, User)

    async def find_by_id(self, id: UserId) -> User | None:
        row = await self._read_one(SELECT_USER, {"id": id})
        return to_entity(row, User) if row else None

    async def find_by_email(self, email: str) -> User | None:
        row = await self._read_one(SELECT_USER_BY_EMAIL, {"email": email})
        return to_entity(row, User) if row else None

    async def find_by_username(self, username: str) -> User | None:
        row = await self._read_one(SELECT_USER_BY_USERNAME, {"username": username})
        return to_entity(row, User) if row else None

    async def update(self, user: User) -> User:
        params = entity_params(user, json=USER_JSON)
        result: User = await versioned_update(self, UPDATE_USER, params, USER_EXISTS, "user", User)
        return result

    async def list(self, page: PageRequest, *, active_only: bool = True) -> Page[User]:
        return await fetch_page(
            self, LIST_USERS, {"active_only": active_only}, page,
            sorts=USER_SORTS, text_sorts=frozenset({"username", "email"}),
            convert=lambda r: to_entity(r, User),
        )  # fmt: skip


class PostgresMemberRepository(Repo):
    async def add(self, member: OrganizationMember) -> OrganizationMember:
        row = await self._one(INSERT_MEMBER, entity_params(member, json=MEMBER_JSON))
        assert row is not None
        return to_entity(row, OrganizationMember)

    async def find(
        self, organization_id: OrganizationId, user_id: UserId
    ) -> OrganizationMember | None:
        row = await self._one(
            SELECT_MEMBER, {"organization_id": organization_id, "user_id": user_id}
        )
        return to_entity(row, OrganizationMember) if row else None

    async def update(self, member: OrganizationMember) -> OrganizationMember:
        row = await self._one(UPDATE_MEMBER, entity_params(member, json=MEMBER_JSON))
        if row is None:
            raise NotFoundError("organization member", member.id)
        return to_entity(row, OrganizationMember)

    async def remove(self, organization_id: OrganizationId, user_id: UserId) -> bool:
        params = {"organization_id": organization_id, "user_id": user_id}
        return await self._rowcount(DELETE_MEMBER, params) > 0

    async def list_by_organization(
        self, organization_id: OrganizationId, page: PageRequest
    ) -> Page[OrganizationMember]:
        return await fetch_page(
            self, LIST_MEMBERS, {"organization_id": organization_id}, page,
            sorts=MEMBER_SORTS, convert=lambda r: to_entity(r, OrganizationMember),
        )  # fmt: skip

    async def list_by_user(self, user_id: UserId) -> list[OrganizationMember]:
        rows = await self._all(LIST_MEMBERSHIPS_OF_USER, {"user_id": user_id})
        return [to_entity(r, OrganizationMember) for r in rows]
