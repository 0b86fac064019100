"""Products: every field, updates with versions, availability, archive vs delete, filters."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import (
    AuditLog,
    InventoryItem,
    ModifierOption,
    OrderItem,
    Product,
    ReorderRequest,
    Restaurant,
    StockMovement,
)
from tests.menu.factories import (
    LATTE_MODIFIERS,
    audit_actions,
    create_category,
    create_past_order,
    create_product,
    menu_events,
    product_body,
)
from tests.world import World, login

URL = "/api/products"

FULL = {
    "name": "Latte",
    "description": "Double shot, steamed milk",
    "price": 3.5,
    "costPrice": 0.85,
    "subcategory": "Espresso",
    "imageUrl": "https://cdn.example.com/latte.jpg",
    "barcode": "5012345678900",
    "isAvailable": True,
    "dietaryInfo": {
        "vegetarian": True,
        "glutenFree": True,
        "containsAllergens": ["milk"],
    },
    "tags": ["coffee", "hot", "Coffee"],
    "preparationTime": 4,
    "kitchenStation": "bar",
    "sortOrder": 3,
    "modifiers": LATTE_MODIFIERS,
}


async def test_create_with_every_field(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    category = await create_category(session, world.a1, name="Coffee")
    await session.commit()
    headers = await login(client, world.users["manager"])
    response = await client.post(
        URL, json={**FULL, "categoryId": str(category.id)}, headers=headers
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    for key in ("name", "description", "price", "costPrice", "subcategory", "imageUrl"):
        assert data[key] == FULL[key], key
    assert (data["barcode"], data["preparationTime"], data["kitchenStation"]) == (
        "5012345678900",
        4,
        "bar",
    )
    assert data["categoryId"] == str(category.id)
    assert data["category"] == "Coffee"
    assert data["tags"] == ["coffee", "hot"]
    assert data["dietaryInfo"] == {
        "vegetarian": True,
        "vegan": False,
        "glutenFree": True,
        "dairyFree": False,
        "nutFree": False,
        "halal": False,
        "kosher": False,
        "spicy": False,
        "containsAllergens": ["milk"],
    }
    assert (data["taxCategory"], data["takeawayTaxCategory"]) == ("standard", None)
    assert (data["version"], data["isArchived"], data["sortOrder"]) == (1, False, 3)
    size, extras = data["modifiers"]
    assert (size["name"], size["minChoices"], size["maxChoices"]) == ("size", 1, 1)
    assert [(o["name"], o["price"]) for o in size["options"]] == [("small", 0), ("large", 0.5)]
    assert [o["isAvailable"] for o in extras["options"]] == [True, True, False]
    assert all(o["id"] for o in extras["options"])
    assert size["id"]
    row = await session.get(Product, uuid.UUID(data["id"]))
    assert row is not None
    assert (row.price_minor, row.cost_price_minor) == (350, 85)
    assert await audit_actions(session, data["id"]) == ["product.create"]
    assert await menu_events(session, world.a1.id) == [
        {"productId": data["id"], "action": "created"}
    ]
    assert (await client.get(f"{URL}/{data['id']}", headers=headers)).json()["data"] == data


async def test_minimal_product_gets_defaults_and_the_category_station(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    category = await create_category(session, world.a1, name="Grill", kitchen_station="grill")
    await session.commit()
    headers = await login(client, world.users["manager"])
    response = await client.post(
        URL, json={"name": "Burger", "price": 12, "categoryId": str(category.id)}, headers=headers
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert (data["price"], data["costPrice"], data["isAvailable"], data["modifiers"]) == (
        12,
        0,
        True,
        [],
    )
    assert (data["kitchenStation"], data["effectiveKitchenStation"]) == (None, "grill")
    assert (data["preparationTime"], data["tags"], data["barcode"]) == (0, [], None)


async def test_readers_see_the_product_but_not_its_cost(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    product = await create_product(session, world.a1, price_minor=900, cost_price_minor=300)
    await session.commit()
    for role in ("kitchen_staff", "waiter", "employee"):
        response = await client.get(
            f"{URL}/{product.id}", headers=await login(client, world.users[role])
        )
        assert response.status_code == 200, role
        assert (response.json()["data"]["price"], response.json()["data"]["costPrice"]) == (9, None)
    manager = await client.get(
        f"{URL}/{product.id}", headers=await login(client, world.users["manager"])
    )
    assert manager.json()["data"]["costPrice"] == 3


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"price": None}, "price"),
        ({"price": "cheap"}, "price"),
        ({"price": -1}, "price"),
        ({"price": 10_000_000}, "price"),
        ({"price": 1.005}, "price"),
        ({"costPrice": -0.01}, "costPrice"),
        ({"name": ""}, "name"),
        ({"name": "n" * 256}, "name"),
        ({"categoryId": "not-a-uuid"}, "categoryId"),
        ({"preparationTime": 601}, "preparationTime"),
        ({"preparationTime": -1}, "preparationTime"),
        ({"preparationTime": "soon"}, "preparationTime"),
        ({"sortOrder": -1}, "sortOrder"),
        ({"barcode": "has space"}, "barcode"),
        ({"barcode": "1" * 51}, "barcode"),
        ({"imageUrl": "latte.jpg"}, "imageUrl"),
        ({"isAvailable": "sometimes"}, "isAvailable"),
        ({"dietaryInfo": {"carnivore": True}}, "dietaryInfo.carnivore"),
        ({"dietaryInfo": {"vegan": "maybe"}}, "dietaryInfo.vegan"),
        ({"dietaryInfo": {"containsAllergens": ["chocolate"]}}, "dietaryInfo.containsAllergens.0"),
        ({"dietaryInfo": ["vegan"]}, "dietaryInfo"),
        ({"tags": ["ok", ""]}, "tags.1"),
        ({"tags": ["t" * 31]}, "tags.0"),
        ({"tags": "hot"}, "tags"),
        ({"tags": [f"t{n}" for n in range(21)]}, "tags"),
        ({"taxCategory": "Zero Rated"}, "taxCategory"),
        ({"taxCategory": "reduced"}, "taxCategory"),
        ({"takeawayTaxCategory": "reduced"}, "takeawayTaxCategory"),
        ({"kitchenStation": ""}, "kitchenStation"),
        ({"modifiers": {"name": "size"}}, "modifiers"),
        ({"status": "live"}, "status"),
        ({"restaurantId": "6b0f6c1e-8a38-4c86-9a84-0f5c1f8d3e11"}, "restaurantId"),
        ({"version": 1}, "version"),
    ],
)
async def test_create_validation_names_the_field(
    client: httpx.AsyncClient,
    world: World,
    session: AsyncSession,
    patch: dict[str, Any],
    field: str,
) -> None:
    category = await create_category(session, world.a1)
    await session.commit()
    body = {**product_body(category.id), **patch}
    response = await client.post(
        URL, json=body, headers=await login(client, world.users["manager"])
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == field


@pytest.mark.parametrize("missing", ["name", "price", "categoryId"])
async def test_required_fields(
    client: httpx.AsyncClient, world: World, session: AsyncSession, missing: str
) -> None:
    category = await create_category(session, world.a1)
    await session.commit()
    body = product_body(category.id)
    del body[missing]
    response = await client.post(
        URL, json=body, headers=await login(client, world.users["manager"])
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0] == {
        "field": missing,
        "location": "body",
        "message": "Field required",
        "type": "missing",
    }


async def test_category_must_be_an_active_one_of_this_restaurant(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    theirs = await create_category(session, world.b)
    archived = await create_category(session, world.a1, name="Retired", is_active=False)
    await session.commit()
    headers = await login(client, world.users["manager"])
    for category_id, message in (
        (theirs.id, "no such category"),
        ("6b0f6c1e-8a38-4c86-9a84-0f5c1f8d3e11", "no such category"),
        (archived.id, "category 'Retired' is archived"),
    ):
        response = await client.post(URL, json=product_body(category_id), headers=headers)
        assert response.status_code == 422
        assert response.json()["error"]["details"] == [{"field": "categoryId", "message": message}]


async def test_tax_categories_come_from_the_restaurant(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    category = await create_category(session, world.a1)
    await session.execute(
        update(Restaurant)
        .where(Restaurant.id == world.a1.id)
        .values(tax_configuration={"vatRate": 20, "taxCategories": {"zero": 0, "reduced": 5}})
    )
    await session.commit()
    headers = await login(client, world.users["manager"])
    body = product_body(category.id, taxCategory="reduced", takeawayTaxCategory="zero")
    response = await client.post(URL, json=body, headers=headers)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert (data["taxCategory"], data["takeawayTaxCategory"]) == ("reduced", "zero")
    unknown = await client.put(
        f"{URL}/{data['id']}", json={"takeawayTaxCategory": "super_reduced"}, headers=headers
    )
    assert unknown.status_code == 422
    assert "exempt, reduced, standard, zero" in unknown.json()["error"]["message"]
    # "zero" and "exempt" are built in, configured or not.
    builtin = await client.put(
        f"{URL}/{data['id']}", json={"takeawayTaxCategory": "exempt"}, headers=headers
    )
    assert builtin.status_code == 200, builtin.text


async def test_barcodes_are_unique_among_live_products(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    category = await create_category(session, world.a1)
    await create_product(session, world.a1, category, barcode="111", is_archived=True)
    await create_product(session, world.b, barcode="222")
    existing = await create_product(session, world.a1, category, barcode="333")
    await session.commit()
    headers = await login(client, world.users["manager"])
    for barcode in ("111", "222"):
        response = await client.post(
            URL, json=product_body(category.id, barcode=barcode), headers=headers
        )
        assert response.status_code == 201, barcode
    clash = await client.post(URL, json=product_body(category.id, barcode="333"), headers=headers)
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "already_exists"
    assert clash.json()["error"]["details"] == {"fields": ["barcode"]}
    other_id = (
        clash.request
        and (
            await client.post(URL, json=product_body(category.id, barcode="444"), headers=headers)
        ).json()["data"]["id"]
    )
    taken = await client.put(f"{URL}/{other_id}", json={"barcode": "333"}, headers=headers)
    assert taken.status_code == 409
    own = await client.put(f"{URL}/{existing.id}", json={"barcode": "333"}, headers=headers)
    assert own.status_code == 200


async def test_partial_update_bumps_version_and_audits_the_change(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    category = await create_category(session, world.a1, name="Coffee")
    other = await create_category(session, world.a1, name="Tea")
    await session.commit()
    headers = await login(client, world.users["manager"])
    created = await client.post(URL, json={**FULL, "categoryId": str(category.id)}, headers=headers)
    data = created.json()["data"]
    url = f"{URL}/{data['id']}"
    response = await client.put(
        url,
        json={"price": 3.75, "categoryId": str(other.id), "description": None, "version": 1},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    changed = response.json()["data"]
    assert (changed["price"], changed["category"], changed["description"]) == (3.75, "Tea", None)
    assert changed["version"] == 2
    assert changed["name"] == "Latte"
    assert changed["modifiers"] == data["modifiers"]
    audit = await session.scalar(
        select(AuditLog).where(
            AuditLog.resource_id == data["id"], AuditLog.action == "product.update"
        )
    )
    assert audit is not None
    assert audit.old_values == {
        "priceMinor": 350,
        "categoryId": str(category.id),
        "description": "Double shot, steamed milk",
    }
    assert audit.new_values == {"priceMinor": 375, "categoryId": str(other.id), "description": None}
    same = await client.put(url, json={"price": 3.75, "tags": ["coffee", "hot"]}, headers=headers)
    assert same.json()["data"]["version"] == 2  # nothing changed, nothing recorded
    assert await audit_actions(session, data["id"]) == ["product.create", "product.update"]
    assert [e["action"] for e in await menu_events(session, world.a1.id)] == [
        "created",
        "updated",
    ]


async def test_stale_version_is_refused(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    product = await create_product(session, world.a1, name="Soup")
    await session.commit()
    headers = await login(client, world.users["manager"])
    url = f"{URL}/{product.id}"
    first = await client.put(url, json={"name": "Soup of the day", "version": 1}, headers=headers)
    assert first.json()["data"]["version"] == 2
    stale = await client.put(url, json={"name": "Tomato soup", "version": 1}, headers=headers)
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale_version"
    assert stale.json()["error"]["details"] == {"expectedVersion": 1, "currentVersion": 2}
    stale_86 = await client.patch(
        f"{url}/availability", json={"isAvailable": False, "version": 1}, headers=headers
    )
    assert stale_86.status_code == 409
    current = await client.get(url, headers=headers)
    assert current.json()["data"]["name"] == "Soup of the day"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"price": None}, "price"),
        ({"isAvailable": None}, "isAvailable"),
        ({"tags": None}, "tags"),
        ({"modifiers": None}, "modifiers"),
        ({"categoryId": None}, "categoryId"),
        ({"price": "x"}, "price"),
        ({"preparationTime": 1000}, "preparationTime"),
        ({"version": 0}, "version"),
        ({"version": "latest"}, "version"),
        ({"isArchived": False}, "isArchived"),
        ({"categoryId": "6b0f6c1e-8a38-4c86-9a84-0f5c1f8d3e11"}, "categoryId"),
    ],
)
async def test_update_validation_names_the_field(
    client: httpx.AsyncClient,
    world: World,
    session: AsyncSession,
    body: dict[str, Any],
    field: str,
) -> None:
    product = await create_product(session, world.a1)
    await session.commit()
    response = await client.put(
        f"{URL}/{product.id}", json=body, headers=await login(client, world.users["manager"])
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == field


async def test_replacing_modifiers(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    category = await create_category(session, world.a1)
    await session.commit()
    headers = await login(client, world.users["manager"])
    data = (
        await client.post(URL, json={**FULL, "categoryId": str(category.id)}, headers=headers)
    ).json()["data"]
    url = f"{URL}/{data['id']}"
    unchanged = await client.put(url, json={"modifiers": LATTE_MODIFIERS}, headers=headers)
    assert unchanged.json()["data"]["modifiers"] == data["modifiers"]  # same ids, no new version
    assert unchanged.json()["data"]["version"] == 1
    new_groups = [
        {
            "name": "milk",
            "minChoices": 1,
            "maxChoices": 1,
            "options": [{"name": "whole"}, {"name": "oat", "price": 0.3}],
        }
    ]
    response = await client.put(url, json={"modifiers": new_groups}, headers=headers)
    assert response.status_code == 200, response.text
    (milk,) = response.json()["data"]["modifiers"]
    assert [(o["name"], o["price"]) for o in milk["options"]] == [("whole", 0), ("oat", 0.3)]
    assert response.json()["data"]["version"] == 2
    old_option_ids = [o["id"] for g in data["modifiers"] for o in g["options"]]
    left = await session.scalars(
        select(ModifierOption.id).where(
            ModifierOption.id.in_([uuid.UUID(i) for i in old_option_ids])
        )
    )
    assert list(left) == []
    cleared = await client.put(url, json={"modifiers": []}, headers=headers)
    assert cleared.json()["data"]["modifiers"] == []


async def test_availability(client: httpx.AsyncClient, world: World, session: AsyncSession) -> None:
    product = await create_product(session, world.a1)
    await session.commit()
    headers = await login(client, world.users["manager"])
    url = f"{URL}/{product.id}/availability"
    response = await client.patch(url, json={"isAvailable": False}, headers=headers)
    assert response.status_code == 200, response.text
    assert (response.json()["data"]["isAvailable"], response.json()["data"]["version"]) == (
        False,
        2,
    )
    again = await client.patch(url, json={"isAvailable": False, "version": 2}, headers=headers)
    assert again.json()["data"]["version"] == 2
    assert await audit_actions(session, str(product.id)) == ["product.availability"]
    assert await menu_events(session, world.a1.id) == [
        {"productId": str(product.id), "action": "availability_changed", "isAvailable": False}
    ]
    back = await client.patch(url, json={"isAvailable": True}, headers=headers)
    assert back.json()["data"]["isAvailable"] is True
    for body, field in (
        ({}, "isAvailable"),
        ({"isAvailable": "later"}, "isAvailable"),
        ({"isAvailable": True, "version": -1}, "version"),
        ({"isAvailable": True, "price": 1}, "price"),
    ):
        bad = await client.patch(url, json=body, headers=headers)
        assert bad.status_code == 422, body
        assert bad.json()["error"]["details"][0]["field"] == field


async def test_delete_without_history_removes_the_product(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    category = await create_category(session, world.a1)
    await session.commit()
    headers = await login(client, world.users["manager"])
    created = await client.post(URL, json={**FULL, "categoryId": str(category.id)}, headers=headers)
    product_id = created.json()["data"]["id"]
    response = await client.delete(f"{URL}/{product_id}", headers=headers)
    assert response.status_code == 200
    assert response.json()["data"] == {"id": product_id, "deleted": True, "archived": False}
    assert (await client.get(f"{URL}/{product_id}", headers=headers)).status_code == 404
    assert (await client.delete(f"{URL}/{product_id}", headers=headers)).status_code == 404
    assert await audit_actions(session, product_id) == ["product.create", "product.delete"]
    assert [e["action"] for e in await menu_events(session, world.a1.id)] == [
        "created",
        "deleted",
    ]


async def test_delete_of_an_ordered_product_archives_it(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    category = await create_category(session, world.a1)
    product = await create_product(session, world.a1, category, name="Old Pie", barcode="777")
    line = await create_past_order(session, world.a1, product)
    await session.commit()
    headers = await login(client, world.users["manager"])
    url = f"{URL}/{product.id}"
    response = await client.delete(url, headers=headers)
    assert response.status_code == 200
    assert response.json()["data"] == {"id": str(product.id), "deleted": False, "archived": True}
    shown = await client.get(url, headers=headers)
    assert shown.status_code == 200
    assert (shown.json()["data"]["isArchived"], shown.json()["data"]["isAvailable"]) == (
        True,
        False,
    )
    assert (await client.get(URL, headers=headers)).json()["data"]["items"] == []
    listed = await client.get(URL, params={"includeArchived": "true"}, headers=headers)
    assert [p["name"] for p in listed.json()["data"]["items"]] == ["Old Pie"]
    # the old order still names it, and the product row is still there to join
    await session.commit()
    row = (
        await session.execute(
            select(OrderItem.product_name, Product.name)
            .join(Product, Product.id == OrderItem.product_id)
            .where(OrderItem.id == line.id)
        )
    ).one()
    assert tuple(row) == ("Old Pie", "Old Pie")
    # archived: read-only, deleting again is a no-op, its barcode is free again
    assert (await client.put(url, json={"name": "New Pie"}, headers=headers)).status_code == 409
    patch = await client.patch(f"{url}/availability", json={"isAvailable": True}, headers=headers)
    assert patch.status_code == 409
    assert (await client.delete(url, headers=headers)).json()["data"]["archived"] is True
    assert await audit_actions(session, str(product.id)) == ["product.archive"]
    reuse = await client.post(URL, json=product_body(category.id, barcode="777"), headers=headers)
    assert reuse.status_code == 201
    # and its category can now be archived: no active product is left in it... but the new one
    assert (await client.delete(f"{URL}/{reuse.json()['data']['id']}", headers=headers)).json()[
        "data"
    ]["deleted"] is True
    assert (
        await client.delete(f"/api/categories/{category.id}", headers=headers)
    ).status_code == 200


async def test_delete_of_a_product_with_stock_history_archives_it(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    product = await create_product(session, world.a1)
    session.add(
        StockMovement(
            restaurant_id=world.a1.id,
            product_id=product.id,
            kind="restock",
            quantity_milli=5000,
            balance_after_milli=5000,
        )
    )
    await session.commit()
    response = await client.delete(
        f"{URL}/{product.id}", headers=await login(client, world.users["manager"])
    )
    assert response.json()["data"]["archived"] is True


async def test_stock_tracking_alone_does_not_keep_a_product(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    tracked = await create_product(session, world.a1, name="Tracked")
    reordered = await create_product(session, world.a1, name="Reordered")
    session.add(InventoryItem(restaurant_id=world.a1.id, product_id=tracked.id))
    session.add(
        ReorderRequest(restaurant_id=world.a1.id, product_id=reordered.id, quantity_milli=1000)
    )
    await session.commit()
    headers = await login(client, world.users["manager"])
    gone = await client.delete(f"{URL}/{tracked.id}", headers=headers)
    assert gone.json()["data"]["deleted"] is True
    assert await session.scalar(select(InventoryItem.id)) is None
    kept = await client.delete(f"{URL}/{reordered.id}", headers=headers)
    assert kept.json()["data"]["archived"] is True


async def test_filters_search_and_paging(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    drinks = await create_category(session, world.a1, name="Drinks")
    food = await create_category(session, world.a1, name="Food")
    vegan_gf = {"vegan": True, "vegetarian": True, "glutenFree": True}
    await create_product(
        session, world.a1, drinks, name="Oat Latte", dietary_info=vegan_gf, sort_order=1
    )
    await create_product(
        session,
        world.a1,
        drinks,
        name="Latte",
        dietary_info={"vegetarian": True},
        sort_order=1,
        barcode="5000",
    )
    await create_product(
        session, world.a1, drinks, name="Iced Tea", is_available=False, sort_order=0
    )
    await create_product(session, world.a1, food, name="Vegan Bowl", dietary_info={"vegan": True})
    await create_product(session, world.a1, food, name="Steak 100% beef")
    await create_product(
        session, world.a1, food, name="Old Latte", is_archived=True, dietary_info=vegan_gf
    )
    await create_product(session, world.b, name="Latte B", dietary_info=vegan_gf)
    await session.commit()
    headers = await login(client, world.users["waiter"])

    async def names(**params: Any) -> list[str]:
        response = await client.get(URL, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [p["name"] for p in response.json()["data"]["items"]]

    assert await names() == ["Iced Tea", "Steak 100% beef", "Vegan Bowl", "Latte", "Oat Latte"]
    assert await names(categoryId=str(drinks.id)) == ["Iced Tea", "Latte", "Oat Latte"]
    assert await names(available="false") == ["Iced Tea"]
    assert await names(available="true", categoryId=str(drinks.id)) == ["Latte", "Oat Latte"]
    assert await names(dietary="vegan") == ["Vegan Bowl", "Oat Latte"]
    assert await names(dietary=["vegan", "glutenFree"]) == ["Oat Latte"]
    assert await names(dietary="vegetarian", includeArchived="true") == [
        "Old Latte",
        "Latte",
        "Oat Latte",
    ]
    assert await names(search="LATTE") == ["Latte", "Oat Latte"]
    assert await names(search="5000") == ["Latte"]
    assert await names(search="100%") == ["Steak 100% beef"]
    assert await names(search="%") == ["Steak 100% beef"]
    assert await names(search="_") == []
    page = await client.get(URL, params={"limit": 2, "offset": 2}, headers=headers)
    assert [p["name"] for p in page.json()["data"]["items"]] == ["Vegan Bowl", "Latte"]
    assert page.json()["data"]["pagination"] == {
        "limit": 2,
        "offset": 2,
        "total": 5,
        "hasMore": True,
    }
    for params, field in (
        ({"dietary": "carnivore"}, "dietary.0"),
        ({"categoryId": "drinks"}, "categoryId"),
        ({"available": "sometimes"}, "available"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"offset": -1}, "offset"),
        ({"search": "x" * 101}, "search"),
    ):
        bad = await client.get(URL, params=params, headers=headers)
        assert bad.status_code == 422, params
        assert bad.json()["error"]["details"][0]["field"] == field


async def test_another_tenants_product_is_not_found(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    theirs = await create_product(session, world.b, name="Theirs")
    await session.commit()
    headers = await login(client, world.users["manager"])
    url = f"{URL}/{theirs.id}"
    assert (await client.get(url, headers=headers)).status_code == 404
    put = await client.put(url, json={"name": "Mine"}, headers=headers)
    assert put.status_code == 404
    assert put.json()["error"]["details"] == {"resource": "Product", "id": str(theirs.id)}
    patch = await client.patch(f"{url}/availability", json={"isAvailable": False}, headers=headers)
    assert patch.status_code == 404
    assert (await client.delete(url, headers=headers)).status_code == 404
    assert (await client.get(URL, headers=headers)).json()["data"]["items"] == []
    foreign = await client.get(URL, params={"restaurantId": str(world.b.id)}, headers=headers)
    assert foreign.status_code == 404
    await session.refresh(theirs)
    assert (theirs.name, theirs.is_available, theirs.is_archived) == ("Theirs", True, False)


async def test_owner_reaches_products_of_each_restaurant_they_own(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    in_a2 = await create_product(session, world.a2, name="A2 Special")
    in_b = await create_product(session, world.b, name="B Special")
    await session.commit()
    headers = await login(client, world.owner_a)
    assert (await client.get(f"{URL}/{in_a2.id}", headers=headers)).status_code == 200
    assert (await client.get(f"{URL}/{in_b.id}", headers=headers)).status_code == 404
    listed = await client.get(URL, params={"restaurantId": str(world.a2.id)}, headers=headers)
    assert [p["name"] for p in listed.json()["data"]["items"]] == ["A2 Special"]
    category = await create_category(session, world.a2)
    await session.commit()
    created = await client.post(
        URL,
        params={"restaurantId": str(world.a2.id)},
        json=product_body(category.id),
        headers=headers,
    )
    assert created.status_code == 201
    # a category of A2 is "no such category" for a product created in A1
    wrong = await client.post(URL, json=product_body(category.id), headers=headers)
    assert wrong.status_code == 422
