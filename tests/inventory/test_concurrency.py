"""Thirty tills wasting the last ten units at once: exactly ten succeed, stock ends at zero."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.inventory.service import ledger_balance
from fynlo.models import OutboxEvent, ReorderRequest, StockMovement
from fynlo.models.inventory import MILLI
from tests.conftest import make_client
from tests.inventory.factories import create_product, level, track
from tests.world import World, login

REQUESTS = 30
STOCK = 10


async def test_concurrent_waste_never_oversells(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1, name="Last Croissants")
    await track(
        session,
        product,
        stock=STOCK,
        reorder_point_milli=3 * MILLI,
        auto_reorder=True,
        supplier_name="Bakery Ltd",
    )
    await session.commit()
    restaurant_id, product_id = world.a1.id, product.id
    headers = await login(client, world.users["manager"])
    body = {"productId": str(product_id), "quantity": 1, "reason": "dropped"}

    async def one(n: int) -> httpx.Response:
        # A client each, as thirty tills would be.
        async with make_client(app, client=("127.0.0.1", 51000 + n)) as till:
            return await till.post("/api/inventory/waste", json=body, headers=headers)

    responses = await asyncio.gather(*(one(n) for n in range(REQUESTS)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: STOCK, 409: REQUESTS - STOCK}, [
        r.text for r in responses if r.status_code not in (201, 409)
    ]
    refused = [r.json()["error"] for r in responses if r.status_code == 409]
    assert {e["code"] for e in refused} == {"out_of_stock"}
    balances = sorted(
        r.json()["data"]["movement"]["balanceAfter"] for r in responses if r.status_code == 201
    )
    assert balances == list(range(STOCK))  # each unit taken exactly once

    assert await level(session, product_id) == 0
    assert await ledger_balance(session, restaurant_id, product_id) == 0
    wastes = await session.scalar(
        select(func.count())
        .select_from(StockMovement)
        .where(StockMovement.product_id == product_id, StockMovement.kind == "waste")
    )
    assert wastes == STOCK
    # Crossing the reorder point happened once, however many requests raced past it.
    alerts = await session.scalar(
        select(func.count())
        .select_from(OutboxEvent)
        .where(OutboxEvent.event_type == "inventory_alert")
    )
    assert alerts == 1
    reorders = await session.scalar(
        select(func.count())
        .select_from(ReorderRequest)
        .where(ReorderRequest.product_id == product_id)
    )
    assert reorders == 1
