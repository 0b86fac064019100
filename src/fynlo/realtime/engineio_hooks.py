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
client's connection, in order, instead of waking its writer. That reasoning holds for the
engineio code it was checked against, so the hooks are installed only over that code: the
source of ``poll`` and of ``_websocket_handler`` must be one of ``CHECKED_SOURCES``. After an
upgrade that changed either, nothing is installed (broadcasts go python-socketio's way) and
``tests/realtime/test_engineio_hooks.py`` fails until someone has reread the new code.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections.abc import Callable
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


# SHA-256 of the source of AsyncSocket.poll and AsyncSocket._websocket_handler.
CHECKED_SOURCES: dict[str, frozenset[str]] = {
    "poll": frozenset(  # python-engineio 4.15.1
        {"826f58a9f3606db208e5d1266f075ad655b6eeda47b0a5616748624899ca5954"}
    ),
    "_websocket_handler": frozenset(  # python-engineio 4.15.1
        {"27f120df4d717a24478b7b0f7389ce19eea8a881dd07e2c81fb1cf2493e006a5"}
    ),
}


def _source_digest(function: Callable[..., Any]) -> str | None:
    try:
        return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()
    except (OSError, TypeError):
        return None


def supported() -> bool:
    """The python-engineio code these hooks were checked against is the one installed."""
    return (
        _source_digest(_ORIGINAL_POLL) in CHECKED_SOURCES["poll"]
        and _source_digest(_ORIGINAL_WEBSOCKET_HANDLER) in CHECKED_SOURCES["_websocket_handler"]
    )


def install() -> None:
    if AsyncSocket.poll is _ORIGINAL_POLL and supported():
        AsyncSocket.poll = poll
        AsyncSocket._websocket_handler = websocket_handler


def installed() -> bool:
    return AsyncSocket.poll is poll
