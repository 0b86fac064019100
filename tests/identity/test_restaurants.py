from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import verify_all
from fynlo.models import AuditLog
from tests.world import World, login

NEW = {
    "name": "New Place",
    "address": {"line1": "1 Road"},
    "timezone": "Europe/Paris",
    "currency": "EUR",
}


async def test_platform_owner_opens_a_restaurant(client: httpx.AsyncClient, world: World) -> None:
    headers = await login(client, world.platform_owner)
    response = await client.post(
        "/api/restaurants", json={**NEW, "ownerId": str(world.owner_b.id)}, headers=headers
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["taxConfiguration"]["vatRate"] == 20
    assert data["paymentMethods"]["qrCode"] == {"enabled": True, "feePercentage": 1.2}
    owner_headers = await login(client, world.owner_b)
    mine = (await client.get("/api/restaurants", headers=owner_headers)).json()["data"]["items"]
    assert {r["name"] for r in mine} == {world.b.name, "New Place"}


@pytest.mark.parametrize("who", ["owner_a", "manager"])
async def test_others_cannot_open_restaurants(
    client: httpx.AsyncClient, world: World, who: str
) -> None:
    user = world.owner_a if who == "owner_a" else world.users["manager"]
    response = await client.post("/api/restaurants", json=NEW, headers=await login(client, user))
    assert response.status_code == 403
    assert "restaurants.create" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"currency": "XYZ"}, "currency"),
        ({"name": ""}, "name"),
    ],
)
async def test_create_validation(
    client: httpx.AsyncClient, world: World, patch: dict[str, str], field: str
) -> None:
    response = await client.post(
        "/api/restaurants", json={**NEW, **patch}, headers=await login(client, world.platform_owner)
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == field


async def test_owner_sees_both_of_their_restaurants_only(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await login(client, world.owner_a)
    items = (await client.get("/api/restaurants", headers=headers)).json()["data"]["items"]
    assert {r["id"] for r in items} == {str(world.a1.id), str(world.a2.id)}
    assert (await client.get(f"/api/restaurants/{world.b.id}", headers=headers)).status_code == 404
    assert (
        await client.put(f"/api/restaurants/{world.b.id}", json={"name": "x"}, headers=headers)
    ).status_code == 404
    assert (
        await client.get(f"/api/restaurants/{world.b.id}/settings", headers=headers)
    ).status_code == 404


async def test_settings_validation_and_update(client: httpx.AsyncClient, world: World) -> None:
    headers = await login(client, world.users["manager"])
    url = f"/api/restaurants/{world.a1.id}/settings"
    bad = await client.put(url, json={"taxConfiguration": {"vatRate": 150}}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "taxConfiguration.vatRate"
    bad_fee = await client.put(
        url, json={"paymentMethods": {"card": {"feePercentage": "lots"}}}, headers=headers
    )
    assert bad_fee.status_code == 422
    unknown = await client.put(
        url, json={"paymentMethods": {"bitcoin": {"enabled": True}}}, headers=headers
    )
    assert unknown.status_code == 422
    good = await client.put(
        url,
        json={
            "receipt": {"footer": "Thanks!"},
            "taxConfiguration": {"vatRate": 5, "pricesIncludeVat": False},
            "paymentMethods": {"card": {"enabled": False}},
        },
        headers=headers,
    )
    assert good.status_code == 200, good.text
    data = (await client.get(url, headers=headers)).json()["data"]
    assert data["receipt"] == {"footer": "Thanks!"}
    assert data["taxConfiguration"]["vatRate"] == "5"
    assert data["paymentMethods"]["card"]["enabled"] is False
    assert data["paymentMethods"]["qrCode"]["feePercentage"] == 1.2


async def test_waiter_cannot_change_settings(client: httpx.AsyncClient, world: World) -> None:
    headers = await login(client, world.users["waiter"])
    url = f"/api/restaurants/{world.a1.id}/settings"
    assert (await client.get(url, headers=headers)).status_code == 403
    assert (await client.put(url, json={"pos": {}}, headers=headers)).status_code == 403


async def test_audit_log_is_scoped_and_chain_detects_tampering(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    manager = await login(client, world.users["manager"])
    await client.put(
        f"/api/restaurants/{world.a1.id}/settings", json={"pos": {"x": 1}}, headers=manager
    )
    other = await login(client, world.other_manager)
    mine = (await client.get("/api/audit-logs", headers=other)).json()["data"]["items"]
    assert all(item["restaurantId"] == str(world.b.id) for item in mine)
    assert (
        await client.get("/api/audit-logs", headers=await login(client, world.users["waiter"]))
    ).status_code == 403
    assert all(report.ok for report in await verify_all(session))
    await session.execute(
        update(AuditLog)
        .where(AuditLog.action == "settings.updated")
        .values(new_values={"pos": {"x": 2}})
    )
    await session.commit()
    broken = [r for r in await verify_all(session) if not r.ok]
    assert [r.chain_key for r in broken] == [str(world.a1.id)]
    assert broken[0].reason == "row content was altered"
