"""Use cases of organizations, users and memberships."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from application._boundary import service
from application._lookup import require_organization, require_user
from domain.enums import MemberRole, SubscriptionPlan
from domain.errors import ValidationError
from domain.events import MemberAdded, MemberRemoved, OrganizationRegistered
from domain.ids import OrganizationId, UserId
from domain.organizations import Organization, OrganizationMember, User
from domain.validation import check_instance
from domain.values import OrganizationSettings
from ports.errors import NotFoundError
from ports.pagination import MAX_PAGE_SIZE, PageRequest
from ports.unit_of_work import UnitOfWork

__all__ = [
    "add_member",
    "change_member_role",
    "modify_organization_settings",
    "register_organization",
    "register_user",
    "remove_member",
    "update_organization_settings",
]


@service
async def register_user(
    uow: UnitOfWork,
    *,
    email: str,
    username: str,
    password_hash: str,
    full_name: str | None = None,
) -> User:
    """Create a user. The e-mail is stored lower-cased; a taken e-mail or username raises
    :class:`~ports.errors.DuplicateError`."""
    user = User(
        email=email.lower() if isinstance(email, str) else email,
        username=username,
        password_hash=password_hash,
        full_name=full_name,
    )
    async with uow:
        created = await uow.users.create(user)
        await uow.commit()
    return created


@service
async def register_organization(
    uow: UnitOfWork,
    *,
    name: str,
    slug: str,
    description: str | None = None,
    subscription_plan: SubscriptionPlan = SubscriptionPlan.FREE,
    settings: OrganizationSettings | None = None,
    owner_id: UserId | None = None,
) -> Organization:
    """Create an organization (OrganizationRegistered). With ``owner_id``, that user (who
    must exist) joins it as an OWNER (MemberAdded). A taken slug raises DuplicateError."""
    organization = Organization(
        name=name,
        slug=slug,
        description=description,
        subscription_plan=subscription_plan,
        settings=OrganizationSettings() if settings is None else _settings(settings),
    )
    owner = (
        None
        if owner_id is None
        else OrganizationMember(
            organization_id=organization.id, user_id=owner_id, role=MemberRole.OWNER
        )
    )
    async with uow:
        if owner is not None:
            await require_user(uow, owner.user_id)
        created = await uow.organizations.create(organization)
        uow.add_event(OrganizationRegistered(organization_id=created.id, slug=created.slug))
        if owner is not None:
            await uow.members.add(owner)
            uow.add_event(_member_added(owner))
        await uow.commit()
    return created


@service
async def update_organization_settings(
    uow: UnitOfWork, organization_id: OrganizationId, settings: OrganizationSettings
) -> Organization:
    """Replace the settings of an organization; returns it as stored. To change some of
    the settings read before, use :func:`modify_organization_settings` instead, so that a
    concurrent change is not overwritten."""
    checked = _settings(settings)
    async with uow:
        organization = await uow.organizations.lock(organization_id)
        updated = await uow.organizations.update(attrs.evolve(organization, settings=checked))
        await uow.commit()
    return updated


@service
async def modify_organization_settings(
    uow: UnitOfWork,
    organization_id: OrganizationId,
    change: Callable[[OrganizationSettings], OrganizationSettings],
) -> Organization:
    """Change an organization's settings atomically: ``change`` gets the settings as they
    are, read under the organization's lock, and returns the new ones, which are written
    in the same unit of work. Concurrent calls queue on the lock, so none is lost and none
    fails for having read settings another call changed.

    ``change`` runs once, while the lock is held: it must be quick and do no I/O. What it
    raises propagates and nothing is written; what it returns must be
    OrganizationSettings (else ValidationError on ``settings``). Returns the organization
    as stored; when the settings are unchanged, nothing is written.
    """
    if not callable(change):
        raise ValidationError("change", change, "must be a function", entity="Organization")
    async with uow:
        organization = await uow.organizations.lock(organization_id)
        settings = _settings(change(organization.settings))
        if settings == organization.settings:
            return organization
        updated = await uow.organizations.update(attrs.evolve(organization, settings=settings))
        await uow.commit()
    return updated


@service
async def add_member(
    uow: UnitOfWork,
    organization_id: OrganizationId,
    user_id: UserId,
    *,
    role: MemberRole = MemberRole.MEMBER,
    permissions: dict[str, bool] | None = None,
    invited_by: UserId | None = None,
) -> OrganizationMember:
    """Make an existing user a member of an existing organization (MemberAdded). An
    existing membership raises DuplicateError."""
    member = OrganizationMember(
        organization_id=organization_id,
        user_id=user_id,
        role=role,
        permissions=permissions if permissions is not None else {},
        invited_by=invited_by,
    )
    async with uow:
        await require_organization(uow, organization_id)
        await require_user(uow, user_id)
        added = await uow.members.add(member)
        uow.add_event(_member_added(added))
        await uow.commit()
    return added


@service
async def change_member_role(
    uow: UnitOfWork, organization_id: OrganizationId, user_id: UserId, role: MemberRole
) -> OrganizationMember:
    """Give a member another role. Demoting the organization's last OWNER raises a
    ValidationError on ``role``; an unchanged role writes nothing. The check runs under
    the organization's lock, so concurrent demotions and removals cannot together take
    away every owner: the later one is refused."""
    async with uow:
        await uow.organizations.lock(organization_id)
        member = await _require_member(uow, organization_id, user_id)
        changed = attrs.evolve(member, role=role)
        if changed.role is member.role:
            return member
        if member.role is MemberRole.OWNER and not await _has_other_owner(uow, organization_id):
            raise ValidationError(
                "role",
                changed.role,
                "would leave the organization without an owner",
                entity="OrganizationMember",
            )
        updated = await uow.members.update(changed)
        await uow.commit()
    return updated


@service
async def remove_member(uow: UnitOfWork, organization_id: OrganizationId, user_id: UserId) -> None:
    """End a membership (MemberRemoved). Removing the organization's last OWNER raises a
    ValidationError on ``user_id``; as in :func:`change_member_role`, the check runs
    under the organization's lock."""
    async with uow:
        await uow.organizations.lock(organization_id)
        member = await _require_member(uow, organization_id, user_id)
        if member.role is MemberRole.OWNER and not await _has_other_owner(uow, organization_id):
            raise ValidationError(
                "user_id",
                user_id,
                "is the last owner of the organization and cannot be removed",
                entity="OrganizationMember",
            )
        await uow.members.remove(organization_id, user_id)
        uow.add_event(MemberRemoved(organization_id=organization_id, user_id=user_id))
        await uow.commit()


def _settings(value: Any) -> OrganizationSettings:
    return check_instance("settings", value, OrganizationSettings, entity="Organization")


def _member_added(member: OrganizationMember) -> MemberAdded:
    return MemberAdded(
        organization_id=member.organization_id, user_id=member.user_id, role=member.role
    )


async def _require_member(
    uow: UnitOfWork, organization_id: OrganizationId, user_id: UserId
) -> OrganizationMember:
    member = await uow.members.find(organization_id, user_id)
    if member is None:
        raise NotFoundError("organization member", (organization_id, user_id))
    return member


async def _has_other_owner(uow: UnitOfWork, organization_id: OrganizationId) -> bool:
    """Whether the organization has at least two OWNER members; call it holding the
    organization's lock, or a concurrent unit may change the answer before commit."""
    owners = 0
    request = PageRequest(limit=MAX_PAGE_SIZE)
    while True:
        page = await uow.members.list_by_organization(organization_id, request)
        owners += sum(1 for m in page.items if m.role is MemberRole.OWNER)
        if owners > 1:
            return True
        if page.next_cursor is None:
            return False
        request = attrs.evolve(request, cursor=page.next_cursor)
