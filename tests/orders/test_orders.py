"""Orders over HTTP: the spec's body, server pricing, the status machine, roles and tenancy."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import verify_chain
from fynlo.models import AuditLog, Order, OutboxEvent, Product, StockMovement
from fynlo.models.inventory import MILLI
from tests.orders.factories import product, set_pos, set_tax
from tests.world import World, login

NOW = "2026-11-24T12:00:00Z"
SPEC_BODY: dict[str, Any] = {
    "customerId": None,
    "tableNumber": "5",
    "orderType": "dine_in",
    "items": [
        {
            "productId": "",
            "quantity": 2,
            "unitPrice": 12.50,
            "modifiers": [{"type": "size", "value": "large", "price": 2.00}],
            "notes": "Extra hot",
        }
    ],
    "notes": "Customer allergic to nuts",
}


def spec_body(product_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(SPEC_BODY)
    body["items"][0]["productId"] = str(product_id)
    body.pop("customerId")
    return {**body, **changes}


async def burger(session: AsyncSession, world: World, **values: Any) -> Product:
    row = await product(
        session, world.a1, sizes={"small": 0, "large": 200}, extras={"cheese": 100}, **values
    )
    await session.commit()
    return row


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


async def test_the_spec_example_body_is_accepted_as_written(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    item = await burger(session, world)
    headers = await login(client, world.users["waiter"])

    response = await client.post("/api/orders", json=spec_body(item.id), headers=headers)

    assert response.status_code == 201, response.text
    order = response.json()["data"]
    assert order["status"] == "pending"
    assert order["tableNumber"] == "5"
    assert order["notes"] == "Customer allergic to nuts"
    # (12.50 + 2.00) x 2 = 29.00, 20 % VAT included = 4.83, service 12.5 % = 3.63 (half up).
    assert order["subtotal"] == 29.0
    assert order["taxAmount"] == 4.83
    assert order["serviceCharge"] == 3.63
    assert order["totalAmount"] == 32.63
    assert order["vatBreakdown"] == [{"rate": 20, "net": 24.17, "vat": 4.83}]
    line = order["items"][0]
    assert line["modifiers"] == [{"type": "size", "value": "large", "price": 2.0}]
    assert line["unitPrice"] == 12.5
    assert line["totalPrice"] == 29.0
    assert line["kitchenStation"] == "grill"
    assert order["orderNumber"].endswith("-0001")
    assert order["nextStatuses"] == ["cancelled", "confirmed", "preparing"]
    events = (await session.scalars(select(OutboxEvent.event_type))).all()
    assert "new_order" in events


async def test_a_client_price_that_disagrees_with_the_menu_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    item = await burger(session, world)
    headers = await login(client, world.users["waiter"])
    body = spec_body(item.id)
    body["items"][0]["unitPrice"] = 9.99

    error = error_of(
        await client.post("/api/orders", json=body, headers=headers), 422, "validation_error"
    )

    assert "Burger" in error["message"]
    assert error["details"][0]["field"] == "items.0.unitPrice"
    body = spec_body(item.id)
    body["items"][0]["modifiers"][0]["price"] = 1.0
    error = error_of(
        await client.post("/api/orders", json=body, headers=headers), 422, "validation_error"
    )
    assert error["details"][0]["field"] == "items.0.modifiers.0.price"
    assert await session.scalar(select(func.count()).select_from(Order)) == 0


@pytest.mark.parametrize(
    ("modifiers", "fragment"),
    [
        ([], "size"),
        ([{"type": "size", "value": "huge"}], "huge"),
        ([{"type": "colour", "value": "red"}], "colour"),
        (
            [{"type": "size", "value": "small"}, {"type": "size", "value": "large"}],
            "size",
        ),
    ],
)
async def test_modifier_choices_are_validated(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    modifiers: list[dict[str, str]],
    fragment: str,
) -> None:
    item = await burger(session, world)
    headers = await login(client, world.users["waiter"])
    body = spec_body(item.id)
    body["items"][0]["modifiers"] = modifiers

    error = error_of(
        await client.post("/api/orders", json=body, headers=headers), 422, "validation_error"
    )

    assert fragment in error["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"items": []}, "items"),
        ({"items": None}, "items"),
        ({"orderType": "drive_thru"}, "orderType"),
        ({"status": "completed"}, "status"),
        ({"tipAmount": -1}, "tipAmount"),
        ({"tipAmount": "lots"}, "tipAmount"),
    ],
)
async def test_create_validation_names_the_field(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    change: dict[str, Any],
    field: str,
) -> None:
    item = await burger(session, world)
    headers = await login(client, world.users["waiter"])
    response = await client.post("/api/orders", json=spec_body(item.id, **change), headers=headers)
    error = error_of(response, 422, "validation_error")
    assert any(d["field"].startswith(field) for d in error["details"]), error


@pytest.mark.parametrize(("quantity", "field"), [(0, "quantity"), ("two", "quantity")])
async def test_item_quantity_is_validated(
    client: httpx.AsyncClient, session: AsyncSession, world: World, quantity: object, field: str
) -> None:
    item = await burger(session, world)
    headers = await login(client, world.users["waiter"])
    body = spec_body(item.id)
    body["items"][0]["quantity"] = quantity
    error = error_of(
        await client.post("/api/orders", json=body, headers=headers), 422, "validation_error"
    )
    assert error["details"][0]["field"] == f"items.0.{field}"


async def test_another_restaurants_product_is_unknown(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    theirs = await product(session, world.b, sizes={"small": 0, "large": 200})
    await session.commit()
    headers = await login(client, world.users["waiter"])
    error = error_of(
        await client.post("/api/orders", json=spec_body(theirs.id), headers=headers),
        422,
        "validation_error",
    )
    assert error["details"][0]["field"] == "items.0.productId"


async def test_roles_and_tenancy(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    item = await burger(session, world)
    employee = await login(client, world.users["employee"])
    refused = await client.post("/api/orders", json=spec_body(item.id), headers=employee)
    assert error_of(refused, 403, "permission_denied")["details"] == {"permission": "orders.create"}
    waiter = await login(client, world.users["waiter"])
    created = await client.post("/api/orders", json=spec_body(item.id), headers=waiter)
    assert created.status_code == 201, created.text
    order = created.json()["data"]
    other = await login(client, world.other_manager)
    for method, path, body in (
        ("GET", f"/api/orders/{order['id']}", None),
        ("PATCH", f"/api/orders/{order['id']}/status", {"status": "confirmed"}),
        ("POST", f"/api/orders/{order['id']}/items", {"items": spec_body(item.id)["items"]}),
        ("POST", f"/api/orders/{order['id']}/cancel", {"reason": "test"}),
        ("DELETE", f"/api/orders/{order['id']}/items/{order['items'][0]['id']}", None),
        ("GET", f"/api/orders/{order['id']}/receipt", None),
    ):
        response = await client.request(method, path, json=body, headers=other)
        assert response.status_code == 404, (method, path, response.text)
    listed = (await client.get("/api/orders", headers=other)).json()["data"]
    assert listed["items"] == []
    # The owner of A reaches A1's order, through ?restaurantId= or their home restaurant.
    owner = await login(client, world.owner_a)
    mine = await client.get(
        f"/api/orders/{order['id']}", params={"restaurantId": str(world.a1.id)}, headers=owner
    )
    assert mine.status_code == 200
    foreign = await client.get(
        "/api/orders", params={"restaurantId": str(world.b.id)}, headers=owner
    )
    assert foreign.status_code == 404


async def test_status_machine_and_completed_orders_are_closed(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    item = await burger(session, world)
    headers = await login(client, world.users["waiter"])
    order = (await client.post("/api/orders", json=spec_body(item.id), headers=headers)).json()[
        "data"
    ]
    path = f"/api/orders/{order['id']}/status"

    illegal = await client.patch(path, json={"status": "served"}, headers=headers)
    error = error_of(illegal, 409, "invalid_state_transition")
    assert error["details"]["allowed"] == ["cancelled", "confirmed", "preparing"]

    version = order["version"]
    for status in ("confirmed", "preparing", "ready", "served", "completed"):
        body: dict[str, Any] = {"status": status, "version": version}
        if status == "preparing":
            body["estimatedCompletion"] = "2026-11-24T12:30:00Z"
        response = await client.patch(path, json=body, headers=headers)
        assert response.status_code == 200, response.text
        version = response.json()["data"]["version"]
    done = response.json()["data"]
    assert done["status"] == "completed"
    assert done["completedAt"] is not None
    assert done["estimatedCompletion"].startswith("2026-11-24T12:30:00")

    more = await client.post(
        f"/api/orders/{order['id']}/items",
        json={"items": spec_body(item.id)["items"]},
        headers=headers,
    )
    assert "completed" in error_of(more, 409, "order_not_editable")["message"]
    stale = await client.patch(path, json={"status": "completed", "version": 1}, headers=headers)
    error_of(stale, 409, "stale_version")


async def test_cancel_before_and_void_after_the_kitchen(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    item = await burger(session, world)
    waiter = await login(client, world.users["waiter"])
    captain = await login(client, world.users["captain"])
    first = (await client.post("/api/orders", json=spec_body(item.id), headers=waiter)).json()[
        "data"
    ]
    # A waiter may not cancel at all (orders.cancel is a captain's and up).
    no = await client.post(
        f"/api/orders/{first['id']}/cancel", json={"reason": "x"}, headers=waiter
    )
    assert error_of(no, 403, "permission_denied")["details"]["permission"] == "orders.cancel"
    missing = await client.post(f"/api/orders/{first['id']}/cancel", json={}, headers=captain)
    assert error_of(missing, 422, "validation_error")["details"][0]["field"] == "reason"
    done = await client.post(
        f"/api/orders/{first['id']}/cancel", json={"reason": "Customer left"}, headers=captain
    )
    assert done.json()["data"]["status"] == "cancelled"

    second = (await client.post("/api/orders", json=spec_body(item.id), headers=waiter)).json()[
        "data"
    ]
    await client.patch(
        f"/api/orders/{second['id']}/status", json={"status": "confirmed"}, headers=waiter
    )
    cashier = await login(client, world.users["cashier"])
    refused = await client.post(
        f"/api/orders/{second['id']}/cancel", json={"reason": "Wrong table"}, headers=cashier
    )
    assert error_of(refused, 403, "permission_denied")["details"]["permission"] == "orders.void"
    manager = await login(client, world.users["manager"])
    voided = await client.post(
        f"/api/orders/{second['id']}/cancel", json={"reason": "Wrong table"}, headers=manager
    )
    assert voided.status_code == 200
    actions = set((await session.scalars(select(AuditLog.action))).all())
    assert {"order.cancelled", "order.voided"} <= actions


async def test_items_added_and_removed_reprice_the_order(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    item = await burger(session, world)
    headers = await login(client, world.users["waiter"])
    order = (await client.post("/api/orders", json=spec_body(item.id), headers=headers)).json()[
        "data"
    ]
    extra = {
        "productId": str(item.id),
        "quantity": 1,
        "modifiers": [{"type": "size", "value": "small"}, {"type": "extras", "value": "cheese"}],
    }
    added = await client.post(
        f"/api/orders/{order['id']}/items", json={"items": [extra]}, headers=headers
    )
    assert added.status_code == 201, added.text
    data = added.json()["data"]
    assert data["subtotal"] == 29.0 + 13.5
    assert data["version"] == order["version"] + 1
    new_item = data["items"][1]["id"]
    removed = await client.delete(f"/api/orders/{order['id']}/items/{new_item}", headers=headers)
    assert removed.status_code == 200, removed.text
    assert removed.json()["data"]["subtotal"] == 29.0
    last = await client.delete(
        f"/api/orders/{order['id']}/items/{order['items'][0]['id']}", headers=headers
    )
    assert "cancel the order" in error_of(last, 409, "conflict")["message"]


async def test_discounts_and_service_charge_removal_are_permission_gated(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    item = await burger(session, world)
    waiter = await login(client, world.users["waiter"])
    discounted = spec_body(item.id, discount={"type": "percent", "value": 10, "reason": "Staff"})
    refused = await client.post("/api/orders", json=discounted, headers=waiter)
    assert error_of(refused, 403, "permission_denied")["details"]["permission"] == "orders.discount"
    no_service = spec_body(item.id, serviceCharge=False)
    refused = await client.post("/api/orders", json=no_service, headers=waiter)
    assert (
        error_of(refused, 403, "permission_denied")["details"]["permission"]
        == "orders.service_charge"
    )
    manager = await login(client, world.users["manager"])
    response = await client.post(
        "/api/orders", json={**discounted, "serviceCharge": False}, headers=manager
    )
    data = response.json()["data"]
    assert data["discountAmount"] == 2.9
    assert data["serviceCharge"] == 0
    assert data["serviceChargeWaived"] is True
    assert data["totalAmount"] == 26.1


async def test_vat_exclusive_prices_and_zero_rated_takeaway(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await set_tax(session, world.a1, pricesIncludeVat=False)
    sandwich = await product(
        session, world.a1, name="Sandwich", price=500, takeaway_tax_category="zero"
    )
    await session.commit()
    headers = await login(client, world.users["waiter"])
    line = [{"productId": str(sandwich.id), "quantity": 2}]

    eat_in = (
        await client.post(
            "/api/orders", json={"items": line, "orderType": "dine_in"}, headers=headers
        )
    ).json()["data"]
    take_away = (
        await client.post(
            "/api/orders", json={"items": line, "orderType": "takeaway"}, headers=headers
        )
    ).json()["data"]

    assert (eat_in["taxAmount"], eat_in["serviceCharge"], eat_in["totalAmount"]) == (2.0, 1.5, 13.5)
    assert (take_away["taxAmount"], take_away["serviceCharge"], take_away["totalAmount"]) == (
        0,
        0,
        10.0,
    )


async def test_preview_prices_without_saving(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    item = await burger(session, world)
    headers = await login(client, world.users["waiter"])
    response = await client.post("/api/orders/preview", json=spec_body(item.id), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["totalAmount"] == 32.63
    assert await session.scalar(select(func.count()).select_from(Order)) == 0


async def test_list_filters(client: httpx.AsyncClient, session: AsyncSession, world: World) -> None:
    item = await burger(session, world)
    headers = await login(client, world.users["waiter"])
    first = (await client.post("/api/orders", json=spec_body(item.id), headers=headers)).json()[
        "data"
    ]
    await client.post("/api/orders", json=spec_body(item.id, tableNumber="7"), headers=headers)
    await client.patch(
        f"/api/orders/{first['id']}/status", json={"status": "confirmed"}, headers=headers
    )

    confirmed = (
        await client.get("/api/orders", params={"status": "confirmed"}, headers=headers)
    ).json()
    assert [o["id"] for o in confirmed["data"]["items"]] == [first["id"]]
    today = first["businessDate"]
    by_day = (await client.get("/api/orders", params={"date": today}, headers=headers)).json()
    assert by_day["data"]["pagination"]["total"] == 2
    other_day = (
        await client.get("/api/orders", params={"date": "2001-01-01"}, headers=headers)
    ).json()
    assert other_day["data"]["pagination"]["total"] == 0
    table = (await client.get("/api/orders", params={"tableNumber": "7"}, headers=headers)).json()
    assert table["data"]["pagination"]["total"] == 1
    bad = await client.get("/api/orders", params={"date": "yesterday"}, headers=headers)
    assert error_of(bad, 422, "validation_error")["details"][0]["field"] == "date"


async def test_receipt_in_every_format(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    item = await burger(session, world)
    headers = await login(client, world.users["waiter"])
    created = await client.post("/api/orders", json=spec_body(item.id), headers=headers)
    order = created.json()["data"]
    path = f"/api/orders/{order['id']}/receipt"

    as_json = (await client.get(path, headers=headers)).json()["data"]
    assert as_json["orderNumber"] == order["orderNumber"]
    assert as_json["total"] == 32.63
    text = await client.get(path, params={"format": "text", "width": 48}, headers=headers)
    assert text.headers["content-type"].startswith("text/plain")
    assert max(len(line) for line in text.text.splitlines()) <= 48
    assert "32.63" in text.text
    html = await client.get(path, params={"format": "html"}, headers=headers)
    assert "Burger" in html.text
    pdf = await client.get(path, params={"format": "pdf"}, headers=headers)
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    bad = await client.get(path, params={"width": 40}, headers=headers)
    assert error_of(bad, 422, "validation_error")["details"][0]["field"] == "width"


async def test_every_order_write_names_the_missing_permission(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    item = await burger(session, world)
    waiter = await login(client, world.users["waiter"])
    created = await client.post("/api/orders", json=spec_body(item.id), headers=waiter)
    order = created.json()["data"]
    kitchen = await login(client, world.users["kitchen_staff"])
    items = {"items": spec_body(item.id)["items"]}
    cases = [
        ("POST", "/api/orders", spec_body(item.id), "orders.create"),
        ("POST", "/api/orders/preview", spec_body(item.id), "orders.create"),
        (
            "POST",
            "/api/orders/sync",
            {"orders": [{**spec_body(item.id), "id": str(uuid.uuid4()), "createdAt": NOW}]},
            "orders.create",
        ),
        ("PATCH", f"/api/orders/{order['id']}/status", {"status": "confirmed"}, "orders.update"),
        ("POST", f"/api/orders/{order['id']}/items", items, "orders.update"),
        ("PATCH", f"/api/orders/{order['id']}", {"tipAmount": 1}, "orders.update"),
        (
            "DELETE",
            f"/api/orders/{order['id']}/items/{order['items'][0]['id']}",
            None,
            "orders.update",
        ),
        ("POST", f"/api/orders/{order['id']}/cancel", {"reason": "x"}, "orders.cancel"),
    ]
    for method, path, body, permission in cases:
        response = await client.request(method, path, json=body, headers=kitchen)
        error = error_of(response, 403, "permission_denied")
        assert error["details"]["permission"] == permission, (method, path)
    # Kitchen staff may read orders.
    assert (await client.get(f"/api/orders/{order['id']}", headers=kitchen)).status_code == 200


async def test_a_created_order_writes_its_ledger_audit_and_events_with_it(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    item = await product(session, world.a1, sizes={"small": 0, "large": 200}, stock=3)
    await set_pos(session, world.a1, stockDeductOn="create")
    await session.commit()
    headers = await login(client, world.users["waiter"])

    response = await client.post("/api/orders", json=spec_body(item.id), headers=headers)

    assert response.status_code == 201, response.text
    order_id = uuid.UUID(response.json()["data"]["id"])
    await session.commit()  # a fresh snapshot
    movement = (
        await session.execute(
            select(
                StockMovement.kind, StockMovement.quantity_milli, StockMovement.balance_after_milli
            ).where(StockMovement.order_id == order_id)
        )
    ).one()
    assert tuple(movement) == ("sale", -2 * MILLI, 1 * MILLI)
    events = await session.scalars(
        select(OutboxEvent.event_type)
        .where(OutboxEvent.restaurant_id == world.a1.id)
        .order_by(OutboxEvent.created_at, OutboxEvent.id)
    )
    # Stock fell to 1, under the reorder point of 2: the alert goes with the order.
    assert list(events) == ["inventory_alert", "new_order"]
    audited = await session.scalar(
        select(AuditLog.action).where(AuditLog.resource_id == str(order_id))
    )
    assert audited == "order.create"
    assert (await verify_chain(session, str(world.a1.id))).ok
