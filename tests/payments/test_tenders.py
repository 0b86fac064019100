"""Cash, splits, tips, refunds and the order's payment status, over HTTP."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import AuditLog, DiningTable, OutboxEvent, Payment
from tests.payments.support import Till, error_of, fields_of, new_id, open_order, order_of
from tests.world import World, login


@pytest.fixture
async def till(client: httpx.AsyncClient, session: AsyncSession, world: World) -> Till:
    return await Till.build(client, session, world)


async def test_cash_computes_change_and_pays_the_order(till: Till, session: AsyncSession) -> None:
    order = await till.order()  # 2 x 12.50
    assert order["totalAmount"] == 25.0
    paid = await till.cash(order["id"], 25.00, 30.00)
    assert paid["status"] == "completed"
    assert (paid["change"], paid["cashReceived"], paid["feeAmount"]) == (5.0, 30.0, 0.0)
    assert paid["netAmount"] == 25.0
    assert paid["orderPaymentStatus"] == "paid"
    assert paid["orderAmountDue"] == 0.0
    assert (await order_of(till.client, till.headers, order["id"]))["paymentStatus"] == "paid"
    events = (await session.scalars(select(OutboxEvent.event_type))).all()
    assert "payment_received" in events
    assert "payment_completed" in events
    actions = (await session.scalars(select(AuditLog.action))).all()
    assert "payment.completed" in actions


async def test_too_little_cash_is_refused_and_nothing_is_saved(
    till: Till, session: AsyncSession
) -> None:
    order = await till.order()
    response = await till.pay(
        "cash/process", {"orderId": order["id"], "amount": 25.00, "cashReceived": 20.00}
    )
    error = error_of(response, 422, "validation_error")
    assert fields_of(error) == ["cashReceived"]
    assert "less than" in error["message"]
    assert await session.scalar(select(func.count()).select_from(Payment)) == 0


async def test_a_wrong_change_figure_is_refused(till: Till) -> None:
    order = await till.order()
    response = await till.pay(
        "cash/process",
        {"orderId": order["id"], "amount": 25, "cashReceived": 30, "change": 4.00},
    )
    assert fields_of(error_of(response, 422, "validation_error")) == ["change"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "lots", "cashReceived": 30}, "amount"),
        ({"amount": 25}, "cashReceived"),
        ({"amount": -1, "cashReceived": 30}, "amount"),
        ({"amount": 25, "cashReceived": 30, "tipAmount": -2}, "tipAmount"),
        ({"amount": 25.001, "cashReceived": 30}, "amount"),
        ({"amount": 25, "cashReceived": 30, "split": {"type": "thirds"}}, "split.type"),
    ],
)
async def test_bad_cash_bodies_name_the_field(
    till: Till, body: dict[str, object], field: str
) -> None:
    order = await till.order()
    response = await till.pay("cash/process", {"orderId": order["id"], **body})
    error = error_of(response, 422, "validation_error")
    assert any(f == field or f.startswith(field) for f in fields_of(error)), error


async def test_missing_order_id_is_named(till: Till) -> None:
    response = await till.pay("cash/process", {"amount": 1, "cashReceived": 1})
    assert "orderId" in fields_of(error_of(response, 422, "validation_error"))


async def test_another_restaurants_order_is_not_found(
    till: Till, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    from tests.payments.support import priced_product

    theirs = await priced_product(session, world.b)
    other = await login(client, world.other_manager)
    order = await open_order(client, other, [(theirs, 1)])
    response = await till.pay(
        "cash/process", {"orderId": order["id"], "amount": 12.5, "cashReceived": 20}
    )
    error_of(response, 404, "not_found")


@pytest.mark.parametrize("role", ["waiter", "kitchen_staff", "employee"])
async def test_roles_without_payments_process_are_refused(till: Till, role: str) -> None:
    order = await till.order()
    response = await till.pay(
        "cash/process", {"orderId": order["id"], "amount": 25, "cashReceived": 25}, as_=role
    )
    error_of(response, 403, "permission_denied")


async def test_a_tender_may_not_take_the_order_past_its_total(till: Till) -> None:
    order = await till.order()
    await till.cash(order["id"], 10.00, 10.00)
    response = await till.pay(
        "cash/process", {"orderId": order["id"], "amount": 20.00, "cashReceived": 20.00}
    )
    error = error_of(response, 409, "overpayment")
    assert error["details"]["amountDue"] == 15.0
    partial = await order_of(till.client, till.headers, order["id"])
    assert partial["paymentStatus"] == "partially_paid"


async def test_split_in_equal_shares_gives_the_odd_penny_to_the_first(till: Till) -> None:
    order = await till.order(quantity=2)  # 25.00 in three: 8.34 + 8.33 + 8.33
    body = {"orderId": order["id"], "cashReceived": 10, "split": {"type": "equal", "shares": 3}}
    amounts = []
    for _ in range(3):
        response = await till.pay("cash/process", body)
        assert response.status_code == 201, response.text
        amounts.append(response.json()["data"]["amount"])
    assert amounts == [8.34, 8.33, 8.33]
    assert sum(round(a * 100) for a in amounts) == 2500
    assert (await order_of(till.client, till.headers, order["id"]))["paymentStatus"] == "paid"
    error_of(await till.pay("cash/process", body), 409, "overpayment")


async def test_split_by_items_and_an_item_cannot_be_paid_twice(
    till: Till, session: AsyncSession
) -> None:
    from tests.payments.support import priced_product

    drink = await priced_product(session, till.world.a1, price=350, name="Cola")
    order = await open_order(till.client, till.headers, [(till.burger, 1), (drink, 2)])
    burger_item, drink_item = order["items"][0]["id"], order["items"][1]["id"]
    body = {
        "orderId": order["id"],
        "cashReceived": 20,
        "split": {"type": "items", "itemIds": [drink_item]},
    }
    first = await till.pay("cash/process", body)
    assert first.status_code == 201, first.text
    assert first.json()["data"]["amount"] == 7.0
    error_of(await till.pay("cash/process", body), 409, "conflict")
    rest = await till.pay(
        "cash/process",
        {**body, "amount": 12.5, "split": {"type": "items", "itemIds": [burger_item]}},
    )
    assert rest.json()["data"]["orderPaymentStatus"] == "paid"


async def test_a_stated_amount_must_match_its_split(till: Till) -> None:
    order = await till.order()
    response = await till.pay(
        "cash/process",
        {
            "orderId": order["id"],
            "amount": 10,
            "cashReceived": 20,
            "split": {"type": "equal", "shares": 2},
        },
    )
    error = error_of(response, 422, "validation_error")
    assert error["details"][0]["expected"] == 12.5


async def test_each_tender_keeps_its_own_tip_outside_the_orders_total(till: Till) -> None:
    order = await till.order()  # 25.00
    first = await till.cash(order["id"], 15.00, 20.00, tipAmount=2.00)
    assert (first["amount"], first["tipAmount"], first["change"]) == (15.0, 2.0, 3.0)
    assert first["orderAmountDue"] == 10.0
    second = await till.cash(order["id"], 10.00, 11.00, tipAmount=1.00)
    assert second["orderPaymentStatus"] == "paid"
    assert second["netAmount"] == 11.0


async def test_a_paid_ready_order_completes_and_frees_its_table(
    till: Till, session: AsyncSession
) -> None:
    table = DiningTable(restaurant_id=till.world.a1.id, number="9", seats=2)
    session.add(table)
    await session.commit()
    order = await till.order(orderType="dine_in", tableId=str(table.id))
    for status in ("confirmed", "ready"):
        response = await till.client.patch(
            f"/api/orders/{order['id']}/status", headers=till.headers, json={"status": status}
        )
        assert response.status_code == 200, response.text
    await session.refresh(table)
    assert table.status == "occupied"
    await till.cash(order["id"], 25.00, 25.00)
    final = await order_of(till.client, till.headers, order["id"])
    assert (final["status"], final["paymentStatus"]) == ("completed", "paid")
    await session.commit()  # end the read snapshot (SQLite WAL) before reading again
    await session.refresh(table)
    assert table.status == "available"


async def test_a_paid_order_still_in_the_kitchen_stays_open(till: Till) -> None:
    order = await till.order()
    await till.cash(order["id"], 25.00, 25.00)
    final = await order_of(till.client, till.headers, order["id"])
    assert (final["status"], final["paymentStatus"]) == ("pending", "paid")


async def test_a_cancelled_order_takes_no_payment(till: Till) -> None:
    order = await till.order()
    response = await till.client.patch(
        f"/api/orders/{order['id']}/status",
        headers=till.headers,
        json={"status": "cancelled", "reason": "walked out"},
    )
    assert response.status_code == 200, response.text
    response = await till.pay(
        "cash/process", {"orderId": order["id"], "amount": 25, "cashReceived": 25}
    )
    error_of(response, 409, "order_not_payable")


async def test_methods_list_fees_and_availability(till: Till) -> None:
    response = await till.client.get("/api/payments/methods", headers=till.headers)
    assert response.status_code == 200, response.text
    methods = {m["method"]: m for m in response.json()["data"]}
    assert methods["qrCode"]["feePercentage"] == 1.2
    assert (methods["card"]["feePercentage"], methods["card"]["feeFixed"]) == (2.9, 0.3)
    assert methods["cash"]["available"] is True
    assert methods["upi"]["enabled"] is False  # INR restaurants only


# --- refunds --------------------------------------------------------------------------


async def test_partial_then_full_refund_never_past_what_was_paid(till: Till) -> None:
    order = await till.order()
    paid = await till.cash(order["id"], 25.00, 25.00, tipAmount=0)
    path = f"{paid['id']}/refund"
    first = await till.pay(path, {"amount": 10.00, "reason": "cold"})
    assert first.status_code == 201, first.text
    refund = first.json()["data"]
    assert refund["amount"] == 10.0
    assert refund["payment"]["status"] == "partially_refunded"
    assert refund["payment"]["orderPaymentStatus"] == "partially_refunded"
    too_much = await till.pay(path, {"amount": 20.00, "reason": "again"})
    assert error_of(too_much, 409, "refund_exceeds_payment")["details"]["refundable"] == 15.0
    rest = await till.pay(path, {"reason": "the rest"})
    assert rest.json()["data"]["amount"] == 15.0
    assert rest.json()["data"]["payment"]["status"] == "refunded"
    error_of(await till.pay(path, {"reason": "more"}), 409, "conflict")


@pytest.mark.parametrize("role", ["cashier", "waiter"])
async def test_refunds_need_the_refund_permission(till: Till, role: str) -> None:
    order = await till.order()
    paid = await till.cash(order["id"], 25.00, 25.00)
    response = await till.pay(f"{paid['id']}/refund", {"reason": "x"}, as_=role)
    error_of(response, 403, "permission_denied")


async def test_refund_bodies_are_validated(till: Till) -> None:
    order = await till.order()
    paid = await till.cash(order["id"], 25.00, 25.00)
    path = f"{paid['id']}/refund"
    assert "reason" in fields_of(error_of(await till.pay(path, {}), 422, "validation_error"))
    bad_amount = await till.pay(path, {"reason": "x", "amount": "ten"})
    assert "amount" in fields_of(error_of(bad_amount, 422, "validation_error"))
    zero = await till.pay(path, {"reason": "x", "amount": 0})
    assert "amount" in fields_of(error_of(zero, 422, "validation_error"))
    error_of(await till.pay(f"{new_id()}/refund", {"reason": "x"}), 404, "not_found")


async def test_refund_by_items_restocks_and_uses_their_share(
    till: Till, session: AsyncSession
) -> None:
    order = await till.order(quantity=2)
    paid = await till.cash(order["id"], 25.00, 25.00)
    item = order["items"][0]["id"]
    response = await till.pay(
        f"{paid['id']}/refund",
        {"reason": "returned", "items": [{"itemId": item, "quantity": 1}], "restock": True},
    )
    assert response.status_code == 201, response.text
    assert response.json()["data"]["amount"] == 12.5
    too_many = await till.pay(
        f"{paid['id']}/refund", {"reason": "x", "items": [{"itemId": item, "quantity": 3}]}
    )
    assert "items.0.quantity" in fields_of(error_of(too_many, 422, "validation_error"))


async def test_another_restaurant_cannot_refund_or_read_the_payment(
    till: Till, client: httpx.AsyncClient, world: World
) -> None:
    order = await till.order()
    paid = await till.cash(order["id"], 25.00, 25.00)
    other = await login(client, world.other_manager)
    error_of(await client.get(f"/api/payments/{paid['id']}", headers=other), 404, "not_found")
    response = await client.post(
        f"/api/payments/{paid['id']}/refund", headers=other, json={"reason": "x"}
    )
    error_of(response, 404, "not_found")


async def test_payments_list_and_read(till: Till) -> None:
    order = await till.order()
    paid = await till.cash(order["id"], 25.00, 25.00)
    listed = await till.client.get(
        "/api/payments", headers=till.headers, params={"orderId": order["id"]}
    )
    assert listed.status_code == 200, listed.text
    assert [p["id"] for p in listed.json()["data"]["items"]] == [paid["id"]]
    one = await till.client.get(f"/api/payments/{paid['id']}", headers=till.headers)
    assert one.json()["data"]["method"] == "cash"


async def test_a_paid_order_that_grows_owes_the_difference_and_cannot_shrink_below_paid(
    till: Till, session: AsyncSession
) -> None:
    from tests.payments.support import priced_product

    order = await till.order(quantity=2)
    await till.cash(order["id"], 25.00, 25.00)
    added = await till.client.post(
        f"/api/orders/{order['id']}/items",
        headers=till.headers,
        json={"items": [{"productId": str(till.burger.id), "quantity": 1}]},
    )
    assert added.status_code == 201, added.text
    grown = added.json()["data"]
    assert (grown["totalAmount"], grown["paymentStatus"]) == (37.5, "partially_paid")
    new_item = grown["items"][-1]["id"]
    first_item = grown["items"][0]["id"]
    # Removing the new item is fine (back to 25.00 paid in full) ...
    removed = await till.client.request(
        "DELETE", f"/api/orders/{order['id']}/items/{new_item}", headers=till.headers
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()["data"]["paymentStatus"] == "paid"
    # ... but dropping below what was paid needs a refund first.
    drink = await priced_product(session, till.world.a1, price=100, name="Water")
    await till.client.post(
        f"/api/orders/{order['id']}/items",
        headers=till.headers,
        json={"items": [{"productId": str(drink.id), "quantity": 1}]},
    )
    await till.cash(order["id"], 1.00, 1.00)
    refused = await till.client.request(
        "DELETE", f"/api/orders/{order['id']}/items/{first_item}", headers=till.headers
    )
    error = error_of(refused, 409, "conflict")
    assert "Refund" in error["message"]
    assert error["details"]["amountPaid"] == 26.0


async def test_a_paid_order_completes_when_the_kitchen_marks_it_ready(till: Till) -> None:
    order = await till.order()
    await till.cash(order["id"], 25.00, 25.00)
    for status in ("confirmed", "ready"):
        response = await till.client.patch(
            f"/api/orders/{order['id']}/status", headers=till.headers, json={"status": status}
        )
        assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] == "completed"


async def test_changing_one_method_setting_keeps_its_other_fees(till: Till) -> None:
    restaurant_id = str(till.world.a1.id)
    response = await till.client.put(
        f"/api/restaurants/{restaurant_id}/settings",
        headers=till.headers,
        json={"paymentMethods": {"qrCode": {"enabled": True}, "card": {"feePercentage": 2.5}}},
    )
    assert response.status_code == 200, response.text
    listed = await till.client.get("/api/payments/methods", headers=till.headers)
    methods = {m["method"]: m for m in listed.json()["data"]}
    assert methods["qrCode"]["feePercentage"] == 1.2
    assert (methods["card"]["feePercentage"], methods["card"]["feeFixed"]) == (2.5, 0.3)
    assert methods["googlePay"]["feeFixed"] == 0.3


async def test_cash_needs_an_open_drawer_when_the_restaurant_says_so(
    till: Till, session: AsyncSession
) -> None:
    from tests.orders.factories import set_pos

    await set_pos(session, till.world.a1, requireOpenDrawerForCash=True)
    await session.commit()
    order = await till.order()
    body = {"orderId": order["id"], "amount": 25, "cashReceived": 25}
    refused = await till.pay("cash/process", body)
    assert error_of(refused, 409, "conflict")["details"]["drawer"] == "main"
    opened = await till.client.post(
        "/api/cash-drawers/sessions", headers=till.headers, json={"drawer": "main", "float": 50}
    )
    assert opened.status_code == 201, opened.text
    paid = await till.pay("cash/process", body)
    assert paid.status_code == 201, paid.text
    drawer = await till.client.get(
        f"/api/cash-drawers/sessions/{opened.json()['data']['id']}", headers=till.headers
    )
    assert drawer.json()["data"]["expectedAmount"] == 75.0
