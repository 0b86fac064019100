"""``/api/auth``: sign in (password, PIN), refresh, sign out; ``/api/devices``: till binding."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from sqlalchemy import select

from fynlo.audit.service import record
from fynlo.auth.crypto import random_token, sha256_hex
from fynlo.auth.schemas import (
    DeviceCreatedOut,
    DeviceIn,
    DeviceOut,
    LoginIn,
    LoginOut,
    LogoutIn,
    LogoutOut,
    PinLoginIn,
    RefreshIn,
    Tokens,
    TwoFactorChallengeOut,
)
from fynlo.auth.service import AuthService
from fynlo.auth.subject import CurrentSubject, Subject, request_actor, require_permission
from fynlo.kit.errors import ResourceNotFound
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, ok
from fynlo.kit.unit_of_work import SessionDep
from fynlo.models import PosDevice
from fynlo.runtime import get_runtime

auth_router = router(prefix="/api/auth", tags=["auth"])
devices_router = router(prefix="/api/devices", tags=["devices"])


async def auth_service(request: Request, session: SessionDep) -> AuthService:
    runtime = get_runtime(request)
    return AuthService(
        session,
        runtime.tokens,
        runtime.rate_limiter,
        request_actor(request),
        limit_per_ip=runtime.settings.login_rate_limit_ip,
        limit_per_account=runtime.settings.login_rate_limit_account,
    )


AuthServiceDep = Annotated[AuthService, Depends(auth_service)]


@auth_router.post(
    "/login",
    response_model=Envelope[LoginOut | TwoFactorChallengeOut],
    summary="Sign in with e-mail and password",
    description="Answers the spec's `{user, tokens: {access, refresh}, restaurant}`; a user "
    "with two-factor authentication gets `{twoFactorRequired, challengeToken}` instead, to "
    "complete at `POST /api/auth/2fa/verify`. Five wrong passwords lock the account for 15 "
    "minutes (429 `account_locked` with `Retry-After`).",
)
async def login(
    body: LoginIn, service: AuthServiceDep
) -> Envelope[LoginOut | TwoFactorChallengeOut]:
    user = await service.authenticate_password(body.email, body.password)
    if user.two_factor_enabled:
        await service._audit(user, "auth.login_2fa_challenge")
        return ok(
            TwoFactorChallengeOut(
                challenge_token=service.tokens.challenge_token(user.id, user.last_login)
            )
        )
    return ok(await service.login_response(user))


@auth_router.post(
    "/pin-login",
    response_model=Envelope[LoginOut],
    summary="Sign in at a till with a staff PIN",
    description="The till must be bound to the restaurant (`X-Device-Token` from "
    "`POST /api/devices`). The access token lasts 30 minutes, has no refresh token, and "
    "carries only floor permissions (no staff, settings or refund rights).",
)
async def pin_login(
    body: PinLoginIn,
    service: AuthServiceDep,
    x_device_token: Annotated[str | None, Header(max_length=200)] = None,
) -> Envelope[LoginOut]:
    user, device = await service.authenticate_pin(x_device_token, body.user_id, body.pin)
    return ok(await service.login_response(user, pin_device=device))


@auth_router.post("/refresh", response_model=Envelope[Tokens], summary="Rotate a refresh token")
async def refresh(body: RefreshIn, service: AuthServiceDep) -> Envelope[Tokens]:
    return ok(await service.refresh(body.refresh_token))


async def _logout(subject: Subject, service: AuthService, body: LogoutIn) -> Envelope[LogoutOut]:
    await service.logout(subject.user, body.refresh_token, body.all_devices, subject.session_family)
    return ok(LogoutOut(all_devices=body.all_devices))


@auth_router.get(
    "/logout",
    response_model=Envelope[LogoutOut],
    summary="Sign out this session (the spec's verb)",
    description="Revokes the refresh tokens of this sign-in; `?allDevices=true` signs out "
    "everywhere and invalidates every access token at once.",
)
async def logout_get(
    subject: CurrentSubject,
    service: AuthServiceDep,
    all_devices: Annotated[bool, Query(alias="allDevices")] = False,
) -> Envelope[LogoutOut]:
    return await _logout(subject, service, LogoutIn(all_devices=all_devices))


@auth_router.post("/logout", response_model=Envelope[LogoutOut], summary="Sign out")
async def logout_post(
    subject: CurrentSubject, service: AuthServiceDep, body: LogoutIn | None = None
) -> Envelope[LogoutOut]:
    return await _logout(subject, service, body or LogoutIn())


@auth_router.post(
    "/logout-all", response_model=Envelope[LogoutOut], summary="Sign out on every device"
)
async def logout_all(subject: CurrentSubject, service: AuthServiceDep) -> Envelope[LogoutOut]:
    return await _logout(subject, service, LogoutIn(all_devices=True))


ManageDevices = Annotated[Subject, Depends(require_permission("devices.manage"))]


async def _target_restaurant(
    subject: Subject, session: SessionDep, wanted: uuid.UUID | None
) -> uuid.UUID:
    restaurant_id = wanted or subject.user.restaurant_id
    if restaurant_id is None or not await subject.scope.includes(session, restaurant_id):
        raise ResourceNotFound("Restaurant", restaurant_id)
    return restaurant_id


@devices_router.post(
    "",
    status_code=201,
    response_model=Envelope[DeviceCreatedOut],
    summary="Bind a till to a restaurant (returns its device token once)",
)
async def create_device(
    body: DeviceIn, subject: ManageDevices, session: SessionDep
) -> Envelope[DeviceCreatedOut]:
    restaurant_id = await _target_restaurant(subject, session, body.restaurant_id)
    token = random_token()
    device = PosDevice(
        id=uuid.uuid4(),
        restaurant_id=restaurant_id,
        name=body.name,
        token_hash=sha256_hex(token),
        created_by=subject.id,
    )
    session.add(device)
    await record(
        session,
        subject.actor,
        action="device.bound",
        resource_type="device",
        resource_id=device.id,
        restaurant_id=restaurant_id,
        new={"name": body.name},
    )
    return ok(
        DeviceCreatedOut(
            id=device.id,
            restaurant_id=restaurant_id,
            name=device.name,
            is_active=True,
            device_token=token,
        )
    )


@devices_router.get("", response_model=Envelope[list[DeviceOut]], summary="Tills of my restaurants")
async def list_devices(subject: ManageDevices, session: SessionDep) -> Envelope[list[DeviceOut]]:
    rows = await session.scalars(
        select(PosDevice)
        .where(subject.scope.clause(PosDevice.restaurant_id))
        .order_by(PosDevice.name)
    )
    return ok([DeviceOut.model_validate(d) for d in rows])


@devices_router.delete("/{device_id}", response_model=Envelope[DeviceOut], summary="Unbind a till")
async def deactivate_device(
    device_id: uuid.UUID, subject: ManageDevices, session: SessionDep
) -> Envelope[DeviceOut]:
    device = await session.scalar(
        select(PosDevice).where(
            PosDevice.id == device_id, subject.scope.clause(PosDevice.restaurant_id)
        )
    )
    if device is None:
        raise ResourceNotFound("Device", device_id)
    device.is_active = False
    await record(
        session,
        subject.actor,
        action="device.unbound",
        resource_type="device",
        resource_id=device.id,
        restaurant_id=device.restaurant_id,
    )
    return ok(DeviceOut.model_validate(device))
