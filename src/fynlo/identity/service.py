"""Rules for staff and restaurants: who may create or change whom, inside which scope."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import record
from fynlo.auth.passwords import hash_secret
from fynlo.auth.service import AuthService
from fynlo.auth.subject import Subject
from fynlo.authz.permissions import PERMISSIONS
from fynlo.authz.roles import ROLE_RANK, Role
from fynlo.identity.policy import PasswordPolicyError, check_password_policy
from fynlo.identity.schemas import (
    PermissionOverrides,
    RestaurantCreate,
    RestaurantUpdate,
    SettingsUpdate,
    UserCreate,
    UserOut,
    UserUpdate,
)
from fynlo.kit.errors import AlreadyExists, Forbidden, ResourceNotFound, Unprocessable
from fynlo.kit.money import to_minor
from fynlo.kit.pagination import PageParams
from fynlo.models import Restaurant, RestaurantSettings, User, restaurant_owners


def _minor_or_none(amount: Decimal | None) -> int | None:
    return None if amount is None else to_minor(amount, field="hourlyRate")


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        role=user.role,
        restaurant_id=user.restaurant_id,
        platform_id=user.platform_id,
        permissions=user.permissions or {},
        has_pin=user.pin_code_hash is not None,
        is_active=user.is_active,
        two_factor_enabled=user.two_factor_enabled,
        hourly_rate=user.hourly_rate_minor / 100 if user.hourly_rate_minor is not None else None,
        last_login=user.last_login,
        created_at=user.created_at,
    )


def _audit_view(user: User) -> dict[str, Any]:
    return {
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "role": user.role,
        "restaurantId": str(user.restaurant_id) if user.restaurant_id else None,
        "permissions": user.permissions,
        "isActive": user.is_active,
        "hasPin": user.pin_code_hash is not None,
        "hourlyRateMinor": user.hourly_rate_minor,
    }


def can_manage(actor_role: str, target_role: str) -> bool:
    """Platform owners manage everyone; others only roles strictly below their own."""
    if actor_role == Role.PLATFORM_OWNER:
        return True
    return ROLE_RANK[Role(actor_role)] > ROLE_RANK[Role(target_role)]


def _check_password(password: str, email: str) -> None:
    try:
        check_password_policy(password, email=email)
    except PasswordPolicyError as exc:
        raise Unprocessable(str(exc), details=[{"field": "password", "message": str(exc)}]) from exc


@dataclass
class UserService:
    session: AsyncSession
    subject: Subject

    def _visible(self) -> ColumnElement[bool]:
        scope = self.subject.scope
        if scope.platform_id is not None:
            return or_(User.platform_id == scope.platform_id, scope.clause(User.restaurant_id))
        return or_(scope.clause(User.restaurant_id), User.id == self.subject.id)

    async def get(self, user_id: uuid.UUID) -> User:
        user = await self.session.scalar(select(User).where(User.id == user_id, self._visible()))
        if user is None or (user.id != self.subject.id and not self.subject.can("users.read")):
            raise ResourceNotFound("User", user_id)
        return user

    async def list(
        self,
        params: PageParams,
        *,
        role: str | None,
        is_active: bool | None,
        restaurant_id: uuid.UUID | None,
        search: str | None,
    ) -> tuple[list[User], int]:
        query = select(User).where(self._visible())
        if role:
            query = query.where(User.role == role)
        if is_active is not None:
            query = query.where(User.is_active == is_active)
        if restaurant_id:
            query = query.where(User.restaurant_id == restaurant_id)
        if search:
            like = f"%{search.lower()}%"
            query = query.where(
                or_(
                    func.lower(User.email).like(like),
                    func.lower(User.first_name).like(like),
                    func.lower(User.last_name).like(like),
                )
            )
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(
            query.order_by(User.last_name, User.first_name, User.id)
            .limit(params.limit)
            .offset(params.offset)
        )
        return list(rows), total

    def _check_overrides(self, overrides: PermissionOverrides | None) -> dict[str, Any] | None:
        if overrides is None:
            return None
        for permission in [*overrides.grant, *overrides.revoke]:
            if permission not in PERMISSIONS:
                raise Unprocessable(
                    f"Unknown permission '{permission}'",
                    details=[{"field": "permissions", "message": f"unknown {permission}"}],
                )
        for permission in overrides.grant:
            if not self.subject.can(permission):
                raise Forbidden(f"You cannot grant '{permission}', which you do not hold yourself")
        return {"grant": sorted(set(overrides.grant)), "revoke": sorted(set(overrides.revoke))}

    async def _restaurant_for(self, role: Role, wanted: uuid.UUID | None) -> Restaurant | None:
        if role == Role.PLATFORM_OWNER:
            return None
        restaurant_id = wanted or self.subject.user.restaurant_id
        if restaurant_id is None:
            raise Unprocessable(
                "restaurantId is required for this role",
                details=[{"field": "restaurantId", "message": "Field required"}],
            )
        if not await self.subject.scope.includes(self.session, restaurant_id):
            raise ResourceNotFound("Restaurant", restaurant_id)
        restaurant = await self.session.get(Restaurant, restaurant_id)
        if restaurant is None:
            raise ResourceNotFound("Restaurant", restaurant_id)
        return restaurant

    async def _email_free(self, email: str, except_id: uuid.UUID | None = None) -> None:
        existing = await self.session.scalar(select(User.id).where(User.email == email))
        if existing is not None and existing != except_id:
            raise AlreadyExists(f"A user with e-mail {email} already exists", ["email"])

    async def create(self, body: UserCreate) -> User:
        if not can_manage(self.subject.role, body.role):
            raise Forbidden(f"A {self.subject.role} cannot create a {body.role.value}")
        email = str(body.email).lower()
        _check_password(body.password, email)
        restaurant = await self._restaurant_for(body.role, body.restaurant_id)
        await self._email_free(email)
        user = User(
            id=uuid.uuid4(),
            email=email,
            password_hash=await hash_secret(body.password),
            first_name=body.first_name,
            last_name=body.last_name,
            role=body.role.value,
            restaurant_id=restaurant.id if restaurant else None,
            platform_id=restaurant.platform_id if restaurant else self.subject.user.platform_id,
            pin_code_hash=await hash_secret(body.pin) if body.pin else None,
            hourly_rate_minor=_minor_or_none(body.hourly_rate),
            permissions=self._check_overrides(body.permissions) or {},
        )
        self.session.add(user)
        await self.session.flush()
        if restaurant is not None and body.role == Role.RESTAURANT_OWNER:
            await self.session.execute(
                restaurant_owners.insert().values(restaurant_id=restaurant.id, user_id=user.id)
            )
        await record(
            self.session,
            self.subject.actor,
            action="user.created",
            resource_type="user",
            resource_id=user.id,
            restaurant_id=user.restaurant_id,
            new=_audit_view(user),
        )
        return user

    async def _manageable(self, user_id: uuid.UUID) -> User:
        user = await self.get(user_id)
        if user.id != self.subject.id and not can_manage(self.subject.role, user.role):
            raise Forbidden(f"A {self.subject.role} cannot change a {user.role}")
        return user

    async def update(self, user_id: uuid.UUID, body: UserUpdate) -> User:
        user = await self._manageable(user_id)
        is_self = user.id == self.subject.id
        if is_self and (body.role is not None and body.role.value != user.role):
            raise Forbidden("Nobody can change their own role")
        if is_self and (body.permissions is not None or body.is_active is not None):
            raise Forbidden("Nobody can change their own permissions or deactivate themselves")
        if not is_self:
            self.subject.require("users.update")
        old = _audit_view(user)
        if body.role is not None and body.role.value != user.role:
            if not can_manage(self.subject.role, body.role):
                raise Forbidden(f"A {self.subject.role} cannot make someone a {body.role.value}")
            user.role = body.role.value
            user.token_version += 1  # permissions change now, not in 15 minutes
        if body.email is not None:
            email = str(body.email).lower()
            await self._email_free(email, user.id)
            user.email = email
        if body.password is not None:
            _check_password(body.password, user.email)
            user.password_hash = await hash_secret(body.password)
        if body.pin is not None:
            user.pin_code_hash = await hash_secret(body.pin)
        for field in ("first_name", "last_name"):
            value = getattr(body, field)
            if value is not None:
                setattr(user, field, value)
        if body.hourly_rate is not None:
            user.hourly_rate_minor = _minor_or_none(body.hourly_rate)
        overrides = self._check_overrides(body.permissions)
        if overrides is not None:
            user.permissions = overrides
            user.token_version += 1
        if body.is_active is not None and body.is_active != user.is_active:
            user.is_active = body.is_active
            if not body.is_active:
                await AuthService.revoke_sessions(self.session, user, "deactivated")
        new = _audit_view(user)
        action = "user.role_changed" if old["role"] != new["role"] else "user.updated"
        if body.password is not None:
            new["passwordChanged"] = True
        await record(
            self.session,
            self.subject.actor,
            action=action,
            resource_type="user",
            resource_id=user.id,
            restaurant_id=user.restaurant_id,
            old=old,
            new=new,
        )
        return user

    async def deactivate(self, user_id: uuid.UUID) -> User:
        user = await self._manageable(user_id)
        if user.id == self.subject.id:
            raise Forbidden("You cannot deactivate yourself")
        if user.is_active:
            old = _audit_view(user)
            user.is_active = False
            await AuthService.revoke_sessions(self.session, user, "deactivated")
            await record(
                self.session,
                self.subject.actor,
                action="user.deactivated",
                resource_type="user",
                resource_id=user.id,
                restaurant_id=user.restaurant_id,
                old=old,
                new=_audit_view(user),
            )
        return user


@dataclass
class RestaurantService:
    session: AsyncSession
    subject: Subject

    async def get(self, restaurant_id: uuid.UUID) -> Restaurant:
        restaurant = await self.session.scalar(
            select(Restaurant).where(
                Restaurant.id == restaurant_id, self.subject.scope.clause(Restaurant.id)
            )
        )
        if restaurant is None:
            raise ResourceNotFound("Restaurant", restaurant_id)
        return restaurant

    async def list(self, params: PageParams) -> tuple[list[Restaurant], int]:
        query = select(Restaurant).where(self.subject.scope.clause(Restaurant.id))
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(
            query.order_by(Restaurant.name, Restaurant.id).limit(params.limit).offset(params.offset)
        )
        return list(rows), total

    async def create(self, body: RestaurantCreate) -> Restaurant:
        platform_id = self.subject.user.platform_id
        if platform_id is None:
            raise Forbidden("Only a platform's owner can open restaurants on it")
        restaurant = Restaurant(
            id=uuid.uuid4(),
            platform_id=platform_id,
            name=body.name,
            address=body.address,
            phone=body.phone,
            email=str(body.email) if body.email else None,
            timezone=body.timezone,
            currency=body.currency,
            business_hours=body.business_hours,
        )
        self.session.add(restaurant)
        await self.session.flush()
        self.session.add(RestaurantSettings(restaurant_id=restaurant.id))
        if body.owner_id is not None:
            owner = await self.session.scalar(
                select(User).where(
                    User.id == body.owner_id,
                    User.platform_id == platform_id,
                    User.role == Role.RESTAURANT_OWNER.value,
                )
            )
            if owner is None:
                raise ResourceNotFound("Restaurant owner", body.owner_id)
            await self.session.execute(
                restaurant_owners.insert().values(restaurant_id=restaurant.id, user_id=owner.id)
            )
        await record(
            self.session,
            self.subject.actor,
            action="restaurant.created",
            resource_type="restaurant",
            resource_id=restaurant.id,
            restaurant_id=restaurant.id,
            new=body.model_dump(mode="json", by_alias=True),
        )
        return restaurant

    async def update(self, restaurant_id: uuid.UUID, body: RestaurantUpdate) -> Restaurant:
        restaurant = await self.get(restaurant_id)
        changes = body.model_dump(exclude_unset=True)
        if "is_active" in changes and self.subject.role != Role.PLATFORM_OWNER:
            raise Forbidden("Only the platform owner can open or close a restaurant")
        old = {k: getattr(restaurant, k) for k in changes}
        for key, value in changes.items():
            setattr(restaurant, key, str(value) if key == "email" and value else value)
        await record(
            self.session,
            self.subject.actor,
            action="restaurant.updated",
            resource_type="restaurant",
            resource_id=restaurant.id,
            restaurant_id=restaurant.id,
            old=old,
            new=changes,
        )
        return restaurant

    async def settings(self, restaurant_id: uuid.UUID) -> tuple[Restaurant, RestaurantSettings]:
        restaurant = await self.get(restaurant_id)
        settings = await self.session.scalar(
            select(RestaurantSettings).where(RestaurantSettings.restaurant_id == restaurant.id)
        )
        if settings is None:
            settings = RestaurantSettings(restaurant_id=restaurant.id)
            self.session.add(settings)
            await self.session.flush()
        return restaurant, settings

    async def update_settings(
        self, restaurant_id: uuid.UUID, body: SettingsUpdate
    ) -> tuple[Restaurant, RestaurantSettings]:
        restaurant, settings = await self.settings(restaurant_id)
        old: dict[str, Any] = {}
        new: dict[str, Any] = {}
        for section in ("pos", "kitchen", "receipt", "notification", "hardware"):
            value = getattr(body, section)
            if value is not None:
                column = f"{section}_settings"
                old[section], new[section] = getattr(settings, column), value
                setattr(settings, column, value)
        if body.tax_configuration is not None:
            old["taxConfiguration"] = restaurant.tax_configuration
            restaurant.tax_configuration = body.tax_configuration.model_dump(
                mode="json", by_alias=True
            )
            new["taxConfiguration"] = restaurant.tax_configuration
        if body.payment_methods is not None:
            old["paymentMethods"] = restaurant.payment_methods
            # Only what was sent changes: a method's other fields keep their values (a
            # default written back would reset fees to 0). Numbers stay JSON numbers.
            merged = dict(restaurant.payment_methods)
            for method, config in body.payment_methods.model_dump(
                by_alias=True, exclude_none=True, exclude_unset=True
            ).items():
                merged[method] = {
                    **(merged.get(method) or {}),
                    **{k: float(v) if isinstance(v, Decimal) else v for k, v in config.items()},
                }
            restaurant.payment_methods = merged
            new["paymentMethods"] = merged
        await record(
            self.session,
            self.subject.actor,
            action="settings.updated",
            resource_type="restaurant_settings",
            resource_id=restaurant.id,
            restaurant_id=restaurant.id,
            old=old,
            new=new,
        )
        return restaurant, settings
