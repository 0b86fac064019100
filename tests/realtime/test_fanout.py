"""Broadcasts written straight to idle connections (``fynlo.realtime.fanout``), over real
sockets: the same bytes as the library's path, never ahead of what a client's writer still
has to send, backpressure respected, and a dead client still closed by the library."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import socketio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.protocol import State
from websockets.server import ServerProtocol

from fynlo.config import Settings
from fynlo.events.catalog import restaurant_room
from fynlo.models import WebsocketConnection
from fynlo.realtime import fanout
from fynlo.realtime.fanout import DIRECT, LIBRARY, QUEUED, text_frame
from fynlo.realtime.server import RealtimeGateway
from tests.realtime.support import Listener, LiveServer, listening, live_server, token_of
from tests.world import World


@pytest.fixture
async def server(settings: Settings, engine: object) -> Any:
    async with live_server(settings) as live:
        yield live


def gateway_of(server: LiveServer) -> RealtimeGateway:
    gateway: RealtimeGateway = server.app.state.gateway
    return gateway


def engineio_socket(gateway: RealtimeGateway, listener: Listener) -> Any:
    eio_sid = gateway.sio.manager.eio_sid_from_sid(listener.client.get_sid(), "/")
    return gateway.sio.eio.sockets[eio_sid]


async def writer_idle(socket: Any) -> None:
    """Until the client's writer has sent what it had (the connect answer) and waits."""
    async with asyncio.timeout(5):
        while not (getattr(socket, "fynlo_waiting", False) and socket.queue.empty()):
            await asyncio.sleep(0.01)


@asynccontextmanager
async def idle_waiter(server: LiveServer, world: World) -> AsyncIterator[tuple[Listener, Any]]:
    """The restaurant's waiter connected, and its Engine.IO socket, whose writer waits."""
    token = await token_of(server.http, world.users["waiter"])
    async with listening(server.url, {"token": token}) as client:
        socket = engineio_socket(gateway_of(server), client)
        await writer_idle(socket)
        yield client, socket


async def events(listener: Listener, count: int) -> list[tuple[str, Any]]:
    async with asyncio.timeout(5):
        while len(listener.in_order) < count:
            await asyncio.sleep(0.01)
    return listener.in_order


def since(gateway: RealtimeGateway, before: Counter[str]) -> Counter[str]:
    return gateway.deliveries - before


@pytest.mark.parametrize("size", [10, 300, 70_000])
def test_the_frame_is_the_one_websockets_would_send(size: int) -> None:
    text = "4" + "é" * size
    connection = ServerProtocol()
    connection.state = State.OPEN
    connection.send_text(text.encode())

    assert text_frame(text) == b"".join(connection.data_to_send())


async def test_a_broadcast_is_written_once_to_each_idle_client_of_the_room(
    server: LiveServer, world: World
) -> None:
    gateway = gateway_of(server)
    waiter = await token_of(server.http, world.users["waiter"])
    manager = await token_of(server.http, world.users["manager"])
    other = await token_of(server.http, world.other_manager)
    async with (
        listening(server.url, {"token": waiter}) as first,
        listening(server.url, {"token": manager}) as second,
        listening(server.url, {"token": other}) as elsewhere,
    ):
        for listener in (first, second, elsewhere):
            await writer_idle(engineio_socket(gateway, listener))
        before = Counter(gateway.deliveries)
        # One payload per WebSocket length encoding: 7 bits, 16 bits, 64 bits.
        payloads = [{"n": 1}, {"text": "café " * 60}, {"text": "x" * 70_000, "n": 3}]
        for payload in payloads:
            await gateway.sio.emit("notification", payload, to=restaurant_room(world.a1.id))

        expected = [("notification", payload) for payload in payloads]
        assert await events(first, 3) == expected
        assert await events(second, 3) == expected
        assert await elsewhere.quiet("notification") == []
        metrics = (await server.http.get("/metrics")).text.splitlines()
        assert "fynlo_socketio_connections 3.0" in metrics
        assert (
            f'fynlo_socketio_deliveries_total{{path="direct"}} {gateway.deliveries[DIRECT]:.1f}'
            in metrics
        )
    assert since(gateway, before) == Counter({DIRECT: 6})


async def test_a_broadcast_never_overtakes_what_the_writer_still_has_to_send(
    server: LiveServer, world: World
) -> None:
    gateway = gateway_of(server)
    async with idle_waiter(server, world) as (client, socket):
        before = Counter(gateway.deliveries)
        for n in range(10):
            # Engine.IO's own send queues for the writer, which has not run yet when the
            # broadcast comes: the broadcast must be queued behind it.
            await gateway.sio.eio.send(socket.sid, f'2["queued",{n}]')
            await gateway.sio.emit("broadcast", n, to=restaurant_room(world.a1.id))
        await writer_idle(socket)
        await gateway.sio.emit("broadcast", 10, to=restaurant_room(world.a1.id))

        expected = [(kind, n) for n in range(10) for kind in ("queued", "broadcast")]
        assert await events(client, 21) == [*expected, ("broadcast", 10)]
    assert since(gateway, before) == Counter({QUEUED: 10, DIRECT: 1})


async def test_a_connection_applying_backpressure_gets_the_broadcast_through_its_writer(
    server: LiveServer, world: World
) -> None:
    gateway = gateway_of(server)
    async with idle_waiter(server, world) as (client, socket):
        connection = socket.fynlo_websocket.asgi_send.__self__  # uvicorn's protocol
        before = Counter(gateway.deliveries)
        connection.pause_writing()  # what the transport calls when its buffer is full
        try:
            for n in range(2):
                await gateway.sio.emit("held", n, to=restaurant_room(world.a1.id))
            assert await client.quiet("held", 0.3) == []  # the writer waits for the socket
        finally:
            connection.resume_writing()

        assert await events(client, 2) == [("held", 0), ("held", 1)]
    assert since(gateway, before) == Counter({QUEUED: 2})


async def test_a_writer_woken_but_not_yet_run_still_holds_its_packet_so_the_next_waits(
    server: LiveServer, world: World
) -> None:
    """The one moment the queue is empty and the connection writable while the writer still
    holds a packet: it took the packet, waited for the socket to drain, and has been told it
    did, but has not run yet. Only the writer's own "waiting" mark shows it is not idle."""
    gateway = gateway_of(server)
    room = restaurant_room(world.a1.id)
    async with idle_waiter(server, world) as (client, socket):
        connection = socket.fynlo_websocket.asgi_send.__self__
        before = Counter(gateway.deliveries)
        connection.pause_writing()
        await gateway.sio.emit("first", 1, to=room)
        async with asyncio.timeout(5):  # the writer takes it, then waits for the socket
            while not socket.queue.empty() or socket.fynlo_waiting:
                await asyncio.sleep(0.01)
        connection.resume_writing()
        await gateway.sio.emit("second", 2, to=room)  # before the writer runs again

        assert await events(client, 2) == [("first", 1), ("second", 2)]
    assert since(gateway, before) == Counter({QUEUED: 2})


async def test_long_polling_clients_are_queued_and_upgraded_ones_written_to(
    server: LiveServer, world: World
) -> None:
    gateway = gateway_of(server)
    token = await token_of(server.http, world.users["waiter"])
    polling = socketio.AsyncClient(reconnection=False)
    upgrading = socketio.AsyncClient(reconnection=False)
    received: dict[str, list[Any]] = {"polling": [], "upgrading": []}
    polling.on("notification", lambda data: received["polling"].append(data))
    upgrading.on("notification", lambda data: received["upgrading"].append(data))
    await polling.connect(server.url, auth={"token": token}, transports=["polling"])
    await upgrading.connect(server.url, auth={"token": token})  # polling, then WebSocket
    try:
        async with asyncio.timeout(5):
            while upgrading.transport() != "websocket":
                await asyncio.sleep(0.01)
        upgraded = gateway.sio.eio.sockets[upgrading.eio.sid]
        await writer_idle(upgraded)
        before = Counter(gateway.deliveries)

        await gateway.sio.emit("notification", {"n": 1}, to=restaurant_room(world.a1.id))

        async with asyncio.timeout(5):
            while not (received["polling"] and received["upgrading"]):
                await asyncio.sleep(0.01)
    finally:
        # A long-polling client's own disconnect waits for its pending poll to time out;
        # the server closing the Engine.IO session answers that poll at once.
        await gateway.sio.eio.disconnect(polling.eio.sid)
        await polling.disconnect()
        await upgrading.disconnect()
    assert received == {"polling": [{"n": 1}], "upgrading": [{"n": 1}]}
    assert since(gateway, before) == Counter({QUEUED: 1, DIRECT: 1})


async def test_a_recipient_whose_delivery_raises_still_gets_it_and_the_others_are_served(
    server: LiveServer, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = gateway_of(server)
    manager = await token_of(server.http, world.users["manager"])
    deliver = fanout.QueueingManager._deliver
    async with (
        idle_waiter(server, world) as (unlucky, unlucky_socket),
        listening(server.url, {"token": manager}) as other,
    ):
        await writer_idle(engineio_socket(gateway, other))

        def failing_for_one(self: Any, eio_sid: str, *args: Any) -> Any:
            if eio_sid == unlucky_socket.sid:
                raise RuntimeError("the transport broke")
            return deliver(self, eio_sid, *args)

        monkeypatch.setattr(fanout.QueueingManager, "_deliver", failing_for_one)
        before = Counter(gateway.deliveries)

        await gateway.sio.emit("notification", {"n": 1}, to=restaurant_room(world.a1.id))

        assert await events(other, 1) == [("notification", {"n": 1})]
        assert await events(unlucky, 1) == [("notification", {"n": 1})]
    assert since(gateway, before) == Counter({DIRECT: 1, LIBRARY: 1})


async def test_a_client_that_missed_its_ping_is_closed_by_the_library_others_still_served(
    server: LiveServer, session: AsyncSession, world: World
) -> None:
    gateway = gateway_of(server)
    waiter = await token_of(server.http, world.users["waiter"])
    manager = await token_of(server.http, world.users["manager"])
    async with (
        listening(server.url, {"token": waiter}) as silent,
        listening(server.url, {"token": manager}) as alive,
    ):
        silent_socket = engineio_socket(gateway, silent)
        for listener in (silent, alive):
            await writer_idle(engineio_socket(gateway, listener))
        before = Counter(gateway.deliveries)
        silent_socket.last_ping = time.time() - gateway.sio.eio.ping_timeout - 1

        await gateway.sio.emit("notification", {"n": 1}, to=restaurant_room(world.a1.id))

        assert await events(alive, 1) == [("notification", {"n": 1})]
        assert await silent.quiet("notification") == []
        # The library's send closed the socket; engineio ends the connection itself once
        # the writer's wait runs out.
        assert silent_socket.closed
        row = await session.scalar(
            select(WebsocketConnection).where(
                WebsocketConnection.connection_id == silent.client.get_sid()
            )
        )
        assert row is not None
        assert row.is_active is False  # the disconnect handler ran, before the client left
        await session.commit()
    assert since(gateway, before) == Counter({DIRECT: 1, LIBRARY: 1})


@pytest.mark.parametrize("unreadable", ["attribute", "implementation"])
async def test_a_connection_it_cannot_read_turns_direct_writes_off_and_queues_instead(
    server: LiveServer, world: World, monkeypatch: pytest.MonkeyPatch, unreadable: str
) -> None:
    """A uvicorn or websockets whose connection lacks what ``idle_connection`` reads, or
    another WebSocket implementation: the broadcast still arrives, through the writer, and
    later ones are queued too."""
    gateway = gateway_of(server)

    def missing_attribute(socket: Any) -> None:
        raise AttributeError("'WebSocketsSansIOProtocol' object has no attribute 'writable'")

    if unreadable == "attribute":
        monkeypatch.setattr(fanout, "idle_connection", missing_attribute)
    else:
        monkeypatch.setattr(fanout, "SANS_IO", ())
    async with idle_waiter(server, world) as (client, _socket):
        before = Counter(gateway.deliveries)
        for n in range(2):
            await gateway.sio.emit("notification", n, to=restaurant_room(world.a1.id))

        assert await events(client, 2) == [("notification", 0), ("notification", 1)]
    assert since(gateway, before) == Counter({QUEUED: 2})
    assert gateway.sio.manager.writes_directly is False
