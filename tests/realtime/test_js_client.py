"""The front end's own library: socket.io-client v4 from npm, run by Node."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.realtime.fanout import DIRECT, QUEUED
from fynlo.realtime.server import RealtimeGateway
from tests.orders.factories import product
from tests.realtime.support import LiveServer, live_server, token_of
from tests.world import World

CLIENT_DIR = Path(__file__).resolve().parents[1] / "js"


async def read_line(stream: asyncio.StreamReader) -> dict[str, Any]:
    line = await asyncio.wait_for(stream.readline(), 20)
    assert line, "the Node client exited without a word"
    loaded: dict[str, Any] = json.loads(line)
    return loaded


async def run_client(server: LiveServer, token: str) -> asyncio.subprocess.Process:
    node = shutil.which("node")
    if node is None or not (CLIENT_DIR / "node_modules" / "socket.io-client").is_dir():
        pytest.fail("Node and tests/js/node_modules are needed: run `make install`")
    return await asyncio.create_subprocess_exec(
        node,
        str(CLIENT_DIR / "listen.mjs"),
        server.url,
        token,
        stdout=asyncio.subprocess.PIPE,
        cwd=CLIENT_DIR,
    )


@pytest.mark.parametrize(
    ("per_message_deflate", "path"), [(False, DIRECT), (True, QUEUED)], ids=["plain", "deflate"]
)
async def test_socket_io_client_v4_receives_new_order(
    settings: Any,
    engine: object,
    session: AsyncSession,
    world: World,
    per_message_deflate: bool,
    path: str,
) -> None:
    """Written straight to the connection as ``fynlo serve`` runs (no compression); through
    the client's writer, which uvicorn compresses, when the client negotiated
    permessage-deflate (Node's client offers it)."""
    item = await product(session, world.a1, name="Flat white", price=320)
    await session.commit()
    async with live_server(settings, per_message_deflate=per_message_deflate) as server:
        gateway: RealtimeGateway = server.app.state.gateway
        token = await token_of(server.http, world.users["cashier"])
        node = await run_client(server, token)
        assert node.stdout is not None
        assert await read_line(node.stdout) == {"connected": True}
        (socket,) = gateway.sio.eio.sockets.values()
        extensions = socket.fynlo_websocket.asgi_send.__self__.conn.extensions
        assert [e.name for e in extensions] == (
            ["permessage-deflate"] if per_message_deflate else []
        )
        created = await server.http.post(
            "/api/orders",
            json={"items": [{"productId": str(item.id), "quantity": 2}]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201, created.text
        received = (await read_line(node.stdout))["new_order"]
        assert await asyncio.wait_for(node.wait(), 10) == 0
        assert gateway.deliveries == Counter({path: 1})
    order = created.json()["data"]
    assert received["orderId"] == order["id"]
    assert received["orderNumber"] == order["orderNumber"]
    assert received["total"] == order["totalAmount"]
    assert received["itemCount"] == 2


async def test_socket_io_client_v4_is_refused_with_a_bad_token(
    settings: Any, engine: object
) -> None:
    async with live_server(settings) as server:
        node = await run_client(server, "forged.token.value")
        assert node.stdout is not None
        refused = await read_line(node.stdout)
        assert await asyncio.wait_for(node.wait(), 10) == 1
    assert refused["connect_error"].startswith("Authentication error")
    assert refused["data"]["code"] == "unauthorized"
