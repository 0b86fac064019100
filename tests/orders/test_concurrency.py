"""Orders under concurrency, on PostgreSQL and SQLite: stock, idempotency, numbering, sync."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fynlo.models import InventoryItem, Order, StockMovement
from tests.conftest import make_client
from tests.orders.factories import product, set_pos
from tests.world import World, login


def line(product_id: uuid.UUID, quantity: int = 1) -> list[dict[str, Any]]:
    return [{"productId": str(product_id), "quantity": quantity}]


async def test_fifty_orders_for_ten_in_stock_sell_exactly_ten(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    item = await product(session, world.a1, name="Last slices", stock=10)
    await set_pos(session, world.a1, stockDeductOn="create", allowNegativeStock=False)
    await session.commit()
    headers = await login(client, world.users["waiter"])

    async with make_client(app) as other:
        responses = await asyncio.gather(
            *(
                (client if n % 2 else other).post(
                    "/api/orders", json={"items": line(item.id)}, headers=headers
                )
                for n in range(50)
            )
        )

    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 10, codes
    assert codes.count(409) == 40, codes
    refused = next(r for r in responses if r.status_code == 409).json()["error"]
    assert refused["code"] == "out_of_stock"
    stock = await session.scalar(
        select(InventoryItem.current_stock_milli).where(InventoryItem.product_id == item.id)
    )
    ledger = await session.scalar(
        select(func.sum(StockMovement.quantity_milli)).where(StockMovement.product_id == item.id)
    )
    assert stock == 0
    assert ledger == -10_000  # ten sales of one unit, from 10 to 0
    assert await session.scalar(select(func.count()).select_from(Order)) == 10


async def test_twenty_creates_with_one_idempotency_key_make_one_order(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    item = await product(session, world.a1)
    await session.commit()
    headers = {**await login(client, world.users["waiter"]), "Idempotency-Key": "till-7-order-1"}

    responses = await asyncio.gather(
        *(
            client.post("/api/orders", json={"items": line(item.id)}, headers=headers)
            for _ in range(20)
        )
    )

    created = {r.json()["data"]["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    assert all(r.status_code in (201, 409) for r in responses)
    busy = [r for r in responses if r.status_code == 409]
    assert all(r.json()["error"]["code"] == "idempotency_key_in_progress" for r in busy)
    assert await session.scalar(select(func.count()).select_from(Order)) == 1
    replay = await client.post("/api/orders", json={"items": line(item.id)}, headers=headers)
    assert replay.json()["data"]["id"] in created


async def test_a_hundred_concurrent_orders_get_a_hundred_numbers(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    item = await product(session, world.a1)
    await session.commit()
    headers = await login(client, world.users["waiter"])

    responses = await asyncio.gather(
        *(
            client.post("/api/orders", json={"items": line(item.id)}, headers=headers)
            for _ in range(100)
        )
    )

    assert all(r.status_code == 201 for r in responses), [
        r.text for r in responses if r.status_code != 201
    ][:1]
    numbers = {r.json()["data"]["orderNumber"] for r in responses}
    assert len(numbers) == 100
    tails = sorted(int(n.split("-")[1]) for n in numbers)
    assert tails == list(range(1, 101))


def batch(item: uuid.UUID, price: float) -> dict[str, Any]:
    return {
        "orders": [
            {
                "id": str(uuid.UUID(int=n + 1)),
                "createdAt": f"2026-11-24T11:0{n}:00Z",
                "items": [{"productId": str(item), "quantity": 1, "unitPrice": price}],
            }
            for n in range(3)
        ]
        + [
            {
                "id": str(uuid.UUID(int=99)),
                "createdAt": "2026-11-24T11:09:00Z",
                "items": [{"productId": str(item), "quantity": 1, "unitPrice": price + 1}],
            }
        ]
    }


async def test_offline_batch_sent_three_times_creates_each_order_once(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    item = await product(session, world.a1, price=400)
    await session.commit()
    headers = await login(client, world.users["waiter"])

    answers = [
        (await client.post("/api/orders/sync", json=batch(item.id, 4.0), headers=headers)).json()[
            "data"
        ]
        for _ in range(3)
    ]

    assert (answers[0]["created"], answers[0]["rejected"]) == (3, 1)
    stale = next(r for r in answers[0]["results"] if r["status"] == "rejected")
    assert stale["error"]["code"] == "price_changed"
    assert (answers[1]["created"], answers[1]["alreadyPresent"], answers[1]["rejected"]) == (
        0,
        3,
        1,
    )
    assert answers[2]["alreadyPresent"] == 3
    assert await session.scalar(select(func.count()).select_from(Order)) == 3
    sources = set((await session.scalars(select(Order.source))).all())
    assert sources == {"offline_sync"}


async def test_offline_batch_sent_concurrently_from_two_connections(
    app: FastAPI, session: AsyncSession, world: World
) -> None:
    item = await product(session, world.a1, price=400)
    await session.commit()
    async with make_client(app) as first, make_client(app) as second:
        headers = await login(first, world.users["waiter"])
        answers = await asyncio.gather(
            first.post("/api/orders/sync", json=batch(item.id, 4.0), headers=headers),
            second.post("/api/orders/sync", json=batch(item.id, 4.0), headers=headers),
        )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    created = sum(a.json()["data"]["created"] for a in answers)
    present = sum(a.json()["data"]["alreadyPresent"] for a in answers)
    assert (created, present) == (3, 3)
    assert await session.scalar(select(func.count()).select_from(Order)) == 3


async def test_offline_order_for_a_product_deleted_meanwhile_is_rejected_alone(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    kept = await product(session, world.a1, price=400)
    gone = await product(session, world.a1, name="Seasonal soup", price=550, is_archived=True)
    await session.commit()
    headers = await login(client, world.users["waiter"])
    body = {
        "orders": [
            {"id": str(uuid.uuid4()), "createdAt": "2026-11-24T10:00:00Z", "items": line(gone.id)},
            {"id": str(uuid.uuid4()), "createdAt": "2026-11-24T10:01:00Z", "items": line(kept.id)},
        ]
    }
    answer = (await client.post("/api/orders/sync", json=body, headers=headers)).json()["data"]
    assert [r["status"] for r in answer["results"]] == ["rejected", "created"]
    assert answer["results"][0]["error"]["code"] == "product_unavailable"
    assert await session.scalar(select(func.count()).select_from(Order)) == 1


async def test_the_same_order_twice_in_one_batch_is_created_once(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    item = await product(session, world.a1, price=400)
    await session.commit()
    headers = await login(client, world.users["waiter"])
    twice = {"id": str(uuid.uuid4()), "createdAt": "2026-11-24T10:00:00Z", "items": line(item.id)}
    answer = (
        await client.post("/api/orders/sync", json={"orders": [twice, twice]}, headers=headers)
    ).json()["data"]
    assert [r["status"] for r in answer["results"]] == ["created", "already_present"]
    assert answer["results"][0]["orderNumber"] == answer["results"][1]["orderNumber"]
    assert await session.scalar(select(func.count()).select_from(Order)) == 1


async def test_orders_with_the_same_products_in_crossed_order_never_deadlock(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    """Stock rows are locked in one order whatever the order of the lines, so concurrent
    orders (and cancels, which put stock back) of the same products queue, never deadlock."""
    fries = await product(session, world.a1, name="Fries", stock=100)
    shake = await product(session, world.a1, name="Shake", stock=100)
    await set_pos(session, world.a1, stockDeductOn="create", allowNegativeStock=False)
    await session.commit()
    headers = await login(client, world.users["manager"])
    crossed = [line(fries.id) + line(shake.id), line(shake.id) + line(fries.id)]

    async with make_client(app) as other:
        first = await asyncio.gather(
            *(
                (client if n % 2 else other).post(
                    "/api/orders", json={"items": crossed[n % 2]}, headers=headers
                )
                for n in range(30)
            )
        )
        assert [r.status_code for r in first] == [201] * 30, [r.text for r in first][:1]
        cancels = [
            other.post(
                f"/api/orders/{r.json()['data']['id']}/cancel",
                json={"reason": "customer left", "version": r.json()["data"]["version"]},
                headers=headers,
            )
            for r in first[:10]
        ]
        more = [
            client.post("/api/orders", json={"items": crossed[n % 2]}, headers=headers)
            for n in range(10)
        ]
        second = await asyncio.gather(*cancels, *more)
    assert [r.status_code for r in second] == [200] * 10 + [201] * 10, [
        r.text for r in second if r.status_code >= 300
    ][:1]

    for item in (fries, shake):
        stock = await session.scalar(
            select(InventoryItem.current_stock_milli).where(InventoryItem.product_id == item.id)
        )
        moved = await session.scalar(
            select(func.sum(StockMovement.quantity_milli)).where(
                StockMovement.product_id == item.id
            )
        )
        assert stock == (100 - 40 + 10) * 1000  # 40 sold, 10 of them put back
        assert moved == -30 * 1000


async def test_new_orders_wait_their_turn_in_the_restaurants_queue(
    engine: AsyncEngine, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the queue is a PostgreSQL advisory lock; SQLite's write lock serialises")
    item = await product(session, world.a1)
    await session.commit()
    headers = await login(client, world.users["waiter"])

    async with engine.connect() as holder:
        await holder.execute(
            text("SELECT pg_advisory_lock(hashtextextended(:key, 0))"),
            {"key": f"orders:{world.a1.id}"},
        )
        waiting = asyncio.create_task(
            client.post("/api/orders", json={"items": line(item.id)}, headers=headers)
        )
        await asyncio.sleep(0.5)
        assert not waiting.done()  # queued behind the holder
        await holder.execute(
            text("SELECT pg_advisory_unlock(hashtextextended(:key, 0))"),
            {"key": f"orders:{world.a1.id}"},
        )
        response = await asyncio.wait_for(waiting, timeout=10)

    assert response.status_code == 201, response.text
