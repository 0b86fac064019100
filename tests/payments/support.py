"""Orders to pay, built over HTTP the way a till builds them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import Product, Restaurant
from tests.orders.factories import product, set_tax
from tests.world import World, login


async def priced_product(
    session: AsyncSession, restaurant: Restaurant, price: int = 1250, **values: Any
) -> Product:
    """VAT 20 % included, no service charge: a line's total is its price times quantity."""
    await set_tax(session, restaurant, vatRate=20, pricesIncludeVat=True, serviceTaxEnabled=False)
    row = await product(session, restaurant, price=price, **values)
    await session.commit()
    return row


async def open_order(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    lines: list[tuple[Product, int]],
    **body: Any,
) -> dict[str, Any]:
    response = await client.post(
        "/api/orders",
        headers=headers,
        json={
            "orderType": "takeaway",
            "items": [{"productId": str(p.id), "quantity": q} for p, q in lines],
            **body,
        },
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def order_of(client: httpx.AsyncClient, headers: dict[str, str], order_id: str) -> Any:
    response = await client.get(f"/api/orders/{order_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


class Till:
    """A signed-in till of restaurant A1 with one 12.50 product; orders of any total."""

    def __init__(self, client: httpx.AsyncClient, world: World, burger: Product) -> None:
        self.client = client
        self.world = world
        self.burger = burger
        self.headers: dict[str, str] = {}

    @classmethod
    async def build(
        cls, client: httpx.AsyncClient, session: AsyncSession, world: World, role: str = "manager"
    ) -> Till:
        till = cls(client, world, await priced_product(session, world.a1))
        till.headers = await login(client, world.users[role])
        return till

    async def order(self, quantity: int = 2, **body: Any) -> dict[str, Any]:
        return await open_order(self.client, self.headers, [(self.burger, quantity)], **body)

    async def pay(
        self, path: str, body: dict[str, Any], *, key: str | None = None, as_: str | None = None
    ) -> httpx.Response:
        headers = dict(self.headers)
        if as_ is not None:
            headers = await login(self.client, self.world.users[as_])
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.post(f"/api/payments/{path}", headers=headers, json=body)

    async def cash(self, order_id: str, amount: float, received: float, **extra: Any) -> Any:
        response = await self.pay(
            "cash/process",
            {"orderId": order_id, "amount": amount, "cashReceived": received, **extra},
        )
        assert response.status_code == 201, response.text
        return response.json()["data"]


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def fields_of(error: dict[str, Any]) -> list[str]:
    return [str(d.get("field")) for d in error.get("details") or [] if isinstance(d, dict)]


def new_id() -> str:
    return str(uuid.uuid4())
