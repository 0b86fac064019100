"""Request and response bodies for categories, products and their modifier groups."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, get_args

from pydantic import (
    Field,
    HttpUrl,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from fynlo.kit.money import MoneyIn, MoneyOut
from fynlo.kit.schemas import RequestSchema, Schema

# Flags of ``dietaryInfo`` a product may carry; ``?dietary=`` filters on them.
DietaryFlag = Literal[
    "vegetarian", "vegan", "glutenFree", "dairyFree", "nutFree", "halal", "kosher", "spicy"
]
DIETARY_FLAGS: tuple[str, ...] = get_args(DietaryFlag)

# The 14 allergens UK and EU law require a menu to declare.
Allergen = Literal[
    "celery",
    "gluten",
    "crustaceans",
    "eggs",
    "fish",
    "lupin",
    "milk",
    "molluscs",
    "mustard",
    "nuts",
    "peanuts",
    "sesame",
    "soya",
    "sulphites",
]

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30)]
TAX_CATEGORY_PATTERN = r"^[a-z][a-z0-9_]{0,29}$"
BARCODE_PATTERN = r"^[!-~]{1,50}$"  # printable ASCII without spaces: EAN, UPC, Code 128
COLOR_PATTERN = r"^(#[0-9A-Fa-f]{3}|#[0-9A-Fa-f]{6}|#[0-9A-Fa-f]{8}|[A-Za-z]{1,20})$"
MAX_SORT_ORDER = 1_000_000

_HTTP_URL = TypeAdapter(HttpUrl)


def _http_url(value: str | None) -> str | None:
    """Checked as an http(s) URL but stored as sent (no normalising trailing slash)."""
    if value is None:
        return None
    try:
        _HTTP_URL.validate_python(value)
    except ValidationError as exc:
        raise ValueError("must be an absolute http(s) URL") from exc
    return value


def _unique_tags(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    seen: set[str] = set()
    unique = []
    for tag in value:
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            unique.append(tag)
    return unique


class DietaryInfo(RequestSchema):
    vegetarian: bool = False
    vegan: bool = False
    gluten_free: bool = False
    dairy_free: bool = False
    nut_free: bool = False
    halal: bool = False
    kosher: bool = False
    spicy: bool = False
    contains_allergens: list[Allergen] = Field(
        default_factory=list,
        max_length=14,
        description="Of the 14 allergens UK/EU law requires a menu to declare",
    )

    @field_validator("contains_allergens")
    @classmethod
    def _dedupe(cls, value: list[Allergen]) -> list[Allergen]:
        return sorted(set(value))


class DietaryInfoOut(Schema):
    vegetarian: bool = False
    vegan: bool = False
    gluten_free: bool = False
    dairy_free: bool = False
    nut_free: bool = False
    halal: bool = False
    kosher: bool = False
    spicy: bool = False
    contains_allergens: list[str] = Field(default_factory=list)


class CategoryCreate(RequestSchema):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    image_url: str | None = Field(default=None, max_length=2048)
    color: str | None = Field(default=None, pattern=COLOR_PATTERN, examples=["#FF5733"])
    sort_order: int = Field(default=0, ge=0, le=MAX_SORT_ORDER)
    kitchen_station: str | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="Where its products are prepared unless a product says otherwise",
    )
    is_active: bool = True

    _url = field_validator("image_url")(_http_url)


class CategoryUpdate(RequestSchema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    image_url: str | None = Field(default=None, max_length=2048)
    color: str | None = Field(default=None, pattern=COLOR_PATTERN)
    sort_order: int | None = Field(default=None, ge=0, le=MAX_SORT_ORDER)
    kitchen_station: str | None = Field(default=None, min_length=1, max_length=50)
    is_active: bool | None = Field(
        default=None, description="false archives (refused while it has active products)"
    )

    _url = field_validator("image_url")(_http_url)


class CategoryOut(Schema):
    id: uuid.UUID
    restaurant_id: uuid.UUID
    name: str
    description: str | None
    image_url: str | None
    color: str | None
    sort_order: int
    kitchen_station: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class ModifierOptionIn(RequestSchema):
    name: str = Field(min_length=1, max_length=50)
    price: MoneyIn = Field(default=Decimal(0), description="Added to the product's price")
    is_available: bool = True


class ModifierGroupIn(RequestSchema):
    """A choice on a product: size (exactly one: min 1, max 1), extras (up to 3: min 0, max 3)."""

    name: str = Field(min_length=1, max_length=50, examples=["size"])
    min_choices: int = Field(default=0, ge=0, le=50)
    max_choices: int = Field(default=1, ge=1, le=50)
    options: list[ModifierOptionIn] = Field(min_length=1, max_length=50)


class ProductCreate(RequestSchema):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=5000)
    price: MoneyIn
    cost_price: MoneyIn = Decimal(0)
    category_id: uuid.UUID
    subcategory: str | None = Field(default=None, min_length=1, max_length=100)
    image_url: str | None = Field(default=None, max_length=2048)
    barcode: str | None = Field(default=None, pattern=BARCODE_PATTERN)
    is_available: bool = True
    dietary_info: DietaryInfo = Field(default_factory=DietaryInfo)
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    preparation_time: int = Field(default=0, ge=0, le=600, description="Minutes")
    kitchen_station: str | None = Field(
        default=None, min_length=1, max_length=50, description="Defaults to the category's"
    )
    sort_order: int = Field(default=0, ge=0, le=MAX_SORT_ORDER)
    tax_category: str = Field(default="standard", pattern=TAX_CATEGORY_PATTERN)
    takeaway_tax_category: str | None = Field(default=None, pattern=TAX_CATEGORY_PATTERN)
    modifiers: list[ModifierGroupIn] = Field(default_factory=list, max_length=20)

    _url = field_validator("image_url")(_http_url)
    _tags = field_validator("tags")(_unique_tags)


class ProductUpdate(RequestSchema):
    """Fields left out are kept; ``modifiers``, when sent, replaces every group."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=5000)
    price: MoneyIn | None = None
    cost_price: MoneyIn | None = None
    category_id: uuid.UUID | None = None
    subcategory: str | None = Field(default=None, min_length=1, max_length=100)
    image_url: str | None = Field(default=None, max_length=2048)
    barcode: str | None = Field(default=None, pattern=BARCODE_PATTERN)
    is_available: bool | None = None
    dietary_info: DietaryInfo | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)
    preparation_time: int | None = Field(default=None, ge=0, le=600)
    kitchen_station: str | None = Field(default=None, min_length=1, max_length=50)
    sort_order: int | None = Field(default=None, ge=0, le=MAX_SORT_ORDER)
    tax_category: str | None = Field(default=None, pattern=TAX_CATEGORY_PATTERN)
    takeaway_tax_category: str | None = Field(default=None, pattern=TAX_CATEGORY_PATTERN)
    modifiers: list[ModifierGroupIn] | None = Field(default=None, max_length=20)
    version: int | None = Field(
        default=None, ge=1, description="The version you read; a stale one is a 409"
    )

    _url = field_validator("image_url")(_http_url)
    _tags = field_validator("tags")(_unique_tags)


# Fields of ProductUpdate that may be sent as null to clear them; others refuse null.
PRODUCT_NULLABLE = frozenset(
    {
        "description",
        "subcategory",
        "image_url",
        "barcode",
        "kitchen_station",
        "takeaway_tax_category",
        "version",
    }
)
CATEGORY_NULLABLE = frozenset({"description", "image_url", "color", "kitchen_station"})


class AvailabilityUpdate(RequestSchema):
    is_available: bool
    version: int | None = Field(default=None, ge=1)


class ModifierOptionOut(Schema):
    id: uuid.UUID
    name: str
    price: MoneyOut
    is_available: bool
    sort_order: int


class ModifierGroupOut(Schema):
    id: uuid.UUID
    name: str
    min_choices: int
    max_choices: int
    sort_order: int
    options: list[ModifierOptionOut]


class ProductOut(Schema):
    id: uuid.UUID
    restaurant_id: uuid.UUID
    name: str
    description: str | None
    price: MoneyOut
    cost_price: MoneyOut | None = Field(
        description="Shown only to callers with menu.manage (null otherwise)"
    )
    category_id: uuid.UUID
    category: str = Field(description="The category's name")
    subcategory: str | None
    image_url: str | None
    barcode: str | None
    is_available: bool
    is_archived: bool
    dietary_info: DietaryInfoOut
    tags: list[str]
    preparation_time: int
    kitchen_station: str | None
    effective_kitchen_station: str | None = Field(
        description="The product's station, else its category's"
    )
    sort_order: int
    tax_category: str
    takeaway_tax_category: str | None
    modifiers: list[ModifierGroupOut]
    version: int
    created_at: datetime
    updated_at: datetime


class ProductDeleted(Schema):
    id: uuid.UUID
    deleted: bool = Field(description="true: the product is gone")
    archived: bool = Field(
        description="true: past orders reference it, so it was archived instead (hidden "
        "from the menu, still readable by id)"
    )
