"""U+0000 anywhere in a request is a 422 naming the field, on both databases.

PostgreSQL text and JSON cannot hold it: without the check the insert or the comparison
fails as a 500 there, while SQLite stores it. Real endpoints of several domains.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.world import World, login


def refused(response: httpx.Response, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "validation_error"
    (detail,) = [d for d in error["details"] if d["field"] == field]
    assert "NUL character" in detail["message"], detail
    return detail


@pytest.mark.parametrize(
    ("path", "body", "field", "inner"),
    [
        (
            "/api/hardware/devices",
            {"deviceType": "printer", "deviceName": "A\x00B", "connectionType": "usb"},
            "deviceName",
            None,
        ),
        (
            "/api/hardware/devices",
            {"deviceType": "scanner", "deviceName": "S", "configuration": {"k": ["x", "a\x00b"]}},
            "configuration",
            "k.1",
        ),
        ("/api/kitchen/stations", {"code": "grill\x00", "name": "Grill"}, "code", None),
        (
            "/api/orders",
            {
                "items": [
                    {
                        "productId": "00000000-0000-0000-0000-000000000001",
                        "quantity": 1,
                        "notes": "no\x00onions",
                    }
                ]
            },
            "items.0.notes",
            None,
        ),
        ("/api/categories", {"name": "Mains\x00"}, "name", None),
    ],
)
async def test_a_nul_in_a_body_is_refused_by_field(
    client: httpx.AsyncClient,
    world: World,
    path: str,
    body: dict[str, Any],
    field: str,
    inner: str | None,
) -> None:
    headers = await login(client, world.users["manager"])
    detail = refused(await client.post(path, json=body, headers=headers), field)
    if inner is not None:
        assert f"(at {inner})" in detail["message"]


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/kitchen/orders?station=%00", "station"),
        ("/api/kitchen/tickets?station=grill%00", "station"),
        ("/api/products?search=burger%00", "search"),
        ("/api/orders?status=pending&customerId=%00", "customerId"),
    ],
)
async def test_a_nul_in_a_query_parameter_is_refused_by_name(
    client: httpx.AsyncClient, world: World, url: str, field: str
) -> None:
    headers = await login(client, world.users["manager"])
    detail = refused(await client.get(url, headers=headers), field)
    assert detail["location"] == "query"


async def test_a_nul_in_the_path_is_refused(client: httpx.AsyncClient, world: World) -> None:
    headers = await login(client, world.users["manager"])
    response = await client.get("/api/orders/abc%00def", headers=headers)
    assert response.status_code == 422, response.text
    (detail,) = response.json()["error"]["details"]
    assert detail["location"] == "path"
    assert "NUL character" in detail["message"]


async def test_text_without_nul_is_untouched(client: httpx.AsyncClient, world: World) -> None:
    headers = await login(client, world.users["manager"])
    response = await client.post(
        "/api/categories", json={"name": "Café — 0 % \\x00 literal"}, headers=headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["data"]["name"] == "Café — 0 % \\x00 literal"


async def test_a_huge_offset_is_refused_by_name(client: httpx.AsyncClient, world: World) -> None:
    headers = await login(client, world.users["manager"])
    for url in ("/api/hardware/devices", "/api/print-jobs", "/api/kitchen/tickets"):
        response = await client.get(f"{url}?offset=99999999999999999999", headers=headers)
        assert response.status_code == 422, (url, response.text)
        assert [d["field"] for d in response.json()["error"]["details"]] == ["offset"]
        within = await client.get(f"{url}?offset=2147483647", headers=headers)
        assert within.status_code == 200, (url, within.text)
        assert within.json()["data"]["items"] == []
