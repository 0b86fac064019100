"""Builds the demo platform step by step; each step looks its rows up before creating them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.auth.crypto import sha256_hex
from fynlo.auth.passwords import hash_secret
from fynlo.authz.roles import Role
from fynlo.db.types import utc_now
from fynlo.demo.menu_data import MASALA_TAX_CONFIGURATION, MENUS, TABLES, Item, Section
from fynlo.inventory.schemas import SupplierContact
from fynlo.kit.money import to_major, to_minor
from fynlo.menu.schemas import CategoryCreate, ProductCreate
from fynlo.menu.service import check_modifier_groups
from fynlo.models import (
    CashDrawerSession,
    CashMovement,
    Category,
    DiningTable,
    GiftCard,
    GiftCardEntry,
    HardwareDevice,
    InventoryItem,
    KitchenStation,
    ModifierGroup,
    ModifierOption,
    Platform,
    PosDevice,
    Product,
    Restaurant,
    RestaurantSettings,
    Shift,
    StockMovement,
    TimeEntry,
    User,
    restaurant_owners,
)
from fynlo.models.identity import DEFAULT_TAX_CONFIGURATION
from fynlo.models.inventory import MILLI
from fynlo.staff.timesheet import hours, zone_of

DEMO_FLOAT = {"GBP": Decimal("150.00"), "INR": Decimal("5000.00")}
DEMO_GIFT_CARDS = {
    "GBP": (Decimal("25.00"), Decimal("50.00")),
    "INR": (Decimal("1000"), Decimal("2500")),
}
DEMO_PASSWORD = "Demo-Pass-2026!"  # noqa: S105 - printed to the operator on purpose
PLATFORM_NAME = "Fynlo Demo Platform"
PLATFORM_OWNER_EMAIL = "platform@fynlo.demo"
# A fixed till token so the demo's PIN sign-in works out of the box; real tills get a
# random token from POST /api/devices, shown once.
DEMO_DEVICE_TOKEN = "demo-till-fynlo-bistro-soho"  # noqa: S105 - demo data, printed on purpose
DEMO_DEVICE_NAME = "Front counter till (demo)"
OPENING_STOCK_REASON = "Opening stock (demo)"
# The restaurant whose stock the demo tracks (and whose staff have a rota and a timesheet).
STOCK_RESTAURANT = "bistro"
DEMO_PRINTER_NAME = "Kitchen printer (demo)"
# A network printer on this machine's port 9100: `nc -lk 9100 | xxd` shows what it is sent.
DEMO_PRINTER = {"host": "127.0.0.1", "port": 9100, "columns": 42, "stations": ["*"]}
DEMO_HOURLY_RATE_MINOR = 1250
# Each person's shift pattern: local start and end, and which weekdays (Monday = 0) off.
ROTA: dict[str, tuple[time, time, tuple[int, ...]]] = {
    "manager": (time(9, 0), time(17, 30), (5, 6)),
    "captain": (time(16, 0), time(23, 30), (0, 1)),
    "cashier": (time(11, 0), time(19, 0), (2, 3)),
    "waiter": (time(17, 0), time(0, 30), (1, 2)),
    "kitchen_staff": (time(10, 0), time(18, 0), (3, 4)),
    "employee": (time(12, 0), time(16, 0), (0, 6)),
}
ROTA_STATIONS = {"kitchen_staff": "grill", "waiter": "floor", "captain": "floor"}


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
        steps += [(f"menu of {spec.name}", self._menu_step(spec)) for spec in RESTAURANTS]
        steps += [("tables", self.load_tables), ("stock levels", self.load_stock)]
        steps += [("cash drawers and gift cards", self.load_payments)]
        steps += [("kitchen stations and a printer", self.load_kitchen)]
        steps += [("two weeks of shifts and last week's time entries", self.load_rota)]
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

    # --- menu -------------------------------------------------------------------------

    def _menu_step(self, spec: RestaurantSpec) -> Callable[[], Awaitable[None]]:
        async def step() -> None:
            await self.load_menu(spec.key)

        return step

    async def load_menu(self, key: str) -> None:
        restaurant = self.restaurants[key]
        if key == "masala" and restaurant.tax_configuration == DEFAULT_TAX_CONFIGURATION:
            # Set once: a configuration someone has changed since is theirs, not the demo's.
            restaurant.tax_configuration = dict(MASALA_TAX_CONFIGURATION)
        categories = {
            category.name.lower(): category
            for category in await self.session.scalars(
                select(Category).where(Category.restaurant_id == restaurant.id)
            )
        }
        products = {
            name.lower()
            for name in await self.session.scalars(
                select(Product.name).where(Product.restaurant_id == restaurant.id)
            )
        }
        for position, section in enumerate(MENUS[key], start=1):
            category = categories.get(section.name.lower())
            self.report.count("categories", category is None)
            if category is None:
                category = self._category(restaurant, section, sort_order=position * 10)
                categories[section.name.lower()] = category
                await self.session.flush()  # its id, for the products below
            for item_position, item in enumerate(section.items, start=1):
                created = item.name.lower() not in products
                if created:
                    await self._product(restaurant, category, item, sort_order=item_position * 10)
                    products.add(item.name.lower())
                self.report.count("products", created)
        await self.session.flush()

    def _category(self, restaurant: Restaurant, section: Section, *, sort_order: int) -> Category:
        # Validated as the API validates a new category, so the demo holds nothing it refuses.
        body = CategoryCreate(
            name=section.name,
            description=section.description,
            color=section.color,
            sort_order=sort_order,
            kitchen_station=section.station,
        )
        category = Category(
            restaurant_id=restaurant.id,
            name=body.name,
            description=body.description,
            color=body.color,
            sort_order=body.sort_order,
            kitchen_station=body.kitchen_station,
            is_active=True,
        )
        self.session.add(category)
        return category

    async def _product(
        self, restaurant: Restaurant, category: Category, item: Item, *, sort_order: int
    ) -> Product:
        currency = restaurant.currency
        # The API's own request schema and modifier rules: valid dietary flags and
        # allergens, tags, barcode format, and groups an order can always satisfy.
        body = ProductCreate.model_validate(
            {
                "name": item.name,
                "description": item.description,
                "price": to_major(item.price, currency),
                "costPrice": to_major(item.cost, currency),
                "categoryId": category.id,
                "barcode": item.barcode,
                "dietaryInfo": {
                    **dict.fromkeys(item.dietary, True),
                    "containsAllergens": list(item.allergens),
                },
                "tags": list(item.tags),
                "preparationTime": item.prep,
                "kitchenStation": item.station,
                "sortOrder": sort_order,
                "taxCategory": "standard",
                "takeawayTaxCategory": item.takeaway_tax_category,
                "modifiers": [
                    {
                        "name": group.name,
                        "minChoices": group.min_choices,
                        "maxChoices": group.max_choices,
                        "options": [
                            {"name": option.name, "price": to_major(option.price, currency)}
                            for option in group.options
                        ],
                    }
                    for group in item.groups
                ],
            }
        )
        check_modifier_groups(body.modifiers)
        barcode = body.barcode
        if barcode is not None and await self._barcode_taken(restaurant, barcode):
            barcode = None  # another (non-demo) product has it; barcodes must stay unique
        product = Product(
            restaurant_id=restaurant.id,
            category_id=category.id,
            name=body.name,
            description=body.description,
            price_minor=to_minor(body.price, currency),
            cost_price_minor=to_minor(body.cost_price, currency),
            barcode=barcode,
            is_available=True,
            is_archived=False,
            dietary_info=body.dietary_info.model_dump(mode="json", by_alias=True),
            tags=list(body.tags),
            preparation_time=body.preparation_time,
            kitchen_station=body.kitchen_station,
            sort_order=body.sort_order,
            tax_category=body.tax_category,
            takeaway_tax_category=body.takeaway_tax_category,
            version=1,
        )
        product.modifier_groups = [
            ModifierGroup(
                restaurant_id=restaurant.id,
                name=group.name,
                min_choices=group.min_choices,
                max_choices=group.max_choices,
                sort_order=group_position,
                options=[
                    ModifierOption(
                        restaurant_id=restaurant.id,
                        name=option.name,
                        price_minor=to_minor(option.price, currency),
                        is_available=option.is_available,
                        sort_order=option_position,
                    )
                    for option_position, option in enumerate(group.options)
                ],
            )
            for group_position, group in enumerate(body.modifiers)
        ]
        self.session.add(product)
        return product

    async def _barcode_taken(self, restaurant: Restaurant, barcode: str) -> bool:
        found = await self.session.scalar(
            select(Product.id)
            .where(
                Product.restaurant_id == restaurant.id,
                Product.barcode == barcode,
                Product.is_archived.is_(False),
            )
            .limit(1)
        )
        return found is not None

    # --- floor ------------------------------------------------------------------------

    async def load_tables(self) -> None:
        for key, tables in TABLES.items():
            restaurant = self.restaurants[key]
            numbers = set(
                await self.session.scalars(
                    select(DiningTable.number).where(DiningTable.restaurant_id == restaurant.id)
                )
            )
            for table in tables:
                created = table.number not in numbers
                if created:
                    self.session.add(
                        DiningTable(
                            restaurant_id=restaurant.id,
                            number=table.number,
                            seats=table.seats,
                            section=table.section,
                            status="available",
                            is_active=True,
                            version=1,
                        )
                    )
                self.report.count("tables", created)
        await self.session.flush()

    # --- stock ------------------------------------------------------------------------

    async def load_stock(self) -> None:
        """Levels for the bistro's tracked products, each with its opening ledger row."""
        restaurant = self.restaurants[STOCK_RESTAURANT]
        products = {
            product.name.lower(): product
            for product in await self.session.scalars(
                select(Product).where(
                    Product.restaurant_id == restaurant.id, Product.is_archived.is_(False)
                )
            )
        }
        tracked = set(
            await self.session.scalars(
                select(InventoryItem.product_id).where(InventoryItem.restaurant_id == restaurant.id)
            )
        )
        now = utc_now()
        for section in MENUS[STOCK_RESTAURANT]:
            for item in section.items:
                product = products.get(item.name.lower())
                if item.stock is None or product is None:
                    continue
                created = product.id not in tracked
                if created:
                    stock = item.stock
                    level = stock.level * MILLI
                    contact = SupplierContact(
                        name=stock.supplier.contact,
                        email=stock.supplier.email,
                        phone=stock.supplier.phone,
                        account_number=stock.supplier.account_number,
                    )
                    self.session.add(
                        InventoryItem(
                            restaurant_id=restaurant.id,
                            product_id=product.id,
                            current_stock_milli=level,
                            minimum_stock_milli=stock.minimum * MILLI,
                            maximum_stock_milli=stock.maximum * MILLI,
                            reorder_point_milli=stock.reorder_point * MILLI,
                            reorder_quantity_milli=stock.reorder_quantity * MILLI,
                            unit=stock.unit,
                            cost_per_unit_minor=stock.cost_per_unit,
                            supplier_name=stock.supplier.name,
                            supplier_contact=contact.model_dump(mode="json", exclude_none=True),
                            last_restocked=now,
                            auto_reorder=False,
                            turnover_rate=stock.turnover,
                            low_stock_alerted=False,
                        )
                    )
                    # The ledger sums to the level: the opening stock is its first row.
                    self.session.add(
                        StockMovement(
                            restaurant_id=restaurant.id,
                            product_id=product.id,
                            kind="restock",
                            quantity_milli=level,
                            balance_after_milli=level,
                            reason=OPENING_STOCK_REASON,
                        )
                    )
                self.report.count("stock items", created)
        await self.session.flush()

    # --- payments ---------------------------------------------------------------------

    async def load_payments(self) -> None:
        """Each restaurant's main drawer open with a float, and two gift cards (codes
        ``DEMOGIFT<key>1`` and ``...2``) with their ledger rows, for the till demo."""
        now = utc_now()
        for key, restaurant in self.restaurants.items():
            drawer = await self.session.scalar(
                select(CashDrawerSession).where(
                    CashDrawerSession.restaurant_id == restaurant.id,
                    CashDrawerSession.drawer == "main",
                    CashDrawerSession.status == "open",
                )
            )
            if drawer is None:
                float_minor = to_minor(DEMO_FLOAT[restaurant.currency], restaurant.currency)
                drawer = CashDrawerSession(
                    restaurant_id=restaurant.id,
                    drawer="main",
                    currency=restaurant.currency,
                    status="open",
                    float_minor=float_minor,
                    opened_at=now,
                )
                self.session.add(drawer)
                await self.session.flush()
                self.session.add(
                    CashMovement(
                        restaurant_id=restaurant.id,
                        session_id=drawer.id,
                        kind="float",
                        amount_minor=float_minor,
                        reason="opening float (demo)",
                    )
                )
            self.report.count("open cash drawers", drawer.opened_at == now)
            for number, amount in enumerate(DEMO_GIFT_CARDS[restaurant.currency], start=1):
                code = f"DEMOGIFT{key.upper()}{number}"
                exists = await self.session.scalar(
                    select(GiftCard.id).where(
                        GiftCard.restaurant_id == restaurant.id, GiftCard.code == code
                    )
                )
                if exists is None:
                    balance = to_minor(amount, restaurant.currency)
                    card = GiftCard(
                        restaurant_id=restaurant.id,
                        code=code,
                        currency=restaurant.currency,
                        balance_minor=balance,
                        initial_minor=balance,
                        status="active",
                    )
                    self.session.add(card)
                    await self.session.flush()
                    self.session.add(
                        GiftCardEntry(
                            restaurant_id=restaurant.id,
                            gift_card_id=card.id,
                            kind="issue",
                            amount_minor=balance,
                            balance_after_minor=balance,
                            reason="demo card",
                        )
                    )
                self.report.count("gift cards", exists is None)
        await self.session.flush()

    # --- kitchen ----------------------------------------------------------------------

    async def load_kitchen(self) -> None:
        """A station for every station the restaurant's menu names (the busiest is the
        default); the bistro also gets a network kitchen printer taking every station.
        Tickets are not printed automatically in the demo (``autoPrintTickets`` false): turn
        it on with a printer, or ``nc -lk 9100``, listening."""
        for key, restaurant in self.restaurants.items():
            used = Counter(
                item.station or section.station for section in MENUS[key] for item in section.items
            )
            existing = set(
                await self.session.scalars(
                    select(KitchenStation.code).where(KitchenStation.restaurant_id == restaurant.id)
                )
            )
            busiest = used.most_common(1)[0][0]
            for order, code in enumerate(sorted(used)):
                created = code not in existing
                if created:
                    self.session.add(
                        KitchenStation(
                            restaurant_id=restaurant.id,
                            code=code,
                            name=code.replace("_", " ").title(),
                            is_default=code == busiest and not existing,
                            sort_order=order,
                            status_changed_at=utc_now(),
                        )
                    )
                self.report.count("kitchen stations", created)
        bistro = self.restaurants[STOCK_RESTAURANT]
        printer = await self.session.scalar(
            select(HardwareDevice.id).where(
                HardwareDevice.restaurant_id == bistro.id,
                HardwareDevice.device_name == DEMO_PRINTER_NAME,
            )
        )
        if printer is None:
            self.session.add(
                HardwareDevice(
                    restaurant_id=bistro.id,
                    device_type="printer",
                    device_name=DEMO_PRINTER_NAME,
                    connection_type="ethernet",
                    configuration=dict(DEMO_PRINTER),
                )
            )
            settings = await self.session.scalar(
                select(RestaurantSettings).where(RestaurantSettings.restaurant_id == bistro.id)
            )
            if settings is not None and "autoPrintTickets" not in (settings.kitchen_settings or {}):
                settings.kitchen_settings = {
                    **(settings.kitchen_settings or {}),
                    "autoPrintTickets": False,
                }
        self.report.count("printers", printer is None)
        await self.session.flush()

    # --- rota and time clock ----------------------------------------------------------

    async def load_rota(self) -> None:
        """The bistro staff's published shifts for last week and this week, and the time
        entries of last week as worked: clocked in a few minutes early, a 30-minute
        unpaid break, out a little late; the waiter's shifts cross midnight."""
        restaurant = self.restaurants[STOCK_RESTAURANT]
        if await self.session.scalar(
            select(Shift.id).where(Shift.restaurant_id == restaurant.id).limit(1)
        ):
            self.report.count("shifts", False)
            return
        zone = zone_of(restaurant)
        now = utc_now()
        today = now.astimezone(zone).date()
        monday = today - timedelta(days=today.weekday())
        staff = {
            user.role: user
            for user in await self.session.scalars(
                select(User).where(
                    User.restaurant_id == restaurant.id, User.email.like("%@fynlo.demo")
                )
            )
            if user.role in ROTA
        }
        manager = staff.get("manager")
        for role, user in sorted(staff.items()):
            start, end, off = ROTA[role]
            if user.hourly_rate_minor is None:
                user.hourly_rate_minor = DEMO_HOURLY_RATE_MINOR
            for offset in range(-7, 7):
                day = monday + timedelta(days=offset)
                if day.weekday() in off:
                    continue
                starts, ends = _local_span(day, start, end, zone)
                self.session.add(
                    Shift(
                        restaurant_id=restaurant.id,
                        user_id=user.id,
                        role=role,
                        station=ROTA_STATIONS.get(role),
                        starts_at=starts,
                        ends_at=ends,
                        published_at=now,
                        created_by=manager.id if manager else None,
                    )
                )
                self.report.count("shifts", True)
                if ends > now or offset >= 0:
                    continue
                clock_in = starts - timedelta(minutes=4 + offset % 3)
                clock_out = ends + timedelta(minutes=6 + offset % 5)
                pause = starts + (ends - starts) / 2
                worked = int((clock_out - clock_in).total_seconds()) - 30 * 60
                self.session.add(
                    TimeEntry(
                        restaurant_id=restaurant.id,
                        user_id=user.id,
                        clock_in=clock_in,
                        clock_out=clock_out,
                        breaks=[
                            {
                                "start": pause.isoformat(),
                                "end": (pause + timedelta(minutes=30)).isoformat(),
                                "paid": False,
                            }
                        ],
                        break_minutes=30,
                        total_hours=hours(worked),
                        hourly_rate_minor=user.hourly_rate_minor,
                    )
                )
                self.report.count("time entries", True)
        await self.session.flush()


def _local_span(day: date, start: time, end: time, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """A shift's UTC start and end from local wall-clock times; an end before the start is
    the next day's (a shift that crosses midnight)."""
    starts = datetime.combine(day, start, tzinfo=zone)
    ends = datetime.combine(day + timedelta(days=1 if end <= start else 0), end, tzinfo=zone)
    return starts.astimezone(ZoneInfo("UTC")), ends.astimezone(ZoneInfo("UTC"))
