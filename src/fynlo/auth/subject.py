"""The authenticated caller: who, with which permissions, over which restaurants."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import bindparam, exists, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import AuditActor
from fynlo.auth.tokens import AccessClaims, InvalidToken
from fynlo.authz.permissions import effective_permissions
from fynlo.authz.roles import Role
from fynlo.authz.scope import TenantScope
from fynlo.db.row_security import apply_tenant_scope
from fynlo.kit.errors import MissingAnyPermission, PermissionDenied, Unauthorized
from fynlo.kit.routing import client_ip
from fynlo.kit.unit_of_work import get_session
from fynlo.models import PosDevice, RefreshToken, User, restaurant_owners
from fynlo.runtime import get_runtime


@dataclass(frozen=True)
class Subject:
    user: User
    permissions: frozenset[str]
    scope: TenantScope
    actor: AuditActor
    pin_session: bool = False
    device_id: uuid.UUID | None = None
    session_family: uuid.UUID | None = None

    @property
    def id(self) -> uuid.UUID:
        return self.user.id

    @property
    def role(self) -> str:
        return self.user.role

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise PermissionDenied(permission)


def request_actor(request: Request, user_id: uuid.UUID | None = None) -> AuditActor:
    return AuditActor(
        user_id=user_id,
        ip_address=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )


async def scope_for(
    session: AsyncSession, user: User, pin_restaurant: uuid.UUID | None
) -> TenantScope:
    if pin_restaurant is not None:
        return TenantScope(restaurant_ids=frozenset({pin_restaurant}))
    if user.role == Role.PLATFORM_OWNER:
        return TenantScope(platform_id=user.platform_id)
    ids = {user.restaurant_id} if user.restaurant_id else set()
    if user.role == Role.RESTAURANT_OWNER:
        owned = await session.scalars(
            select(restaurant_owners.c.restaurant_id).where(restaurant_owners.c.user_id == user.id)
        )
        ids.update(owned)
    return TenantScope(restaurant_ids=frozenset(i for i in ids if i is not None))


# Built once: constructing a statement costs more CPU than running it on a hot path.
_USER = select(User, true()).where(User.id == bindparam("user_id"))
_USER_AND_SESSION = select(
    User,
    exists().where(
        RefreshToken.family_id == bindparam("family_id"), RefreshToken.revoked_at.is_(None)
    ),
).where(User.id == bindparam("user_id"))


async def _user_and_session(
    session: AsyncSession, user_id: uuid.UUID, family_id: uuid.UUID | None
) -> tuple[User | None, bool]:
    """The caller's account, and whether their sign-in session still stands, in one query.

    Logging out (or a detected refresh-token theft) revokes the family: its access tokens
    die with it instead of living out their 15 minutes.
    """
    if family_id is None:
        result = await session.execute(_USER, {"user_id": user_id})
    else:
        result = await session.execute(
            _USER_AND_SESSION, {"user_id": user_id, "family_id": family_id}
        )
    row = result.first()
    if row is None:
        return None, False
    return row[0], bool(row[1])


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <access token>'")
    return token.strip()


async def subject_for_claims(
    session: AsyncSession, claims: AccessClaims, actor: AuditActor
) -> Subject:
    """The caller an access token stands for, checked against the database: an account
    deactivated, signed out everywhere, or a session revoked since the token was issued is
    refused. The rest of the transaction runs under the caller's tenant scope.

    Shared by HTTP requests and Socket.IO connections and messages.
    """
    user, session_alive = await _user_and_session(session, claims.user_id, claims.family_id)
    if user is None:
        raise InvalidToken("Token refers to an unknown user")
    if not user.is_active:
        raise Unauthorized("This account has been deactivated")
    if user.token_version != claims.token_version:
        raise InvalidToken("Token has been revoked; sign in again")
    if not session_alive:
        raise InvalidToken("This session has been signed out; sign in again")
    if claims.pin_session:
        device = await session.get(PosDevice, claims.device_id)
        if device is None or not device.is_active or device.restaurant_id != claims.restaurant_id:
            raise InvalidToken("This till is no longer bound to the restaurant")
        if user.restaurant_id != claims.restaurant_id:
            raise InvalidToken("Token does not match the user's restaurant")
    scope = await scope_for(session, user, claims.restaurant_id if claims.pin_session else None)
    await apply_tenant_scope(session, scope)
    return Subject(
        user=user,
        permissions=effective_permissions(
            user.role, user.permissions, pin_session=claims.pin_session
        ),
        scope=scope,
        actor=replace(actor, user_id=user.id),
        pin_session=claims.pin_session,
        device_id=claims.device_id,
        session_family=claims.family_id,
    )


async def current_subject(
    request: Request, session: Annotated[AsyncSession, Depends(get_session)]
) -> Subject:
    cached: Subject | None = getattr(request.state, "subject", None)
    if cached is not None:
        return cached
    claims = get_runtime(request).tokens.read_access(_bearer(request))
    subject = await subject_for_claims(session, claims, request_actor(request))
    request.state.subject = subject
    return subject


CurrentSubject = Annotated[Subject, Depends(current_subject)]


def require_permission(permission: str) -> Callable[..., Awaitable[Subject]]:
    """Dependency: the caller, who must hold ``permission`` (403 naming it otherwise)."""

    async def dependency(subject: CurrentSubject) -> Subject:
        subject.require(permission)
        return subject

    dependency.__name__ = f"require_{permission.replace('.', '_')}"
    return dependency


def require_any_permission(*permissions: str) -> Callable[..., Awaitable[Subject]]:
    """Dependency: the caller, who must hold at least one of ``permissions``."""

    async def dependency(subject: CurrentSubject) -> Subject:
        if not any(subject.can(p) for p in permissions):
            raise MissingAnyPermission(permissions)
        return subject

    dependency.__name__ = "require_any_" + "_".join(p.replace(".", "_") for p in permissions)
    return dependency
