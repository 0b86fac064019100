"""Menu rules: categories, products and modifier groups, and choosing modifiers for an order line.

Invariants kept here:

- an active (non-archived) product always belongs to an active category of its restaurant;
- category names are unique (case-insensitively) among a restaurant's active categories, and
  barcodes among its non-archived products;
- a modifier group can always be satisfied when created: ``min <= max <= options``;
- a product that past orders or stock history refer to is archived, never deleted, so old
  orders and receipts still show it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic.alias_generators import to_camel
from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import record
from fynlo.auth.subject import Subject
from fynlo.db.locking import serialise
from fynlo.events.outbox import emit
from fynlo.kit.errors import (
    AlreadyExists,
    Conflict,
    ResourceNotFound,
    StaleVersion,
    Unprocessable,
)
from fynlo.kit.money import to_minor
from fynlo.kit.pagination import PageParams
from fynlo.kit.schemas import RequestSchema
from fynlo.menu.schemas import (
    CATEGORY_NULLABLE,
    PRODUCT_NULLABLE,
    AvailabilityUpdate,
    CategoryCreate,
    CategoryUpdate,
    ModifierGroupIn,
    ProductCreate,
    ProductUpdate,
)
from fynlo.models import (
    Category,
    ModifierGroup,
    ModifierOption,
    OrderItem,
    Product,
    ReorderRequest,
    Restaurant,
    StockMovement,
)

MENU_UPDATED = "menu_updated"

# Known without configuration: "standard" is the restaurant's VAT rate, the others are 0 %.
BUILT_IN_TAX_CATEGORIES = frozenset({"standard", "zero", "exempt"})


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable(f"{field}: {message}", details=[{"field": field, "message": message}])


def _refuse_nulls(body: RequestSchema, nullable: frozenset[str]) -> None:
    """An update may leave a field out, but only clearable fields may be sent as null."""
    details = [
        {"field": to_camel(name), "message": "cannot be null"}
        for name in sorted(body.model_fields_set)
        if name not in nullable and getattr(body, name) is None
    ]
    if details:
        summary = ", ".join(d["field"] for d in details)
        raise Unprocessable(f"{summary}: cannot be null", details=details)


async def _menu_lock(session: AsyncSession, restaurant_id: uuid.UUID) -> None:
    """Serialise menu writes of one restaurant so uniqueness checks cannot race."""
    await serialise(session, f"fynlo.menu:{restaurant_id}")


async def _active_restaurant(session: AsyncSession, restaurant_id: uuid.UUID) -> Restaurant | None:
    restaurant = await session.get(Restaurant, restaurant_id)
    return restaurant if restaurant is not None and restaurant.is_active else None


def _name_key(name: str) -> str:
    """Names compare ignoring case (``str.lower``, as callers matching the results do)."""
    return name.lower()


# ---------------------------------------------------------------------------------------------
# Categories


def _category_view(category: Category) -> dict[str, Any]:
    return {
        "name": category.name,
        "description": category.description,
        "imageUrl": category.image_url,
        "color": category.color,
        "sortOrder": category.sort_order,
        "kitchenStation": category.kitchen_station,
        "isActive": category.is_active,
    }


def _changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [k for k in new if old.get(k) != new[k]]
    return {k: old.get(k) for k in keys}, {k: new[k] for k in keys}


@dataclass
class CategoryService:
    session: AsyncSession
    subject: Subject

    async def list(
        self, restaurant: Restaurant, params: PageParams, *, include_archived: bool
    ) -> tuple[list[Category], int]:
        conditions: list[ColumnElement[bool]] = [Category.restaurant_id == restaurant.id]
        if not include_archived:
            conditions.append(Category.is_active.is_(True))
        total = await self.session.scalar(select(func.count(Category.id)).where(*conditions)) or 0
        rows = await self.session.scalars(
            select(Category)
            .where(*conditions)
            .order_by(Category.sort_order, Category.name, Category.id)
            .limit(params.limit)
            .offset(params.offset)
        )
        return list(rows), total

    async def get(self, category_id: uuid.UUID, *, lock: bool = False) -> Category:
        query = select(Category).where(
            Category.id == category_id, self.subject.scope.clause(Category.restaurant_id)
        )
        if lock:
            query = query.with_for_update()  # SQLite: BEGIN IMMEDIATE already locks
        category = await self.session.scalar(query)
        if (
            category is None
            or await _active_restaurant(self.session, category.restaurant_id) is None
        ):
            raise ResourceNotFound("Category", category_id)
        return category

    async def _name_free(
        self, restaurant_id: uuid.UUID, name: str, except_id: uuid.UUID | None = None
    ) -> None:
        query = select(Category.id).where(
            Category.restaurant_id == restaurant_id,
            Category.is_active.is_(True),
            func.lower(Category.name) == name.lower(),
        )
        if except_id is not None:
            query = query.where(Category.id != except_id)
        if await self.session.scalar(query.limit(1)) is not None:
            raise AlreadyExists(f"A category named '{name}' already exists", ["name"])

    async def _refuse_if_products(self, category: Category) -> None:
        count = (
            await self.session.scalar(
                select(func.count(Product.id)).where(
                    Product.restaurant_id == category.restaurant_id,
                    Product.category_id == category.id,
                    Product.is_archived.is_(False),
                )
            )
            or 0
        )
        if count:
            raise Conflict(
                f"Category '{category.name}' still has {count} active product(s); move them "
                "to another category or delete them first",
                details={"activeProducts": count},
            )

    async def create(self, restaurant: Restaurant, body: CategoryCreate) -> Category:
        await _menu_lock(self.session, restaurant.id)
        if body.is_active:
            await self._name_free(restaurant.id, body.name)
        category = Category(
            id=uuid.uuid4(),
            restaurant_id=restaurant.id,
            name=body.name,
            description=body.description,
            image_url=body.image_url,
            color=body.color,
            sort_order=body.sort_order,
            kitchen_station=body.kitchen_station,
            is_active=body.is_active,
        )
        self.session.add(category)
        await self.session.flush()
        await record(
            self.session,
            self.subject.actor,
            action="category.create",
            resource_type="category",
            resource_id=category.id,
            restaurant_id=restaurant.id,
            new=_category_view(category),
        )
        emit(
            self.session,
            restaurant.id,
            MENU_UPDATED,
            {"categoryId": str(category.id), "action": "created"},
        )
        return category

    async def update(self, category_id: uuid.UUID, body: CategoryUpdate) -> Category:
        _refuse_nulls(body, CATEGORY_NULLABLE)
        category = await self.get(category_id, lock=True)
        await _menu_lock(self.session, category.restaurant_id)
        fields = body.model_fields_set
        name = body.name if body.name is not None else category.name
        active = body.is_active if body.is_active is not None else category.is_active
        renamed = name.lower() != category.name.lower()
        if active and (renamed or not category.is_active):
            await self._name_free(category.restaurant_id, name, except_id=category.id)
        if category.is_active and not active:
            await self._refuse_if_products(category)
        old = _category_view(category)
        for field in sorted(fields):
            setattr(category, field, getattr(body, field))
        new = _category_view(category)
        if new == old:
            return category
        await self.session.flush()
        if old["isActive"] != new["isActive"]:
            action = "restored" if new["isActive"] else "archived"
        else:
            action = "updated"
        before, after = _changes(old, new)
        await record(
            self.session,
            self.subject.actor,
            action="category.archive" if action == "archived" else "category.update",
            resource_type="category",
            resource_id=category.id,
            restaurant_id=category.restaurant_id,
            old=before,
            new=after,
        )
        emit(
            self.session,
            category.restaurant_id,
            MENU_UPDATED,
            {"categoryId": str(category.id), "action": action},
        )
        return category

    async def archive(self, category_id: uuid.UUID) -> Category:
        category = await self.get(category_id, lock=True)
        if not category.is_active:
            return category
        await _menu_lock(self.session, category.restaurant_id)
        await self._refuse_if_products(category)
        category.is_active = False
        await self.session.flush()
        await record(
            self.session,
            self.subject.actor,
            action="category.archive",
            resource_type="category",
            resource_id=category.id,
            restaurant_id=category.restaurant_id,
            old={"isActive": True},
            new={"isActive": False},
        )
        emit(
            self.session,
            category.restaurant_id,
            MENU_UPDATED,
            {"categoryId": str(category.id), "action": "archived"},
        )
        return category


# ---------------------------------------------------------------------------------------------
# Products and their modifier groups


def check_modifier_groups(groups: Sequence[ModifierGroupIn]) -> None:
    """Refuse groups an order could never satisfy or match unambiguously (422 naming each)."""
    details: list[dict[str, str]] = []

    def problem(field: str, message: str) -> None:
        details.append({"field": field, "message": message})

    group_names: set[str] = set()
    for gi, group in enumerate(groups):
        at = f"modifiers.{gi}"
        if _name_key(group.name) in group_names:
            problem(f"{at}.name", f"group '{group.name}' appears twice in this product")
        group_names.add(_name_key(group.name))
        count = len(group.options)
        if group.max_choices < group.min_choices:
            problem(
                f"{at}.maxChoices",
                f"maxChoices ({group.max_choices}) cannot be below minChoices "
                f"({group.min_choices})",
            )
        if group.min_choices > count:
            problem(
                f"{at}.minChoices",
                f"minChoices ({group.min_choices}) cannot exceed the number of options ({count})",
            )
        if group.max_choices > count:
            problem(
                f"{at}.maxChoices",
                f"maxChoices ({group.max_choices}) cannot exceed the number of options ({count})",
            )
        option_names: set[str] = set()
        for oi, option in enumerate(group.options):
            if _name_key(option.name) in option_names:
                problem(
                    f"{at}.options.{oi}.name",
                    f"option '{option.name}' appears twice in group '{group.name}'",
                )
            option_names.add(_name_key(option.name))
    if details:
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
        raise Unprocessable(f"Invalid modifiers: {summary}", details=details)


def _build_groups(
    restaurant_id: uuid.UUID, groups: Sequence[ModifierGroupIn], currency: str
) -> list[ModifierGroup]:
    return [
        ModifierGroup(
            id=uuid.uuid4(),
            restaurant_id=restaurant_id,
            name=group.name,
            min_choices=group.min_choices,
            max_choices=group.max_choices,
            sort_order=gi,
            options=[
                ModifierOption(
                    id=uuid.uuid4(),
                    restaurant_id=restaurant_id,
                    name=option.name,
                    price_minor=to_minor(
                        option.price, currency, field=f"modifiers.{gi}.options.{oi}.price"
                    ),
                    is_available=option.is_available,
                    sort_order=oi,
                )
                for oi, option in enumerate(group.options)
            ],
        )
        for gi, group in enumerate(groups)
    ]


def _groups_view(groups: Iterable[ModifierGroup]) -> list[dict[str, Any]]:
    return [
        {
            "name": group.name,
            "minChoices": group.min_choices,
            "maxChoices": group.max_choices,
            "options": [
                {"name": o.name, "priceMinor": o.price_minor, "isAvailable": o.is_available}
                for o in group.options
            ],
        }
        for group in groups
    ]


def _product_view(product: Product) -> dict[str, Any]:
    return {
        "name": product.name,
        "description": product.description,
        "priceMinor": product.price_minor,
        "costPriceMinor": product.cost_price_minor,
        "categoryId": str(product.category_id),
        "subcategory": product.subcategory,
        "imageUrl": product.image_url,
        "barcode": product.barcode,
        "isAvailable": product.is_available,
        "isArchived": product.is_archived,
        "dietaryInfo": product.dietary_info,
        "tags": product.tags,
        "preparationTime": product.preparation_time,
        "kitchenStation": product.kitchen_station,
        "sortOrder": product.sort_order,
        "taxCategory": product.tax_category,
        "takeawayTaxCategory": product.takeaway_tax_category,
        "modifiers": _groups_view(product.modifier_groups),
    }


def effective_kitchen_station(product: Product, category: Category | None) -> str | None:
    """Where the product is prepared: its own station, else its category's default."""
    if product.kitchen_station:
        return product.kitchen_station
    return category.kitchen_station if category is not None else None


@dataclass(frozen=True)
class ProductView:
    product: Product
    category: Category
    restaurant: Restaurant


# Plain columns PUT /api/products/:id copies as sent.
_PLAIN_FIELDS = (
    "name",
    "description",
    "subcategory",
    "image_url",
    "barcode",
    "is_available",
    "preparation_time",
    "kitchen_station",
    "sort_order",
    "tax_category",
    "takeaway_tax_category",
)


@dataclass
class ProductService:
    session: AsyncSession
    subject: Subject

    async def list(
        self,
        restaurant: Restaurant,
        params: PageParams,
        *,
        category_id: uuid.UUID | None = None,
        available: bool | None = None,
        dietary: Sequence[str] = (),
        search: str | None = None,
        include_archived: bool = False,
    ) -> tuple[list[tuple[Product, Category]], int]:
        conditions: list[ColumnElement[bool]] = [Product.restaurant_id == restaurant.id]
        if not include_archived:
            conditions.append(Product.is_archived.is_(False))
        if category_id is not None:
            conditions.append(Product.category_id == category_id)
        if available is not None:
            conditions.append(Product.is_available.is_(available))
        for flag in dietary:
            # JSON path extraction that SQLAlchemy renders for both SQLite and PostgreSQL.
            conditions.append(Product.dietary_info[flag].as_boolean().is_(true()))
        if search:
            conditions.append(
                func.lower(Product.name).contains(search.lower(), autoescape=True)
                | (Product.barcode == search)
            )
        total = await self.session.scalar(select(func.count(Product.id)).where(*conditions)) or 0
        rows = await self.session.execute(
            select(Product, Category)
            .join(Category, Category.id == Product.category_id)
            .where(*conditions)
            .order_by(Product.sort_order, Product.name, Product.id)
            .limit(params.limit)
            .offset(params.offset)
        )
        return [(product, category) for product, category in rows], total

    async def get(self, product_id: uuid.UUID, *, lock: bool = False) -> ProductView:
        """Archived products too: past orders and receipts still show them."""
        query = select(Product).where(
            Product.id == product_id, self.subject.scope.clause(Product.restaurant_id)
        )
        if lock:
            query = query.with_for_update()  # SQLite: BEGIN IMMEDIATE already locks
        product = await self.session.scalar(query)
        if product is None:
            raise ResourceNotFound("Product", product_id)
        restaurant = await _active_restaurant(self.session, product.restaurant_id)
        category = await self.session.get(Category, product.category_id)
        if restaurant is None or category is None:
            raise ResourceNotFound("Product", product_id)
        return ProductView(product, category, restaurant)

    async def _category_for(self, restaurant_id: uuid.UUID, category_id: uuid.UUID) -> Category:
        """Another restaurant's category reads as missing, so its existence does not leak."""
        category = await self.session.scalar(
            select(Category).where(
                Category.id == category_id, Category.restaurant_id == restaurant_id
            )
        )
        if category is None:
            raise _invalid("categoryId", "no such category")
        if not category.is_active:
            raise _invalid("categoryId", f"category '{category.name}' is archived")
        return category

    async def _barcode_free(
        self, restaurant_id: uuid.UUID, barcode: str, except_id: uuid.UUID | None = None
    ) -> None:
        query = select(Product.id).where(
            Product.restaurant_id == restaurant_id,
            Product.barcode == barcode,
            Product.is_archived.is_(False),
        )
        if except_id is not None:
            query = query.where(Product.id != except_id)
        if await self.session.scalar(query.limit(1)) is not None:
            raise AlreadyExists(f"Another product already has barcode {barcode}", ["barcode"])

    @staticmethod
    def _check_tax_category(restaurant: Restaurant, field: str, value: str | None) -> None:
        if value is None:
            return
        configured = (restaurant.tax_configuration or {}).get("taxCategories") or {}
        allowed = {*BUILT_IN_TAX_CATEGORIES, *configured}
        if value not in allowed:
            raise _invalid(
                field,
                f"unknown tax category '{value}'; this restaurant has {', '.join(sorted(allowed))}"
                " (add others under taxConfiguration.taxCategories in its settings)",
            )

    @staticmethod
    def _check_version(product: Product, version: int | None) -> None:
        if version is not None and version != product.version:
            raise StaleVersion("Product", version, product.version)

    @staticmethod
    def _refuse_archived(product: Product) -> None:
        if product.is_archived:
            raise Conflict(
                f"Product '{product.name}' is archived (past orders refer to it); create a new "
                "product instead",
                details={"productId": str(product.id), "isArchived": True},
            )

    def _emit(self, product: Product, action: str, **extra: Any) -> None:
        emit(
            self.session,
            product.restaurant_id,
            MENU_UPDATED,
            {"productId": str(product.id), "action": action, **extra},
        )

    async def create(self, restaurant: Restaurant, body: ProductCreate) -> ProductView:
        check_modifier_groups(body.modifiers)
        currency = restaurant.currency
        price = to_minor(body.price, currency, field="price")
        cost = to_minor(body.cost_price, currency, field="costPrice")
        self._check_tax_category(restaurant, "taxCategory", body.tax_category)
        self._check_tax_category(restaurant, "takeawayTaxCategory", body.takeaway_tax_category)
        groups = _build_groups(restaurant.id, body.modifiers, currency)
        await _menu_lock(self.session, restaurant.id)
        category = await self._category_for(restaurant.id, body.category_id)
        if body.barcode:
            await self._barcode_free(restaurant.id, body.barcode)
        product = Product(
            id=uuid.uuid4(),
            restaurant_id=restaurant.id,
            category_id=category.id,
            name=body.name,
            description=body.description,
            price_minor=price,
            cost_price_minor=cost,
            subcategory=body.subcategory,
            image_url=body.image_url,
            barcode=body.barcode,
            is_available=body.is_available,
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
        product.modifier_groups = groups
        self.session.add(product)
        await self.session.flush()
        await record(
            self.session,
            self.subject.actor,
            action="product.create",
            resource_type="product",
            resource_id=product.id,
            restaurant_id=restaurant.id,
            new=_product_view(product),
        )
        self._emit(product, "created")
        return ProductView(product, category, restaurant)

    async def update(self, product_id: uuid.UUID, body: ProductUpdate) -> ProductView:
        _refuse_nulls(body, PRODUCT_NULLABLE)
        if body.modifiers is not None:
            check_modifier_groups(body.modifiers)
        view = await self.get(product_id, lock=True)
        product, category, restaurant = view.product, view.category, view.restaurant
        self._check_version(product, body.version)
        self._refuse_archived(product)
        fields = body.model_fields_set
        currency = restaurant.currency
        price = to_minor(body.price, currency, field="price") if body.price is not None else None
        cost = (
            to_minor(body.cost_price, currency, field="costPrice")
            if body.cost_price is not None
            else None
        )
        self._check_tax_category(restaurant, "taxCategory", body.tax_category)
        self._check_tax_category(restaurant, "takeawayTaxCategory", body.takeaway_tax_category)
        groups = (
            _build_groups(restaurant.id, body.modifiers, currency)
            if body.modifiers is not None
            else None
        )
        await _menu_lock(self.session, restaurant.id)
        if body.category_id is not None and body.category_id != product.category_id:
            category = await self._category_for(restaurant.id, body.category_id)
        if body.barcode and body.barcode != product.barcode:
            await self._barcode_free(restaurant.id, body.barcode, except_id=product.id)

        old = _product_view(product)
        product.category_id = category.id
        for field in _PLAIN_FIELDS:
            if field in fields:
                setattr(product, field, getattr(body, field))
        if price is not None:
            product.price_minor = price
        if cost is not None:
            product.cost_price_minor = cost
        if body.tags is not None:
            product.tags = list(body.tags)
        if body.dietary_info is not None:
            product.dietary_info = body.dietary_info.model_dump(mode="json", by_alias=True)
        if groups is not None and _groups_view(groups) != old["modifiers"]:
            # Order items keep their own copy of modifier names and prices, so replacing
            # the groups never changes what a past order charged.
            product.modifier_groups = groups
        new = _product_view(product)
        if new == old:
            return ProductView(product, category, restaurant)
        product.version += 1
        await self.session.flush()
        before, after = _changes(old, new)
        await record(
            self.session,
            self.subject.actor,
            action="product.update",
            resource_type="product",
            resource_id=product.id,
            restaurant_id=product.restaurant_id,
            old=before,
            new=after,
        )
        self._emit(product, "updated")
        return ProductView(product, category, restaurant)

    async def set_availability(
        self, product_id: uuid.UUID, body: AvailabilityUpdate
    ) -> ProductView:
        view = await self.get(product_id, lock=True)
        product = view.product
        self._check_version(product, body.version)
        self._refuse_archived(product)
        if product.is_available == body.is_available:
            return view
        product.is_available = body.is_available
        product.version += 1
        await self.session.flush()
        await record(
            self.session,
            self.subject.actor,
            action="product.availability",
            resource_type="product",
            resource_id=product.id,
            restaurant_id=product.restaurant_id,
            old={"isAvailable": not body.is_available},
            new={"isAvailable": body.is_available},
        )
        self._emit(product, "availability_changed", isAvailable=body.is_available)
        return view

    async def _has_history(self, product: Product) -> bool:
        for model in (OrderItem, StockMovement, ReorderRequest):
            found = await self.session.scalar(
                select(model.id)
                .where(
                    model.restaurant_id == product.restaurant_id,
                    model.product_id == product.id,
                )
                .limit(1)
            )
            if found is not None:
                return True
        return False

    async def delete(self, product_id: uuid.UUID) -> bool:
        """Delete the product, or archive it when history refers to it; True if archived."""
        product = (await self.get(product_id, lock=True)).product
        if product.is_archived:
            return True
        if await self._has_history(product):
            product.is_archived = True
            product.is_available = False
            product.version += 1
            await self.session.flush()
            await record(
                self.session,
                self.subject.actor,
                action="product.archive",
                resource_type="product",
                resource_id=product.id,
                restaurant_id=product.restaurant_id,
                old={"isArchived": False},
                new={"isArchived": True, "isAvailable": False},
            )
            self._emit(product, "archived")
            return True
        old = _product_view(product)
        await self.session.delete(product)
        await self.session.flush()
        await record(
            self.session,
            self.subject.actor,
            action="product.delete",
            resource_type="product",
            resource_id=product.id,
            restaurant_id=product.restaurant_id,
            old=old,
        )
        self._emit(product, "deleted")
        return False


# ---------------------------------------------------------------------------------------------
# Choosing modifiers for an order line


@dataclass(frozen=True)
class ChosenModifier:
    group: str
    option: str
    price_minor: int


class InvalidModifierChoice(Unprocessable):
    """A modifier choice an order cannot take; ``product_id`` and ``group`` say where."""

    def __init__(self, product: Product, group: str | None, message: str) -> None:
        super().__init__(
            message,
            details=[
                {
                    "field": "modifiers",
                    "message": message,
                    "productId": str(product.id) if product.id else None,
                    "product": product.name,
                    "group": group,
                }
            ],
        )
        self.product_id = product.id
        self.group = group


def _choices(count: int) -> str:
    return f"{count} choice" + ("" if count == 1 else "s")


def choose_modifiers(
    product: Product, requested: Sequence[tuple[str, str]]
) -> list[ChosenModifier]:
    """Check an order line's ``[(group name, option name)]`` against the product's groups.

    Names match ignoring case. Returns the choices with the catalogue's
    names and prices, in the product's group order (and option order within a group), or
    raises :class:`InvalidModifierChoice` (a 422) naming the product and the group.
    """
    groups = list(product.modifier_groups)
    by_name = {_name_key(group.name): index for index, group in enumerate(groups)}
    picked: list[set[int]] = [set() for _ in groups]
    for group_name, option_name in requested:
        index = by_name.get(_name_key(group_name))
        if index is None:
            known = ", ".join(f"'{g.name}'" for g in groups)
            raise InvalidModifierChoice(
                product,
                group_name,
                f"'{product.name}' has no modifier group '{group_name}'"
                + (f" (it has {known})" if groups else " (it takes no modifiers)"),
            )
        group = groups[index]
        options = list(group.options)
        position = next(
            (i for i, o in enumerate(options) if _name_key(o.name) == _name_key(option_name)),
            None,
        )
        if position is None:
            known = ", ".join(f"'{o.name}'" for o in options)
            raise InvalidModifierChoice(
                product,
                group.name,
                f"'{option_name}' is not an option of '{group.name}' for '{product.name}' "
                f"(options: {known})",
            )
        option = options[position]
        if not option.is_available:
            raise InvalidModifierChoice(
                product,
                group.name,
                f"'{option.name}' ({group.name}) of '{product.name}' is not available",
            )
        if position in picked[index]:
            raise InvalidModifierChoice(
                product,
                group.name,
                f"'{option.name}' ({group.name}) of '{product.name}' was chosen more than once",
            )
        picked[index].add(position)

    chosen: list[ChosenModifier] = []
    for index, group in enumerate(groups):
        count = len(picked[index])
        low, high = group.min_choices, group.max_choices
        if count < low or count > high:
            if low == high:
                wanted = f"exactly {_choices(low)}"
            elif count < low:
                wanted = f"at least {_choices(low)}"
            else:
                wanted = f"at most {_choices(high)}"
            raise InvalidModifierChoice(
                product,
                group.name,
                f"'{product.name}' needs {wanted} of '{group.name}', {count} given",
            )
        chosen.extend(
            ChosenModifier(group=group.name, option=option.name, price_minor=option.price_minor)
            for position, option in enumerate(group.options)
            if position in picked[index]
        )
    return chosen
