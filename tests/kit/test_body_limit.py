from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from fynlo.config import Settings


async def test_declared_oversized_body_is_413_envelope(
    probe_client: httpx.AsyncClient, settings: Settings
) -> None:
    payload = b'{"name": "' + b"a" * settings.max_body_bytes + b'", "quantity": 1}'
    response = await probe_client.post(
        "/api/_probe/widgets", content=payload, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["details"] == {"maxBytes": settings.max_body_bytes}


async def test_streamed_oversized_body_is_413_envelope(
    probe_client: httpx.AsyncClient, settings: Settings
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"a" * 65536

    response = await probe_client.post(
        "/api/_probe/widgets", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
