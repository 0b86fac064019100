"""Idempotency-Key: replay, mismatch, concurrency, release on failure, takeover."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.db.types import utc_now
from fynlo.models import IdempotencyKey
from tests.kit.probe import probe_widgets

URL = "/api/_probe/widgets"


async def _widget_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(probe_widgets)) or 0)


async def test_replay_returns_the_stored_response(
    probe_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = {"Idempotency-Key": "key-replay-1"}
    first = await probe_client.post(URL, json={"name": "a", "quantity": 2}, headers=headers)
    second = await probe_client.post(URL, json={"quantity": 2, "name": "a"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await _widget_count(session) == 1


async def test_same_key_other_body_is_409(
    probe_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = {"Idempotency-Key": "key-mismatch-1"}
    assert (
        await probe_client.post(URL, json={"name": "a", "quantity": 1}, headers=headers)
    ).status_code == 201
    other = await probe_client.post(URL, json={"name": "a", "quantity": 3}, headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert await _widget_count(session) == 1


async def test_concurrent_requests_with_one_key_have_one_effect(
    probe_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = {"Idempotency-Key": "key-concurrent-1"}
    responses = await asyncio.gather(
        *(
            probe_client.post(URL, json={"name": "c", "quantity": 1}, headers=headers)
            for _ in range(20)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    created_ids = {r.json()["data"]["id"] for r in responses if r.status_code == 201}
    assert len(created_ids) == 1
    for r in responses:
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "idempotency_key_in_progress"
            assert r.headers["retry-after"] == "1"
    assert await _widget_count(session) == 1
    again = await probe_client.post(URL, json={"name": "c", "quantity": 1}, headers=headers)
    assert again.status_code == 201
    assert again.json()["data"]["id"] in created_ids


async def test_failed_request_releases_the_key(
    probe_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = {"Idempotency-Key": "key-failed-1"}
    body = {"name": "conflict-after-write", "quantity": 1}
    first = await probe_client.post(URL, json=body, headers=headers)
    assert first.status_code == 409
    retry = await probe_client.post(URL, json=body, headers=headers)
    assert retry.status_code == 409
    assert "idempotent-replayed" not in retry.headers
    assert await _widget_count(session) == 0
    assert await session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0


async def test_abandoned_claim_is_taken_over(
    probe_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    stale = utc_now() - timedelta(minutes=10)
    session.add(
        IdempotencyKey(
            caller="anonymous",
            key="key-abandoned-1",
            fingerprint="0" * 64,
            status="in_progress",
            locked_at=stale,
            expires_at=utc_now() + timedelta(hours=1),
        )
    )
    await session.commit()
    response = await probe_client.post(
        URL, json={"name": "a", "quantity": 1}, headers={"Idempotency-Key": "key-abandoned-1"}
    )
    assert response.status_code == 201
    assert await _widget_count(session) == 1


async def test_fresh_claim_by_another_request_is_in_progress(
    probe_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    from fynlo.kit.idempotency import fingerprint

    body = b'{"name":"a","quantity":1}'
    session.add(
        IdempotencyKey(
            caller="anonymous",
            key="key-busy-1",
            fingerprint=fingerprint("POST", URL, body),
            status="in_progress",
            locked_at=utc_now(),
            expires_at=utc_now() + timedelta(hours=1),
        )
    )
    await session.commit()
    response = await probe_client.post(
        URL,
        content=body,
        headers={"Idempotency-Key": "key-busy-1", "content-type": "application/json"},
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_in_progress"
    assert await _widget_count(session) == 0


async def test_invalid_key_is_400(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post(
        URL, json={"name": "a", "quantity": 1}, headers={"Idempotency-Key": "has space"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"header": "Idempotency-Key"}


async def test_without_key_each_request_has_its_effect(
    probe_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for _ in range(2):
        assert (await probe_client.post(URL, json={"name": "a", "quantity": 1})).status_code == 201
    assert await _widget_count(session) == 2


async def test_header_is_documented(probe_app: object, probe_client: httpx.AsyncClient) -> None:
    spec = (await probe_client.get("/openapi.json")).json()
    params = spec["paths"][URL]["post"]["parameters"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in params)
