from __future__ import annotations

import httpx
import pytest

from tests.world import World, login

NEW = {
    "email": "new.waiter@fynlo-test.com",
    "password": "A-long-passphrase-9",
    "firstName": "N",
    "lastName": "W",
    "role": "waiter",
}


async def test_manager_creates_waiter_in_own_restaurant(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await login(client, world.users["manager"])
    response = await client.post("/api/users", json={**NEW, "pin": "4321"}, headers=headers)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["restaurantId"] == str(world.a1.id)
    assert data["hasPin"] is True
    assert "password" not in response.text.lower().replace("passwordchanged", "")
    assert "pinCode" not in response.text


@pytest.mark.parametrize("role", ["waiter", "cashier", "kitchen_staff", "employee", "captain"])
async def test_roles_without_users_create_get_403_naming_it(
    client: httpx.AsyncClient, world: World, role: str
) -> None:
    headers = await login(client, world.users[role])
    response = await client.post(
        "/api/users", json={**NEW, "email": f"x-{role}@fynlo-test.com"}, headers=headers
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert "users.create" in response.json()["error"]["message"]


async def test_manager_cannot_create_an_owner_or_manager(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await login(client, world.users["manager"])
    for role in ("restaurant_owner", "manager", "platform_owner"):
        response = await client.post("/api/users", json={**NEW, "role": role}, headers=headers)
        assert response.status_code == 403, role


async def test_cannot_create_in_another_restaurant(client: httpx.AsyncClient, world: World) -> None:
    headers = await login(client, world.users["manager"])
    response = await client.post(
        "/api/users", json={**NEW, "restaurantId": str(world.b.id)}, headers=headers
    )
    assert response.status_code == 404


async def test_owner_creates_in_each_owned_restaurant(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await login(client, world.owner_a)
    response = await client.post(
        "/api/users",
        json={**NEW, "role": "manager", "restaurantId": str(world.a2.id)},
        headers=headers,
    )
    assert response.status_code == 201
    assert response.json()["data"]["restaurantId"] == str(world.a2.id)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"role": "chef"}, "role"),
        ({"email": "not-an-email"}, "email"),
        ({"pin": "12ab"}, "pin"),
        ({"hourlyRate": -1}, "hourlyRate"),
        ({"restaurantId": "nope"}, "restaurantId"),
        ({"status": "x"}, "status"),
    ],
)
async def test_create_validation_names_the_field(
    client: httpx.AsyncClient, world: World, patch: dict[str, object], field: str
) -> None:
    headers = await login(client, world.users["manager"])
    response = await client.post("/api/users", json={**NEW, **patch}, headers=headers)
    assert response.status_code == 422
    assert field in {d["field"] for d in response.json()["error"]["details"]}


async def test_missing_field_and_weak_password(client: httpx.AsyncClient, world: World) -> None:
    headers = await login(client, world.users["manager"])
    missing = await client.post(
        "/api/users", json={k: v for k, v in NEW.items() if k != "email"}, headers=headers
    )
    assert missing.status_code == 422
    weak = await client.post("/api/users", json={**NEW, "password": "short"}, headers=headers)
    assert weak.status_code == 422
    assert "12 characters" in weak.json()["error"]["message"]


async def test_duplicate_email_is_409(client: httpx.AsyncClient, world: World) -> None:
    headers = await login(client, world.users["manager"])
    response = await client.post(
        "/api/users", json={**NEW, "email": world.users["waiter"].email}, headers=headers
    )
    assert response.status_code == 409


async def test_list_is_scoped_to_own_restaurants(client: httpx.AsyncClient, world: World) -> None:
    headers = await login(client, world.users["manager"])
    data = (await client.get("/api/users", params={"limit": 200}, headers=headers)).json()["data"]
    restaurants = {u["restaurantId"] for u in data["items"]}
    assert restaurants == {str(world.a1.id)}
    assert str(world.other_manager.id) not in {u["id"] for u in data["items"]}
    waiters = (await client.get("/api/users", params={"role": "waiter"}, headers=headers)).json()[
        "data"
    ]
    assert [u["id"] for u in waiters["items"]] == [str(world.users["waiter"].id)]


async def test_platform_owner_sees_every_restaurant(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await login(client, world.platform_owner)
    data = (await client.get("/api/users", params={"limit": 200}, headers=headers)).json()["data"]
    assert str(world.other_manager.id) in {u["id"] for u in data["items"]}


async def test_other_restaurants_user_is_404_everywhere(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await login(client, world.users["manager"])
    target = f"/api/users/{world.other_manager.id}"
    assert (await client.get(target, headers=headers)).status_code == 404
    assert (await client.put(target, json={"firstName": "X"}, headers=headers)).status_code == 404
    assert (await client.delete(target, headers=headers)).status_code == 404


async def test_nobody_raises_their_own_role(client: httpx.AsyncClient, world: World) -> None:
    manager = world.users["manager"]
    headers = await login(client, manager)
    response = await client.put(
        f"/api/users/{manager.id}", json={"role": "restaurant_owner"}, headers=headers
    )
    assert response.status_code == 403
    own_name = await client.put(
        f"/api/users/{manager.id}", json={"firstName": "Mia"}, headers=headers
    )
    assert own_name.status_code == 200
    assert own_name.json()["data"]["firstName"] == "Mia"


async def test_waiter_can_read_self_but_not_others(client: httpx.AsyncClient, world: World) -> None:
    waiter = world.users["waiter"]
    headers = await login(client, waiter)
    assert (await client.get(f"/api/users/{waiter.id}", headers=headers)).status_code == 200
    assert (
        await client.get(f"/api/users/{world.users['cashier'].id}", headers=headers)
    ).status_code == 404


async def test_deactivation_kills_tokens_at_once(client: httpx.AsyncClient, world: World) -> None:
    waiter = world.users["waiter"]
    waiter_headers = await login(client, waiter)
    manager_headers = await login(client, world.users["manager"])
    response = await client.delete(f"/api/users/{waiter.id}", headers=manager_headers)
    assert response.status_code == 200
    assert response.json()["data"]["isActive"] is False
    after = await client.get(f"/api/users/{waiter.id}", headers=waiter_headers)
    assert after.status_code == 401


async def test_role_change_is_audited_with_old_and_new(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await login(client, world.users["manager"])
    waiter = world.users["waiter"]
    response = await client.put(
        f"/api/users/{waiter.id}", json={"role": "cashier"}, headers=headers
    )
    assert response.status_code == 200
    logs = (
        await client.get("/api/audit-logs", params={"action": "user.role_changed"}, headers=headers)
    ).json()
    [entry] = logs["data"]["items"]
    assert entry["oldValues"]["role"] == "waiter"
    assert entry["newValues"]["role"] == "cashier"
    assert entry["userId"] == str(world.users["manager"].id)


async def test_cannot_grant_a_permission_you_lack(client: httpx.AsyncClient, world: World) -> None:
    headers = await login(client, world.users["manager"])
    response = await client.post(
        "/api/users",
        json={**NEW, "permissions": {"grant": ["restaurants.create"]}},
        headers=headers,
    )
    assert response.status_code == 403


async def test_email_taken_in_another_restaurant_is_a_409_naming_the_field(
    client: httpx.AsyncClient, world: World
) -> None:
    """The other tenant's user is invisible to this manager (and, on PostgreSQL, to the
    database session too): the clash still answers 409, never 500."""
    headers = await login(client, world.other_manager)
    response = await client.post(
        "/api/users",
        json={**NEW, "email": world.users["waiter"].email, "restaurantId": str(world.b.id)},
        headers=headers,
    )
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "already_exists"
    assert error["details"] == {"fields": ["email"]}
