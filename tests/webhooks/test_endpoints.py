"""/api/webhooks: registering, changing, rotating, the delivery log, replay, access."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.config import Settings
from fynlo.models import AuditLog, WebhookEndpoint
from fynlo.webhooks.signing import EVENT_TYPE_HEADER, decrypt_secret, verify
from tests.webhooks.conftest import MakeReceiver
from tests.webhooks.support import (
    Deliverer,
    attempts_of,
    create_endpoint,
    free_port,
    only_delivery,
    publish,
)
from tests.world import World, login

URL = "https://hooks.example.com/fynlo"


async def _owner(client: httpx.AsyncClient, world: World) -> dict[str, str]:
    return await login(client, world.owner_a)


async def _register(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    response = await client.post("/api/webhooks", json={"url": URL, **body}, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def _audit(session: AsyncSession, action: str) -> list[AuditLog]:
    await session.commit()
    return list(
        await session.scalars(
            select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.seq)
        )
    )


async def test_register_returns_the_secret_once_and_stores_it_encrypted(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, world: World
) -> None:
    headers = await _owner(client, world)
    response = await client.post(
        "/api/webhooks",
        json={
            "url": URL,
            "description": "Accounting sync",
            "eventTypes": ["payment_completed", "new_order", "payment_completed"],
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] is True
    created = body["data"]
    secret = created.pop("secret")
    assert secret.startswith("whsec_")
    assert created == {
        "id": created["id"],
        "url": URL,
        "description": "Accounting sync",
        "eventTypes": ["payment_completed", "new_order"],
        "isActive": True,
        "previousSecretExpiresAt": None,
        "createdAt": created["createdAt"],
        "updatedAt": created["updatedAt"],
    }

    fetched = await client.get(f"/api/webhooks/{created['id']}", headers=headers)
    assert fetched.status_code == 200
    assert "secret" not in fetched.json()["data"]
    assert secret not in fetched.text
    listed = await client.get("/api/webhooks", headers=headers)
    assert secret not in listed.text

    await session.commit()
    stored = await session.get(WebhookEndpoint, uuid.UUID(created["id"]))
    assert stored is not None
    assert stored.restaurant_id == world.a1.id
    assert secret not in stored.secret_encrypted
    assert decrypt_secret(settings, stored.secret_encrypted) == secret

    (audit,) = await _audit(session, "webhook.create")
    assert audit.restaurant_id == world.a1.id
    assert audit.user_id == world.owner_a.id
    assert audit.new_values == {
        "url": URL,
        "description": "Accounting sync",
        "eventTypes": ["payment_completed", "new_order"],
        "isActive": True,
    }
    assert secret not in str(audit.new_values)


async def test_list_is_paginated_and_scoped_to_the_restaurant(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await _owner(client, world)
    ids = [(await _register(client, headers, description=f"hook {n}"))["id"] for n in range(3)]
    response = await client.post(
        f"/api/webhooks?restaurantId={world.a2.id}", json={"url": URL}, headers=headers
    )
    assert response.status_code == 201

    page = (await client.get("/api/webhooks?limit=2", headers=headers)).json()["data"]
    assert [item["id"] for item in page["items"]] == ids[:2]
    assert page["pagination"] == {"limit": 2, "offset": 0, "total": 3, "hasMore": True}
    rest = (await client.get("/api/webhooks?limit=2&offset=2", headers=headers)).json()["data"]
    assert [item["id"] for item in rest["items"]] == ids[2:]
    assert rest["pagination"]["hasMore"] is False
    a2 = await client.get(f"/api/webhooks?restaurantId={world.a2.id}", headers=headers)
    assert a2.json()["data"]["pagination"]["total"] == 1

    other = await client.get("/api/webhooks", headers=await login(client, world.owner_b))
    assert other.json()["data"] == {
        "items": [],
        "pagination": {"limit": 50, "offset": 0, "total": 0, "hasMore": False},
    }


async def test_update_changes_given_fields_and_audits_the_difference(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await _owner(client, world)
    created = await _register(client, headers, description="old", eventTypes=["new_order"])
    response = await client.patch(
        f"/api/webhooks/{created['id']}",
        json={
            "url": "https://other.example.com/in",
            "eventTypes": [],
            "isActive": False,
        },
        headers=headers,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["url"] == "https://other.example.com/in"
    assert data["eventTypes"] == []
    assert data["isActive"] is False
    assert data["description"] == "old"  # not sent: unchanged

    cleared = await client.patch(
        f"/api/webhooks/{created['id']}", json={"description": None}, headers=headers
    )
    assert cleared.status_code == 200
    assert cleared.json()["data"]["description"] is None

    audits = await _audit(session, "webhook.update")
    assert [(a.old_values, a.new_values) for a in audits] == [
        (
            {"url": URL, "eventTypes": ["new_order"], "isActive": True},
            {"url": "https://other.example.com/in", "eventTypes": [], "isActive": False},
        ),
        ({"description": "old"}, {"description": None}),
    ]


async def test_delete_removes_the_endpoint_and_its_deliveries(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, world: World
) -> None:
    endpoint, _ = await create_endpoint(session, settings, world.a1, URL)
    await publish(session, world.a1)
    headers = await _owner(client, world)

    response = await client.delete(f"/api/webhooks/{endpoint.id}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"id": str(endpoint.id), "deleted": True}
    again = await client.get(f"/api/webhooks/{endpoint.id}", headers=headers)
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "not_found"
    deliveries = await client.get(f"/api/webhooks/{endpoint.id}/deliveries", headers=headers)
    assert deliveries.status_code == 404
    (audit,) = await _audit(session, "webhook.delete")
    assert audit.old_values is not None
    assert audit.old_values["url"] == URL


async def test_rotate_secret_returns_a_new_secret_once(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, world: World
) -> None:
    headers = await _owner(client, world)
    created = await _register(client, headers)
    response = await client.post(f"/api/webhooks/{created['id']}/rotate-secret", headers=headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["secret"].startswith("whsec_")
    assert data["secret"] != created["secret"]
    assert data["previousSecretExpiresAt"] is not None

    await session.commit()
    stored = await session.get(WebhookEndpoint, uuid.UUID(created["id"]))
    assert stored is not None
    assert stored.previous_secret_encrypted is not None
    assert decrypt_secret(settings, stored.secret_encrypted) == data["secret"]
    assert decrypt_secret(settings, stored.previous_secret_encrypted) == created["secret"]
    assert stored.previous_secret_expires_at is not None
    assert stored.previous_secret_expires_at - stored.updated_at > timedelta(hours=23, minutes=59)
    (audit,) = await _audit(session, "webhook.rotate_secret")
    assert data["secret"] not in str(audit.new_values)
    assert created["secret"] not in str(audit.new_values)


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": 123}, "url"),
        ({"url": ["https://a.example"]}, "url"),
        ({"url": ""}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "ftp://files.example.com/in"}, "url"),
        ({"url": "https://"}, "url"),
        ({"url": "https:///path-only"}, "url"),
        ({"url": "https://example.com:99999/in"}, "url"),
        ({"url": "https://example.com/" + "x" * 2000}, "url"),
        ({"url": URL, "eventTypes": "new_order"}, "eventTypes"),
        ({"url": URL, "eventTypes": ["new_order", "order_exploded"]}, "eventTypes.1"),
        ({"url": URL, "eventTypes": [42]}, "eventTypes.0"),
        ({"url": URL, "description": "x" * 256}, "description"),
        ({"url": URL, "description": 5}, "description"),
        ({"url": URL, "secret": "whsec_mine"}, "secret"),
        ({"url": URL, "isActive": False}, "isActive"),
    ],
)
async def test_create_validation_names_the_field(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/webhooks", json=body, headers=await _owner(client, world))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [d["field"] for d in error["details"]] == [field]
    assert field in error["message"]


async def test_unknown_event_type_message_lists_the_known_ones(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.post(
        "/api/webhooks",
        json={"url": URL, "eventTypes": ["order_exploded"]},
        headers=await _owner(client, world),
    )
    assert response.status_code == 422
    (detail,) = response.json()["error"]["details"]
    assert detail["field"] == "eventTypes.0"
    assert "unknown event type 'order_exploded'" in detail["message"]
    assert "new_order" in detail["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": None}, "url"),
        ({"eventTypes": None}, "eventTypes"),
        ({"isActive": None}, "isActive"),
        ({"isActive": "maybe"}, "isActive"),
        ({"url": "mailto:ops@example.com"}, "url"),
        ({"eventTypes": ["nope"]}, "eventTypes.0"),
        ({"id": str(uuid.uuid4())}, "id"),
    ],
)
async def test_update_validation_names_the_field(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], field: str
) -> None:
    headers = await _owner(client, world)
    created = await _register(client, headers)
    response = await client.patch(f"/api/webhooks/{created['id']}", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]


async def test_https_is_required_outside_development_and_test(
    client: httpx.AsyncClient,
    app: FastAPI,
    settings: Settings,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    headers = await _owner(client, world)
    created = await _register(client, headers)
    plain = await client.post(
        "/api/webhooks", json={"url": "http://127.0.0.1:8080/in"}, headers=headers
    )
    assert plain.status_code == 201  # the test environment allows plain http

    production = settings.model_copy(update={"environment": "production"})
    monkeypatch.setattr(app.state.runtime, "settings", production)
    refused = await client.post(
        "/api/webhooks", json={"url": "http://hooks.example.com/in"}, headers=headers
    )
    assert refused.status_code == 422
    (detail,) = refused.json()["error"]["details"]
    assert detail["field"] == "url"
    assert "https" in detail["message"]
    patched = await client.patch(
        f"/api/webhooks/{created['id']}",
        json={"url": "http://hooks.example.com/in"},
        headers=headers,
    )
    assert patched.status_code == 422
    assert patched.json()["error"]["details"][0]["field"] == "url"
    assert (
        await client.post("/api/webhooks", json={"url": URL}, headers=headers)
    ).status_code == 201


async def test_query_validation(client: httpx.AsyncClient, world: World) -> None:
    headers = await _owner(client, world)
    created = await _register(client, headers)
    for path, field in (
        (f"/api/webhooks/{created['id']}/deliveries?status=lost", "status"),
        (f"/api/webhooks/{created['id']}/deliveries?limit=0", "limit"),
        ("/api/webhooks?limit=201", "limit"),
        ("/api/webhooks?offset=-1", "offset"),
        ("/api/webhooks/not-a-uuid", "endpoint_id"),
    ):
        response = await client.get(path, headers=headers)
        assert response.status_code == 422, path
        assert response.json()["error"]["details"][0]["field"] == field, path


# -- access ----------------------------------------------------------------------------------


async def test_another_tenants_endpoints_and_deliveries_are_404(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, world: World
) -> None:
    endpoint, _ = await create_endpoint(session, settings, world.a1, URL)
    await publish(session, world.a1)
    delivery = await only_delivery(session, endpoint)
    base = f"/api/webhooks/{endpoint.id}"
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", base, None),
        ("PATCH", base, {"isActive": False}),
        ("DELETE", base, None),
        ("POST", f"{base}/rotate-secret", None),
        ("GET", f"{base}/deliveries", None),
        ("POST", f"{base}/deliveries/{delivery.id}/replay", None),
        ("POST", f"{base}/test", None),
    ]
    other_owner = await login(client, world.owner_b)
    same_owner_other_restaurant = await _owner(client, world)
    for headers, query in (
        (other_owner, ""),
        (same_owner_other_restaurant, f"?restaurantId={world.a2.id}"),
    ):
        for method, path, body in calls:
            response = await client.request(method, path + query, json=body, headers=headers)
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["error"]["code"] == "not_found"

    mine = await _owner(client, world)
    unknown = await client.post(f"{base}/deliveries/{uuid.uuid4()}/replay", headers=mine)
    assert unknown.status_code == 404
    other_endpoint, _ = await create_endpoint(session, settings, world.a1, URL)
    crossed = await client.post(
        f"/api/webhooks/{other_endpoint.id}/deliveries/{delivery.id}/replay", headers=mine
    )
    assert crossed.status_code == 404
    await session.commit()
    untouched = await session.get(WebhookEndpoint, endpoint.id, populate_existing=True)
    assert untouched is not None
    assert untouched.is_active is True
    assert untouched.previous_secret_encrypted is None


@pytest.mark.parametrize("role", ["waiter", "manager", "cashier"])
async def test_staff_without_the_permission_get_403(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, world: World, role: str
) -> None:
    endpoint, _ = await create_endpoint(session, settings, world.a1, URL)
    headers = await login(client, world.users[role])
    for method, path in (
        ("GET", "/api/webhooks"),
        ("POST", "/api/webhooks"),
        ("GET", f"/api/webhooks/{endpoint.id}"),
        ("DELETE", f"/api/webhooks/{endpoint.id}"),
        ("POST", f"/api/webhooks/{endpoint.id}/rotate-secret"),
    ):
        response = await client.request(method, path, json={"url": URL}, headers=headers)
        assert response.status_code == 403, (method, path)
        error = response.json()["error"]
        assert error["code"] == "permission_denied"
        assert error["details"] == {"permission": "webhooks.manage"}
    assert (await client.get("/api/webhooks")).status_code == 401


# -- deliveries, replay, test ----------------------------------------------------------------


async def test_deliveries_newest_first_with_attempts_filter_and_pages(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    world: World,
    make_receiver: MakeReceiver,
    deliver: Deliverer,
) -> None:
    receiver = await make_receiver([500])
    endpoint, _ = await create_endpoint(session, settings, world.a1, receiver.url)
    first, _ = await publish(session, world.a1, "new_order")
    assert await deliver() == 1  # 500: stays pending
    second, _ = await publish(session, world.a1, "order_updated")
    third, _ = await publish(session, world.a1, "payment_completed")
    headers = await _owner(client, world)

    response = await client.get(f"/api/webhooks/{endpoint.id}/deliveries", headers=headers)
    assert response.status_code == 200, response.text
    page = response.json()["data"]
    assert [d["eventId"] for d in page["items"]] == [str(third.id), str(second.id), str(first.id)]
    assert page["pagination"]["total"] == 3
    oldest = page["items"][2]
    assert oldest["status"] == "pending"
    assert oldest["attemptCount"] == 1
    assert oldest["lastStatusCode"] == 500
    assert oldest["payload"]["type"] == "new_order"
    (attempt,) = oldest["attempts"]
    assert attempt["statusCode"] == 500
    assert attempt["error"] == "receiver answered HTTP 500"
    assert attempt["manual"] is False
    assert attempt["attempt"] == 1
    assert page["items"][0]["attempts"] == []

    assert await deliver() == 2
    delivered = await client.get(
        f"/api/webhooks/{endpoint.id}/deliveries?status=delivered&limit=1", headers=headers
    )
    data = delivered.json()["data"]
    assert [d["eventId"] for d in data["items"]] == [str(third.id)]
    assert data["pagination"] == {"limit": 1, "offset": 0, "total": 2, "hasMore": True}
    pending = await client.get(
        f"/api/webhooks/{endpoint.id}/deliveries?status=pending", headers=headers
    )
    assert [d["eventId"] for d in pending.json()["data"]["items"]] == [str(first.id)]


async def test_replay_sends_again_and_logs_a_manual_attempt(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    world: World,
    make_receiver: MakeReceiver,
    deliver: Deliverer,
) -> None:
    receiver = await make_receiver()
    endpoint, secret = await create_endpoint(session, settings, world.a1, receiver.url)
    await publish(session, world.a1)
    assert await deliver() == 1
    delivery = await only_delivery(session, endpoint)
    assert delivery.status == "delivered"
    headers = await _owner(client, world)

    response = await client.post(
        f"/api/webhooks/{endpoint.id}/deliveries/{delivery.id}/replay", headers=headers
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["status"] == "delivered"
    assert data["attemptCount"] == 2
    assert [(a["attempt"], a["statusCode"], a["manual"]) for a in data["attempts"]] == [
        (1, 200, False),
        (2, 200, True),
    ]
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body
    assert verify(secret, receiver.requests[1].signature, receiver.requests[1].body)
    (audit,) = await _audit(session, "webhook.replay")
    assert audit.resource_id == str(delivery.id)


async def test_replay_of_a_failed_delivery(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    world: World,
    make_receiver: MakeReceiver,
    deliver: Deliverer,
) -> None:
    port = free_port()
    endpoint, _ = await create_endpoint(
        session, settings, world.a1, f"http://127.0.0.1:{port}/hooks"
    )
    await publish(session, world.a1)
    created = (await only_delivery(session, endpoint)).created_at
    assert await deliver(now=created + timedelta(hours=25)) == 1
    delivery = await only_delivery(session, endpoint)
    assert delivery.status == "failed"
    headers = await _owner(client, world)
    replay = f"/api/webhooks/{endpoint.id}/deliveries/{delivery.id}/replay"

    still_down = await client.post(replay, headers=headers)
    assert still_down.status_code == 200, still_down.text
    data = still_down.json()["data"]
    assert data["status"] == "failed"  # a failed replay changes nothing but the log
    assert data["attempts"][-1]["manual"] is True
    assert data["attempts"][-1]["error"].startswith("connection failed")
    assert data["attempts"][-1]["statusCode"] is None

    receiver = await make_receiver()
    receiver.port = port
    await receiver.start()
    back_up = await client.post(replay, headers=headers)
    assert back_up.status_code == 200, back_up.text
    assert back_up.json()["data"]["status"] == "delivered"
    assert back_up.json()["data"]["deliveredAt"] is not None
    assert len(receiver.accepted) == 1
    attempts = await attempts_of(session, delivery)
    assert [(a.attempt, a.manual) for a in attempts] == [(1, False), (2, True), (3, True)]


async def test_replay_and_test_refused_on_an_inactive_endpoint(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, world: World
) -> None:
    endpoint, _ = await create_endpoint(session, settings, world.a1, URL, is_active=False)
    endpoint.is_active = True
    await session.commit()
    await publish(session, world.a1)
    endpoint.is_active = False
    await session.commit()
    delivery = await only_delivery(session, endpoint)
    headers = await _owner(client, world)
    for path in (
        f"/api/webhooks/{endpoint.id}/deliveries/{delivery.id}/replay",
        f"/api/webhooks/{endpoint.id}/test",
    ):
        response = await client.post(path, headers=headers)
        assert response.status_code == 409, path
        assert response.json()["error"]["code"] == "webhook_endpoint_inactive"
    assert await attempts_of(session, delivery) == []


async def test_test_ping_is_queued_and_delivered_signed(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    world: World,
    make_receiver: MakeReceiver,
    deliver: Deliverer,
) -> None:
    receiver = await make_receiver()
    headers = await _owner(client, world)
    created = await _register(client, headers, url=receiver.url, eventTypes=["new_order"])

    response = await client.post(f"/api/webhooks/{created['id']}/test", headers=headers)
    assert response.status_code == 201, response.text
    queued = response.json()["data"]
    assert queued["status"] == "pending"
    assert queued["eventType"] == "notification"
    assert queued["payload"]["data"] == {"test": True, "message": "Test delivery from Fynlo"}

    assert await deliver() == 1
    (request,) = receiver.requests
    assert request.headers[EVENT_TYPE_HEADER] == "notification"
    assert request.json["id"] == queued["eventId"]
    assert request.json["restaurantId"] == str(world.a1.id)
    assert verify(created["secret"], request.signature, request.body)
    listed = await client.get(f"/api/webhooks/{created['id']}/deliveries", headers=headers)
    assert listed.json()["data"]["items"][0]["status"] == "delivered"
