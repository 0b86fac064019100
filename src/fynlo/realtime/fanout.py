"""Broadcasts to many clients at the cost of one write each.

python-socketio's ``AsyncManager.emit`` sends to each recipient of a room in a task of its
own; the send puts the packet in the client's Engine.IO queue, whose writer task then wakes,
and hands it down through Engine.IO's ASGI WebSocket, uvicorn and the ``websockets``
framing to the socket. For a ``new_order`` to 1,000 clients that is 2,000 task steps and
1,000 framings of the same bytes, most of a fan-out's CPU.

:class:`QueueingManager` encodes the event and frames it once, then for each recipient:

- writes the frame straight to the connection when the client's writer is idle: it waits
  (``fynlo_waiting``, :mod:`fynlo.realtime.engineio_hooks`) on an empty queue, so
  everything sent before has been written and the frame cannot overtake it. The connection
  must be uvicorn's WebSocket (sans-I/O), open, without extensions (uvicorn runs with
  ``ws_per_message_deflate=False``) and not applying backpressure;
- otherwise puts the packet in the client's queue, as the library's send does, and the
  writer sends it after what it has (also for a client still on long-polling, a binary
  event, or a compressed connection);
- leaves a socket that is gone, closing, or whose client has missed a ping to the library's
  own send in a task (for a missed ping, that closes the socket and runs the disconnect
  handler), and so too a recipient whose delivery raised: one client's failure neither
  costs the others the event nor makes the dispatcher send it again.

If a connection is not what the direct write reads (another server or WebSocket
implementation), the manager logs ``socketio_direct_writes_disabled`` once and queues from
then on. Emits with a callback go the library's way, since each recipient's packet differs.
``sent`` counts the recipients of each path (``GET /metrics``, the benchmark).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import socketio
import structlog
from engineio import packet as eio_packet
from socketio import packet
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from fynlo.realtime import engineio_hooks

SANS_IO: tuple[type, ...]
try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    SANS_IO = (WebSocketsSansIOProtocol,)
except ImportError:  # pragma: no cover - a uvicorn without it: direct writes turn off
    SANS_IO = ()

log = structlog.get_logger(__name__)

DIRECT = "direct"
QUEUED = "queued"
LIBRARY = "library"


def text_frame(text: str) -> bytes:
    """A server's (unmasked) WebSocket text frame, as ``websockets`` frames it."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class UnknownConnection(Exception):
    """The client's WebSocket is not uvicorn's sans-I/O one (another server, or another
    ``ws`` implementation): what :func:`idle_connection` checks does not apply to it."""


def idle_connection(socket: Any) -> asyncio.WriteTransport | None:
    """The connection of a WebSocket client whose writer has nothing in hand and waits on an
    empty queue, or None when a frame written now could overtake or break something."""
    if not (
        socket.upgraded
        and not socket.upgrading
        and getattr(socket, "fynlo_waiting", False)
        and socket.queue.empty()
    ):
        return None
    websocket = getattr(socket, "fynlo_websocket", None)
    if websocket is None:
        return None
    protocol: Any = getattr(websocket.asgi_send, "__self__", None)
    if type(protocol) not in SANS_IO:
        raise UnknownConnection(f"{type(protocol).__name__} is not uvicorn's sans-I/O WebSocket")
    if (
        not protocol.handshake_complete
        or protocol.close_sent
        or protocol.initial_response is not None
        or not protocol.writable.is_set()
    ):
        return None
    conn = protocol.conn
    if conn.state is not State.OPEN or conn.extensions or conn.expect_continuation_frame:
        return None
    transport: asyncio.WriteTransport = protocol.transport
    return None if transport.is_closing() else transport


def _alive(socket: Any, ping_timeout: float, now: float) -> bool:
    """What ``AsyncSocket.send`` checks before it queues: open, and no ping left unanswered
    for longer than ``ping_timeout``."""
    if socket.closing or socket.closed:
        return False
    last_ping = socket.last_ping
    return not (last_ping and now - last_ping > ping_timeout)


class QueueingManager(socketio.AsyncManager):  # type: ignore[misc]
    """The client manager: broadcasts with one write per idle recipient."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: Counter[str] = Counter()
        self.writes_directly = True

    def _idle_connection(self, socket: Any) -> asyncio.WriteTransport | None:
        if not self.writes_directly:
            return None
        try:
            return idle_connection(socket)
        except (AttributeError, UnknownConnection):
            # A server or WebSocket implementation whose connection is not what this
            # reads: queue everything from now on, as the library does.
            self.writes_directly = False
            log.warning("socketio_direct_writes_disabled", exc_info=True)
            return None

    def _library_send(self, eio_sid: str, eio_packets: list[Any]) -> list[asyncio.Task[None]]:
        return [
            asyncio.create_task(self.server._send_eio_packet(eio_sid, each)) for each in eio_packets
        ]

    def _deliver(
        self, eio_sid: str, eio_packets: list[Any], frame: bytes | None, now: float
    ) -> tuple[str, Sequence[asyncio.Task[None]]]:
        """Send one recipient its packets; returns the path taken and the library's tasks."""
        eio = self.server.eio
        socket = eio.sockets.get(eio_sid)
        if socket is None or not _alive(socket, eio.ping_timeout, now):
            return LIBRARY, self._library_send(eio_sid, eio_packets)
        if frame is not None and (connection := self._idle_connection(socket)) is not None:
            connection.write(frame)
            return DIRECT, ()
        for each in eio_packets:
            socket.queue.put_nowait(each)
        return QUEUED, ()

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        if callback is not None or not engineio_hooks.installed():
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to
            )
            return
        room = to or room
        if namespace not in self.rooms:
            return
        if isinstance(data, tuple):
            args = list(data)
        elif data is not None:
            args = [data]
        else:
            args = []
        skipped = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        encoded = self.server.packet_class(
            packet.EVENT, namespace=namespace, data=[event, *args]
        ).encode()
        parts = encoded if isinstance(encoded, list) else [encoded]
        eio_packets = [eio_packet.Packet(eio_packet.MESSAGE, part) for part in parts]
        frame = (
            text_frame(eio_packets[0].encode())
            if len(parts) == 1 and isinstance(parts[0], str)
            else None
        )
        now = time.time()
        tasks: list[asyncio.Task[None]] = []
        reached: Counter[str] = Counter()
        try:
            for sid, eio_sid in self.get_participants(namespace, room):
                if sid in skipped:
                    continue
                try:
                    path, started = self._deliver(eio_sid, eio_packets, frame, now)
                except Exception:
                    # One recipient's failure must not cost the others their event, nor
                    # make the dispatcher send it again to those already reached.
                    log.exception("socketio_delivery_failed", sid=sid)
                    path, started = LIBRARY, self._library_send(eio_sid, eio_packets)
                reached[path] += 1
                tasks.extend(started)
        finally:
            self.sent.update(reached)
            if tasks:
                await asyncio.wait(tasks)
