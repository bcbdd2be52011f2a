"""Organizations, users and their memberships."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from domain import validation as v
from domain._base import Entity, utc_now
from domain.enums import MemberRole, SubscriptionPlan, to_member_role, to_subscription_plan
from domain.ids import MemberId, OrganizationId, UserId, new_id
from domain.values import OrganizationSettings

__all__ = ["Organization", "OrganizationMember", "User"]


@attrs.define(kw_only=True, eq=False)
class Organization(Entity):
    """A tenant: owns projects, has members. Deleting it is a soft delete."""

    id: OrganizationId = attrs.field(factory=lambda: OrganizationId(new_id()))
    name: str = attrs.field(validator=v.text(max_length=255))
    slug: str = attrs.field(validator=v.slug(100))
    description: str | None = attrs.field(
        default=None, validator=v.optional(v.text(allow_empty=True))
    )
    settings: OrganizationSettings = attrs.Factory(OrganizationSettings)
    subscription_plan: SubscriptionPlan = attrs.field(
        default=SubscriptionPlan.FREE,
        converter=to_subscription_plan,
        validator=v.enum_member(SubscriptionPlan),
    )
    created_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    updated_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    deleted_at: dt.datetime | None = attrs.field(
        default=None, validator=v.optional(v.aware_datetime())
    )

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


@attrs.define(kw_only=True, eq=False)
class User(Entity):
    id: UserId = attrs.field(factory=lambda: UserId(new_id()))
    email: str = attrs.field(validator=v.email())
    username: str = attrs.field(validator=v.username())
    password_hash: str = attrs.field(validator=v.text(max_length=255))
    full_name: str | None = attrs.field(default=None, validator=v.optional(v.text(max_length=255)))
    avatar_url: str | None = attrs.field(
        default=None, validator=v.optional(v.text(max_length=2048))
    )
    email_verified: bool = False
    is_active: bool = True
    preferences: dict[str, Any] = attrs.field(factory=dict, validator=v.json_document())
    created_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    updated_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    last_login_at: dt.datetime | None = attrs.field(
        default=None, validator=v.optional(v.aware_datetime())
    )


@attrs.define(kw_only=True, eq=False)
class OrganizationMember(Entity):
    """A user's membership of an organization, with a role and fine-grained permissions."""

    id: MemberId = attrs.field(factory=lambda: MemberId(new_id()))
    organization_id: OrganizationId
    user_id: UserId
    role: MemberRole = attrs.field(
        default=MemberRole.MEMBER,
        converter=to_member_role,
        validator=v.enum_member(MemberRole),
    )
    permissions: dict[str, bool] = attrs.field(factory=dict)
    joined_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    invited_by: UserId | None = None

    @permissions.validator
    def _check_permissions(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, dict):
            v.fail(self, attribute, value, "must be a mapping of permission name to bool")
        for name, granted in value.items():
            if not isinstance(name, str) or not name or not isinstance(granted, bool):
                v.fail(self, attribute, {name: granted}, "entries must map a name to a bool")
