"""Modifier groups: validation when a product is saved, and choose_modifiers for orders."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.kit.errors import Unprocessable
from fynlo.menu.service import ChosenModifier, InvalidModifierChoice, choose_modifiers
from fynlo.models import Product
from tests.menu.factories import (
    LATTE_MODIFIERS,
    create_category,
    create_product,
    group,
    product_body,
)
from tests.world import World, login


def latte() -> Product:
    """In memory: size (exactly one), extras (up to 3; cream is off), sides (exactly two)."""
    return Product(
        id=uuid.uuid4(),
        name="Latte",
        price_minor=350,
        modifier_groups=[
            group("size", {"small": 0, "large": 50}, low=1, high=1),
            group(
                "extras",
                {"extra shot": 60, "oat milk": 40, "syrup": 35, "cream": 20, "cinnamon": 0},
                low=0,
                high=3,
                unavailable=("cream",),
            ),
        ],
    )


def error_of(product: Product, requested: list[tuple[str, str]]) -> InvalidModifierChoice:
    with pytest.raises(InvalidModifierChoice) as caught:
        choose_modifiers(product, requested)
    return caught.value


def test_valid_choices_come_back_in_the_products_order_with_catalogue_names() -> None:
    chosen = choose_modifiers(
        latte(), [("EXTRAS", "Syrup"), ("extras", "extra shot"), ("Size", "LARGE")]
    )
    assert chosen == [
        ChosenModifier("size", "large", 50),
        ChosenModifier("extras", "extra shot", 60),
        ChosenModifier("extras", "syrup", 35),
    ]


def test_optional_group_may_be_left_out_and_free_options_cost_nothing() -> None:
    assert choose_modifiers(latte(), [("size", "small"), ("extras", "cinnamon")]) == [
        ChosenModifier("size", "small", 0),
        ChosenModifier("extras", "cinnamon", 0),
    ]


def test_product_without_groups() -> None:
    plain = Product(id=uuid.uuid4(), name="Water", price_minor=100, modifier_groups=[])
    assert choose_modifiers(plain, []) == []
    error = error_of(plain, [("size", "large")])
    assert error.message == "'Water' has no modifier group 'size' (it takes no modifiers)"


def test_unknown_group() -> None:
    error = error_of(latte(), [("size", "small"), ("sauce", "bbq")])
    assert isinstance(error, Unprocessable)
    assert error.status_code == 422
    assert error.message == "'Latte' has no modifier group 'sauce' (it has 'size', 'extras')"
    assert error.group == "sauce"
    (detail,) = error.details
    assert (detail["field"], detail["product"], detail["group"]) == ("modifiers", "Latte", "sauce")


def test_unknown_option_lists_the_options() -> None:
    error = error_of(latte(), [("size", "huge")])
    assert error.message == (
        "'huge' is not an option of 'size' for 'Latte' (options: 'small', 'large')"
    )
    assert error.group == "size"


def test_unavailable_option() -> None:
    error = error_of(latte(), [("size", "small"), ("extras", "Cream")])
    assert error.message == "'cream' (extras) of 'Latte' is not available"


def test_required_group_without_a_choice() -> None:
    error = error_of(latte(), [("extras", "syrup")])
    assert error.message == "'Latte' needs exactly 1 choice of 'size', 0 given"
    assert error.group == "size"


def test_too_many_in_a_single_choice_group() -> None:
    error = error_of(latte(), [("size", "small"), ("size", "large")])
    assert error.message == "'Latte' needs exactly 1 choice of 'size', 2 given"


def test_more_than_max_choices() -> None:
    requested = [
        ("size", "small"),
        ("extras", "extra shot"),
        ("extras", "oat milk"),
        ("extras", "syrup"),
        ("extras", "cinnamon"),
    ]
    error = error_of(latte(), requested)
    assert error.message == "'Latte' needs at most 3 choices of 'extras', 4 given"


def test_fewer_than_min_choices() -> None:
    plate = Product(
        id=uuid.uuid4(),
        name="Plate",
        price_minor=900,
        modifier_groups=[group("sides", {"chips": 0, "salad": 0, "rice": 0}, low=2, high=3)],
    )
    assert error_of(plate, [("sides", "rice")]).message == (
        "'Plate' needs at least 2 choices of 'sides', 1 given"
    )
    assert [c.option for c in choose_modifiers(plate, [("sides", "rice"), ("sides", "chips")])] == [
        "chips",
        "rice",
    ]


def test_the_same_option_twice() -> None:
    error = error_of(latte(), [("size", "small"), ("extras", "syrup"), ("Extras", "SYRUP")])
    assert error.message == "'syrup' (extras) of 'Latte' was chosen more than once"


async def test_choose_on_a_product_loaded_from_the_database(
    world: World, session: AsyncSession
) -> None:
    product = await create_product(
        session,
        world.a1,
        name="Burger",
        groups=[
            group("size", {"regular": 0, "double": 300}, low=1, high=1),
            group("extras", {"bacon": 150, "cheese": 100}, high=2),
        ],
    )
    await session.commit()
    session.expunge_all()
    loaded = await session.scalar(select(Product).where(Product.id == product.id))
    assert loaded is not None
    chosen = choose_modifiers(loaded, [("extras", "cheese"), ("size", "double")])
    assert chosen == [
        ChosenModifier("size", "double", 300),
        ChosenModifier("extras", "cheese", 100),
    ]


def _groups(**changes: Any) -> list[dict[str, Any]]:
    groups = copy.deepcopy(LATTE_MODIFIERS)
    groups[0].update(changes)
    return groups


@pytest.mark.parametrize(
    ("modifiers", "field", "message"),
    [
        (_groups(minChoices=2, maxChoices=1), "modifiers.0.maxChoices", "cannot be below"),
        (_groups(maxChoices=3), "modifiers.0.maxChoices", "cannot exceed the number of options"),
        (
            _groups(minChoices=3, maxChoices=3),
            "modifiers.0.minChoices",
            "cannot exceed the number of options (2)",
        ),
        (_groups(options=[]), "modifiers.0.options", "at least 1 item"),
        (_groups(minChoices=-1), "modifiers.0.minChoices", "greater than or equal to 0"),
        (_groups(maxChoices=0), "modifiers.0.maxChoices", "greater than or equal to 1"),
        (_groups(maxChoices="two"), "modifiers.0.maxChoices", "valid integer"),
        (_groups(name="Extras"), "modifiers.1.name", "appears twice"),
        (_groups(name=""), "modifiers.0.name", "at least 1 character"),
        (
            _groups(options=[{"name": "small"}, {"name": "Small"}]),
            "modifiers.0.options.1.name",
            "appears twice",
        ),
        (_groups(options=[{"name": "small", "price": -1}]), "modifiers.0.options.0.price", ""),
        (
            _groups(options=[{"name": "small", "price": 0.001}]),
            "modifiers.0.options.0.price",
            "decimal places",
        ),
        (_groups(options=[{"name": "small", "colour": "red"}]), "modifiers.0.options.0.colour", ""),
        (_groups(options=[{"price": 1}]), "modifiers.0.options.0.name", "Field required"),
        ([{"options": [{"name": "a"}]}], "modifiers.0.name", "Field required"),
        ([{"name": f"g{n}", "options": [{"name": "a"}]} for n in range(21)], "modifiers", ""),
    ],
)
async def test_group_validation_names_the_field(
    client: httpx.AsyncClient,
    world: World,
    session: AsyncSession,
    modifiers: list[dict[str, Any]],
    field: str,
    message: str,
) -> None:
    category = await create_category(session, world.a1)
    product = await create_product(session, world.a1, category)
    await session.commit()
    headers = await login(client, world.users["manager"])
    created = await client.post(
        "/api/products", json=product_body(category.id, modifiers=modifiers), headers=headers
    )
    updated = await client.put(
        f"/api/products/{product.id}", json={"modifiers": modifiers}, headers=headers
    )
    for response in (created, updated):
        assert response.status_code == 422, response.text
        detail = response.json()["error"]["details"][0]
        assert detail["field"] == field
        assert message in detail["message"]
