"""Menu writes racing each other, and retried creates, on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import verify_all
from fynlo.models import Category, Product
from tests.conftest import make_client
from tests.menu.factories import create_category, create_product, product_body
from tests.world import World, login


async def test_two_edits_of_one_version_one_wins(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    product = await create_product(session, world.a1, name="Soup")
    await session.commit()
    headers = await login(client, world.users["manager"])
    url = f"/api/products/{product.id}"
    async with make_client(app) as other:
        responses = await asyncio.gather(
            *(
                (client if n % 2 else other).put(
                    url, json={"name": f"Soup {n}", "version": 1}, headers=headers
                )
                for n in range(6)
            )
        )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 409, 409, 409, 409, 409], codes
    await session.refresh(product)
    assert product.version == 2


async def test_racing_creates_cannot_duplicate_a_name_or_barcode(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    category = await create_category(session, world.a1)
    await session.commit()
    headers = await login(client, world.users["manager"])
    async with make_client(app) as other:
        responses = await asyncio.gather(
            *(
                (client if n % 2 else other).post(
                    "/api/categories", json={"name": "Specials"}, headers=headers
                )
                for n in range(6)
            ),
            *(
                (client if n % 2 else other).post(
                    "/api/products",
                    json=product_body(category.id, barcode="9780201379624"),
                    headers=headers,
                )
                for n in range(6)
            ),
        )
    codes = [r.status_code for r in responses]
    assert sorted(codes[:6]) == [201, 409, 409, 409, 409, 409], codes
    assert sorted(codes[6:]) == [201, 409, 409, 409, 409, 409], codes
    names = await session.scalar(
        select(func.count()).select_from(Category).where(Category.name == "Specials")
    )
    barcodes = await session.scalar(
        select(func.count()).select_from(Product).where(Product.barcode == "9780201379624")
    )
    assert (names, barcodes) == (1, 1)
    assert all(report.ok for report in await verify_all(session))


async def test_a_retried_create_with_its_idempotency_key_makes_one_product(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    category = await create_category(session, world.a1)
    await session.commit()
    headers = {
        **await login(client, world.users["manager"]),
        "Idempotency-Key": "menu-create-1",
    }
    body = product_body(category.id)
    first = await client.post("/api/products", json=body, headers=headers)
    again = await client.post("/api/products", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    count = await session.scalar(select(func.count()).select_from(Product))
    assert count == 1
    other = await client.post("/api/products", json={**body, "price": 4}, headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
