"""Two hooks into python-engineio 4's server socket, for broadcasts to many clients.

Each WebSocket client has a writer task that waits for its next packet in
``AsyncSocket.poll`` and sends what it gets. The hooks:

- :func:`poll` is engineio's own (same timeout, same batching of what is already queued,
  same end-of-stream marker, same ``QueueEmpty`` on timeout or cancellation;
  ``tests/realtime/test_engineio_hooks.py`` runs both side by side) with two differences. It
  waits under ``asyncio.timeout``, not ``asyncio.wait_for``, which on Python 3.11 starts a
  task and a timer per packet, 1,000 tasks per broadcast (3.12's ``wait_for`` is
  ``asyncio.timeout``). And while it waits it sets the socket's ``fynlo_waiting``: the
  writer has sent everything it was given and waits on an empty queue.
- :func:`websocket_handler` records the socket's ASGI WebSocket as ``fynlo_websocket`` for
  as long as engineio's handler runs.

Together they let :mod:`fynlo.realtime.fanout` write a broadcast straight to an idle
client's connection, in order, instead of waking its writer.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from typing import Any

from engineio import exceptions
from engineio.async_socket import AsyncSocket

_ORIGINAL_POLL = AsyncSocket.poll
_ORIGINAL_WEBSOCKET_HANDLER = AsyncSocket._websocket_handler


async def poll(self: Any) -> list[Any]:
    """Wait for packets to send to the client (python-engineio 4's ``AsyncSocket.poll``)."""
    try:
        self.fynlo_waiting = True
        try:
            async with asyncio.timeout(self.server.ping_interval + self.server.ping_timeout):
                packets = [await self.queue.get()]
        finally:
            self.fynlo_waiting = False
        self.queue.task_done()
    except (TimeoutError, asyncio.CancelledError):
        raise exceptions.QueueEmpty() from None
    if packets == [None]:
        return []
    while True:
        try:
            pkt = self.queue.get_nowait()
            self.queue.task_done()
            if pkt is None:
                self.queue.put_nowait(None)
                break
            packets.append(pkt)
        except asyncio.QueueEmpty:
            break
    return packets


async def websocket_handler(self: Any, ws: Any) -> Any:
    """engineio's WebSocket handler, with the socket knowing its WebSocket meanwhile."""
    self.fynlo_websocket = ws
    try:
        return await _ORIGINAL_WEBSOCKET_HANDLER(self, ws)
    finally:
        self.fynlo_websocket = None


def supported() -> bool:
    """python-engineio 4, whose ``poll`` and socket these hooks reproduce and read."""
    return version("python-engineio").startswith("4.")


def install() -> None:
    if supported() and AsyncSocket.poll is _ORIGINAL_POLL:
        AsyncSocket.poll = poll
        AsyncSocket._websocket_handler = websocket_handler


def installed() -> bool:
    return AsyncSocket.poll is poll
