"""The envelope and error shapes every endpoint shares."""

from __future__ import annotations

import logging

import httpx
import pytest


async def test_health_is_enveloped(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body == {"success": True, "data": {"status": "ok", "version": body["data"]["version"]}}
    assert len(response.headers["x-request-id"]) >= 8


async def test_unknown_route_is_404_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/no-such-thing")
    assert response.status_code == 404
    error = response.json()["error"]
    assert response.json()["success"] is False
    assert error["code"] == "not_found"
    assert "/api/no-such-thing" in error["message"]
    assert error["requestId"] == response.headers["x-request-id"]


async def test_wrong_method_is_405_envelope(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/health")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "DELETE" in response.json()["error"]["message"]


async def test_validation_error_names_each_field(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post("/api/_probe/widgets", json={"name": "", "quantity": "many"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    fields = {d["field"] for d in error["details"]}
    assert fields == {"name", "quantity"}
    assert "quantity" in error["message"]
    assert "name" in error["message"]


async def test_missing_field_is_named(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post("/api/_probe/widgets", json={"name": "a"})
    assert response.status_code == 422
    [detail] = response.json()["error"]["details"]
    assert detail == {
        "field": "quantity",
        "location": "body",
        "message": "Field required",
        "type": "missing",
    }


async def test_out_of_range_value_is_named(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post("/api/_probe/widgets", json={"name": "a", "quantity": 101})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "quantity"


@pytest.mark.parametrize("field", ["status", "total", "restaurantId"])
async def test_unknown_fields_are_refused_by_name(
    probe_client: httpx.AsyncClient, field: str
) -> None:
    response = await probe_client.post(
        "/api/_probe/widgets", json={"name": "a", "quantity": 1, field: "x"}
    )
    assert response.status_code == 422
    [detail] = response.json()["error"]["details"]
    assert detail["field"] == field
    assert detail["message"] == f"Unknown field '{field}' is not allowed"


async def test_malformed_json_is_422_not_500(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post(
        "/api/_probe/widgets", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["success"] is False


async def test_query_validation_names_parameter(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.get("/api/_probe/widgets", params={"limit": 1000})
    assert response.status_code == 422
    detail = response.json()["error"]["details"][0]
    assert detail["field"] == "limit"
    assert detail["location"] == "query"


async def test_camel_case_on_the_wire(probe_client: httpx.AsyncClient) -> None:
    # unit_price is accepted as camelCase unitPrice
    response = await probe_client.post(
        "/api/_probe/widgets", json={"name": "a", "quantity": 1, "unitPrice": 2.5}
    )
    assert response.status_code == 201, response.text
    listing = (await probe_client.get("/api/_probe/widgets")).json()["data"]
    assert listing["pagination"] == {"limit": 50, "offset": 0, "total": 1, "hasMore": False}


async def test_pagination_caps_and_pages(probe_client: httpx.AsyncClient) -> None:
    for i in range(5):
        response = await probe_client.post(
            "/api/_probe/widgets", json={"name": f"w{i}", "quantity": 1}
        )
        assert response.status_code == 201
    page = (await probe_client.get("/api/_probe/widgets", params={"limit": 2, "offset": 2})).json()
    assert [w["name"] for w in page["data"]["items"]] == ["w2", "w3"]
    assert page["data"]["pagination"] == {"limit": 2, "offset": 2, "total": 5, "hasMore": True}


async def test_domain_error_rolls_back_the_write(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post(
        "/api/_probe/widgets", json={"name": "conflict-after-write", "quantity": 1}
    )
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "conflict",
        "message": "refused after writing; nothing must remain",
        "details": None,
        "requestId": response.headers["x-request-id"],
    }
    listing = (await probe_client.get("/api/_probe/widgets")).json()["data"]
    assert listing["pagination"]["total"] == 0


async def test_unexpected_exception_is_500_with_request_id_and_no_internals(
    probe_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await probe_client.get("/api/_probe/boom")
    assert response.status_code == 500
    body = response.json()
    request_id = response.headers["x-request-id"]
    assert body["success"] is False
    assert body["error"]["code"] == "internal_error"
    assert body["error"]["requestId"] == request_id
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged, "the crash must be logged"
    assert any(r.exc_info and "hunter2" in str(r.exc_info[1]) for r in logged)


async def test_client_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health", headers={"X-Request-ID": "till-7-abcdef12"})
    assert response.headers["x-request-id"] == "till-7-abcdef12"


async def test_hostile_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health", headers={"X-Request-ID": "bad id <script>"})
    assert response.headers["x-request-id"] != "bad id <script>"
