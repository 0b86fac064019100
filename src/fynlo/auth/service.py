"""Sign-in, token rotation and sign-out: the rules, independent of HTTP."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import AuditActor, record
from fynlo.auth.crypto import sha256_hex
from fynlo.auth.passwords import hash_secret, verify_dummy, verify_secret
from fynlo.auth.schemas import LoginOut, RestaurantSummary, Tokens, UserSummary
from fynlo.auth.tokens import REFRESH_TTL, InvalidToken, TokenService
from fynlo.authz.permissions import coarse_permissions, effective_permissions
from fynlo.db.types import utc_now
from fynlo.kit.errors import FynloError, Unauthorized
from fynlo.kit.ratelimit import RateLimiter
from fynlo.models import PosDevice, RefreshToken, Restaurant, User

MAX_FAILED_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=15)
LOGIN_LIMIT_PER_ACCOUNT = "10/minute"  # default of FYNLO_LOGIN_RATE_LIMIT_ACCOUNT


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    default_message = "E-mail or password is incorrect"
    commit_changes = True


class AccountLocked(FynloError):
    status_code = 429
    code = "account_locked"
    commit_changes = True

    def __init__(self, until_seconds: int, until_iso: str) -> None:
        super().__init__(
            f"Account locked after {MAX_FAILED_ATTEMPTS} failed attempts; retry after "
            f"{until_iso} (in {until_seconds} s)",
            details={"lockedUntil": until_iso, "retryAfter": until_seconds},
            headers={"Retry-After": str(until_seconds)},
        )


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"
    default_message = (
        "This refresh token was already used; every session of this sign-in has been "
        "revoked as a precaution. Sign in again."
    )
    commit_changes = True


@dataclass
class AuthService:
    session: AsyncSession
    tokens: TokenService
    limiter: RateLimiter
    actor: AuditActor
    limit_per_ip: str = "30/minute"
    limit_per_account: str = LOGIN_LIMIT_PER_ACCOUNT

    async def _audit(self, user: User | None, action: str, **new: object) -> None:
        await record(
            self.session,
            AuditActor(user.id if user else None, self.actor.ip_address, self.actor.user_agent),
            action=action,
            resource_type="user",
            resource_id=user.id if user else None,
            restaurant_id=user.restaurant_id if user else None,
            new=dict(new) or None,
        )

    async def _check_lock(self, user: User) -> None:
        now = utc_now()
        if user.locked_until is not None and user.locked_until > now:
            seconds = math.ceil((user.locked_until - now).total_seconds())
            await self._audit(user, "auth.login_refused_locked")
            raise AccountLocked(seconds, user.locked_until.isoformat(timespec="seconds"))

    async def _register_failure(self, user: User, action: str) -> None:
        user.failed_login_count += 1
        await self._audit(user, action, attempts=user.failed_login_count)
        if user.failed_login_count >= MAX_FAILED_ATTEMPTS:
            user.locked_until = utc_now() + LOCKOUT
            user.failed_login_count = 0
            await self._audit(user, "auth.lockout", until=user.locked_until.isoformat())

    async def _password_ok(self, user: User, password: str) -> bool:
        ok, new_hash = await verify_secret(password, user.password_hash)
        if ok and new_hash is not None:
            user.password_hash = new_hash  # bcrypt or weaker argon2 upgraded on login
        return ok

    async def authenticate_password(self, email: str, password: str) -> User:
        email = email.strip().lower()
        await self.limiter.check(
            self.limit_per_ip,
            "login-ip",
            self.actor.ip_address or "?",
            message="Too many sign-in attempts from this address; wait and retry",
        )
        await self.limiter.check(
            self.limit_per_account,
            "login-account",
            email,
            message="Too many sign-in attempts for this account; wait and retry",
        )
        user = await self.session.scalar(select(User).where(User.email == email))
        if user is None:
            await verify_dummy(password)
            await self._audit(None, "auth.login_failed", email=email, reason="unknown_email")
            raise InvalidCredentials()
        await self._check_lock(user)
        if not await self._password_ok(user, password):
            await self._register_failure(user, "auth.login_failed")
            raise InvalidCredentials()
        if not user.is_active:
            await self._audit(user, "auth.login_refused_inactive")
            raise InvalidCredentials("This account has been deactivated")
        if not user.two_factor_enabled:
            # With 2FA the password alone is half a sign-in: failures count on until the
            # code is right, so code guesses cannot hide behind fresh password successes.
            user.failed_login_count = 0
            user.locked_until = None
        return user

    async def authenticate_pin(
        self, device_token: str | None, user_id: uuid.UUID, pin: str
    ) -> tuple[User, PosDevice]:
        if not device_token:
            raise Unauthorized("PIN sign-in needs a till bound to the restaurant (X-Device-Token)")
        device = await self.session.scalar(
            select(PosDevice).where(PosDevice.token_hash == sha256_hex(device_token))
        )
        if device is None or not device.is_active:
            raise Unauthorized("This till is not bound to a restaurant")
        await self.limiter.check(
            self.limit_per_account,
            "pin-account",
            str(user_id),
            message="Too many PIN attempts for this person; wait and retry",
        )
        user = await self.session.get(User, user_id)
        if user is None or user.restaurant_id != device.restaurant_id or not user.pin_code_hash:
            await verify_dummy(pin)
            raise InvalidCredentials("Unknown staff member or PIN")
        await self._check_lock(user)
        ok, new_hash = await verify_secret(pin, user.pin_code_hash)
        if not ok:
            await self._register_failure(user, "auth.pin_login_failed")
            raise InvalidCredentials("Unknown staff member or PIN")
        if new_hash is not None:
            user.pin_code_hash = new_hash
        if not user.is_active:
            raise InvalidCredentials("This account has been deactivated")
        user.failed_login_count = 0
        device.last_seen_at = utc_now()
        return user, device

    async def _new_refresh(self, user: User, family_id: uuid.UUID) -> str:
        row = RefreshToken(
            id=uuid.uuid4(),
            family_id=family_id,
            user_id=user.id,
            expires_at=utc_now() + REFRESH_TTL,
            ip_address=self.actor.ip_address,
            user_agent=(self.actor.user_agent or "")[:255] or None,
        )
        self.session.add(row)
        return self.tokens.refresh_token(user.id, row.id, family_id)

    async def login_response(self, user: User, *, pin_device: PosDevice | None = None) -> LoginOut:
        """Issue tokens and shape the spec's login answer (also used after 2FA)."""
        user.last_login = utc_now()
        if pin_device is not None:
            access = self.tokens.access_token(
                user.id,
                user.token_version,
                restaurant_id=pin_device.restaurant_id,
                pin_session=True,
                device_id=pin_device.id,
            )
            refresh = None
            await self._audit(user, "auth.pin_login", device=str(pin_device.id))
        else:
            family = uuid.uuid4()
            access = self.tokens.access_token(user.id, user.token_version, family_id=family)
            refresh = await self._new_refresh(user, family)
            await self._audit(user, "auth.login")
        restaurant = (
            await self.session.get(Restaurant, user.restaurant_id) if user.restaurant_id else None
        )
        permissions = effective_permissions(
            user.role, user.permissions, pin_session=pin_device is not None
        )
        return LoginOut(
            user=UserSummary(
                id=user.id,
                email=user.email,
                first_name=user.first_name,
                last_name=user.last_name,
                role=user.role,
                restaurant_id=user.restaurant_id,
                permissions=coarse_permissions(permissions),
            ),
            tokens=Tokens(access=access, refresh=refresh),
            restaurant=RestaurantSummary(
                id=restaurant.id,
                name=restaurant.name,
                timezone=restaurant.timezone,
                currency=restaurant.currency,
                settings=restaurant.settings,
            )
            if restaurant
            else None,
        )

    async def refresh(self, token: str) -> Tokens:
        claims = self.tokens.read_refresh(token)
        row = (
            await self.session.execute(
                select(RefreshToken).where(RefreshToken.id == claims.token_id).with_for_update()
            )
        ).scalar_one_or_none()
        if row is None or row.user_id != claims.user_id:
            raise InvalidToken("Unknown refresh token")
        user = await self.session.get(User, row.user_id)
        if row.revoked_at is not None:
            raise InvalidToken("Refresh token has been revoked; sign in again")
        if row.rotated_at is not None:
            await self.revoke_family(row.family_id, "reuse_detected")
            await self._audit(user, "auth.refresh_reuse", family=str(row.family_id))
            raise RefreshTokenReused()
        if user is None or not user.is_active:
            raise Unauthorized("This account has been deactivated")
        row.rotated_at = utc_now()
        refresh = await self._new_refresh(user, row.family_id)
        await self._audit(user, "auth.refresh")
        access = self.tokens.access_token(user.id, user.token_version, family_id=row.family_id)
        return Tokens(access=access, refresh=refresh)

    async def revoke_family(self, family_id: uuid.UUID, reason: str) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utc_now(), revoked_reason=reason)
        )

    async def revoke_all(self, user: User, reason: str) -> None:
        await self.revoke_sessions(self.session, user, reason)

    @staticmethod
    async def revoke_sessions(session: AsyncSession, user: User, reason: str) -> None:
        """Every refresh token dies, and every access token with it (token version bump)."""
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utc_now(), revoked_reason=reason)
        )
        user.token_version += 1

    async def logout(
        self,
        user: User,
        refresh_token: str | None,
        all_devices: bool,
        current_family: uuid.UUID | None,
    ) -> None:
        if all_devices:
            await self.revoke_all(user, "logout_all")
            await self._audit(user, "auth.logout_all")
            return
        if refresh_token:
            claims = self.tokens.read_refresh(refresh_token)
            if claims.user_id != user.id:
                raise InvalidToken("This refresh token belongs to someone else")
            row = await self.session.get(RefreshToken, claims.token_id)
            if row is not None:
                await self.revoke_family(row.family_id, "logout")
        elif current_family is not None:
            await self.revoke_family(current_family, "logout")
        await self._audit(user, "auth.logout")

    async def set_password(self, user: User, password: str) -> None:
        user.password_hash = await hash_secret(password)
