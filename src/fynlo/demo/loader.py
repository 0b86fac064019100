"""Builds the demo platform step by step; each step looks its rows up before creating them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.auth.crypto import sha256_hex
from fynlo.auth.passwords import hash_secret
from fynlo.authz.roles import Role
from fynlo.models import (
    Platform,
    PosDevice,
    Restaurant,
    RestaurantSettings,
    User,
    restaurant_owners,
)

DEMO_PASSWORD = "Demo-Pass-2026!"  # noqa: S105 - printed to the operator on purpose
PLATFORM_NAME = "Fynlo Demo Platform"
PLATFORM_OWNER_EMAIL = "platform@fynlo.demo"
# A fixed till token so the demo's PIN sign-in works out of the box; real tills get a
# random token from POST /api/devices, shown once.
DEMO_DEVICE_TOKEN = "demo-till-fynlo-bistro-soho"  # noqa: S105 - demo data, printed on purpose
DEMO_DEVICE_NAME = "Front counter till (demo)"


@dataclass
class Login:
    email: str
    role: str
    restaurant: str | None
    pin: str | None = None


@dataclass
class DemoReport:
    created: dict[str, int] = field(default_factory=dict)
    logins: list[Login] = field(default_factory=list)
    device_token: str | None = None

    def count(self, kind: str, created: bool) -> None:
        self.created.setdefault(kind, 0)
        if created:
            self.created[kind] += 1


@dataclass(frozen=True)
class RestaurantSpec:
    key: str
    name: str
    owner_email: str
    timezone: str
    currency: str
    city: str


RESTAURANTS = (
    RestaurantSpec(
        "bistro", "Fynlo Bistro Soho", "owner@fynlo.demo", "Europe/London", "GBP", "London"
    ),
    RestaurantSpec(
        "cafe", "Fynlo Cafe Camden", "owner@fynlo.demo", "Europe/London", "GBP", "London"
    ),
    RestaurantSpec(
        "masala", "Masala House Bengaluru", "owner2@fynlo.demo", "Asia/Kolkata", "INR", "Bengaluru"
    ),
)

STAFF_ROLES = (
    (Role.MANAGER, "1001"),
    (Role.CAPTAIN, "1002"),
    (Role.CASHIER, "1003"),
    (Role.WAITER, "1004"),
    (Role.KITCHEN_STAFF, "1005"),
    (Role.EMPLOYEE, "1006"),
)


class DemoLoader:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.report = DemoReport()
        self.platform: Platform | None = None
        self.restaurants: dict[str, Restaurant] = {}
        self._password_hash: str | None = None

    def steps(self) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("platform and platform owner", self.load_platform)
        ]
        steps += [(f"restaurant {spec.name}", self._restaurant_step(spec)) for spec in RESTAURANTS]
        steps += [("staff of every role", self.load_staff), ("a bound till", self.load_till)]
        return steps

    async def _hash(self) -> str:
        if self._password_hash is None:
            self._password_hash = await hash_secret(DEMO_PASSWORD)
        return self._password_hash

    async def _user(self, email: str, **values: Any) -> tuple[User, bool]:
        user = await self.session.scalar(select(User).where(User.email == email))
        if user is not None:
            return user, False
        user = User(email=email, password_hash=await self._hash(), **values)
        self.session.add(user)
        await self.session.flush()
        return user, True

    async def load_platform(self) -> None:
        platform = await self.session.scalar(select(Platform).where(Platform.name == PLATFORM_NAME))
        created = platform is None
        if platform is None:
            platform = Platform(name=PLATFORM_NAME, owner_email=PLATFORM_OWNER_EMAIL)
            self.session.add(platform)
            await self.session.flush()
        self.report.count("platforms", created)
        self.platform = platform
        _, created = await self._user(
            PLATFORM_OWNER_EMAIL,
            first_name="Pat",
            last_name="Form",
            role=Role.PLATFORM_OWNER.value,
            platform_id=platform.id,
        )
        self.report.count("users", created)
        self.report.logins.append(Login(PLATFORM_OWNER_EMAIL, Role.PLATFORM_OWNER.value, None))

    def _restaurant_step(self, spec: RestaurantSpec) -> Callable[[], Awaitable[None]]:
        async def step() -> None:
            await self.load_restaurant(spec)

        return step

    async def load_restaurant(self, spec: RestaurantSpec) -> None:
        assert self.platform is not None
        restaurant = await self.session.scalar(
            select(Restaurant).where(
                Restaurant.platform_id == self.platform.id, Restaurant.name == spec.name
            )
        )
        created = restaurant is None
        if restaurant is None:
            restaurant = Restaurant(
                platform_id=self.platform.id,
                name=spec.name,
                address={"line1": "1 Demo Street", "city": spec.city, "country": spec.currency[:2]},
                timezone=spec.timezone,
                currency=spec.currency,
                email=f"{spec.key}@fynlo.demo",
            )
            self.session.add(restaurant)
            await self.session.flush()
            self.session.add(RestaurantSettings(restaurant_id=restaurant.id))
        self.report.count("restaurants", created)
        self.restaurants[spec.key] = restaurant

        owner, created = await self._user(
            spec.owner_email,
            first_name="Olivia" if spec.owner_email == "owner@fynlo.demo" else "Omar",
            last_name="Owner",
            role=Role.RESTAURANT_OWNER.value,
            platform_id=self.platform.id,
            restaurant_id=restaurant.id,
        )
        self.report.count("users", created)
        link = await self.session.scalar(
            select(restaurant_owners.c.user_id).where(
                restaurant_owners.c.user_id == owner.id,
                restaurant_owners.c.restaurant_id == restaurant.id,
            )
        )
        if link is None:
            await self.session.execute(
                restaurant_owners.insert().values(user_id=owner.id, restaurant_id=restaurant.id)
            )
        if not any(login.email == spec.owner_email for login in self.report.logins):
            self.report.logins.append(
                Login(spec.owner_email, Role.RESTAURANT_OWNER.value, spec.name)
            )

    async def load_staff(self) -> None:
        from fynlo.auth.passwords import hash_secret as hash_pin

        assert self.platform is not None
        restaurant = self.restaurants["bistro"]
        for role, pin in STAFF_ROLES:
            email = f"{role.value.replace('_', '.')}@fynlo.demo"
            user, created = await self._user(
                email,
                first_name=role.value.replace("_", " ").title().split()[0],
                last_name="Demo",
                role=role.value,
                platform_id=self.platform.id,
                restaurant_id=restaurant.id,
            )
            if created:
                user.pin_code_hash = await hash_pin(pin)
            self.report.count("users", created)
            self.report.logins.append(Login(email, role.value, restaurant.name, pin))

    async def load_till(self) -> None:
        restaurant = self.restaurants["bistro"]
        token_hash = sha256_hex(DEMO_DEVICE_TOKEN)
        device = await self.session.scalar(
            select(PosDevice).where(PosDevice.token_hash == token_hash)
        )
        if device is None:
            self.session.add(
                PosDevice(restaurant_id=restaurant.id, name=DEMO_DEVICE_NAME, token_hash=token_hash)
            )
        self.report.count("tills", device is None)
        self.report.device_token = DEMO_DEVICE_TOKEN
