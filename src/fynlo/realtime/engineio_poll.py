"""Engine.IO's per-client wait for the next packet, without a task per packet on Python 3.11.

Each connected client has a writer task that waits for its next packet in
``engineio.async_socket.AsyncSocket.poll`` with ``asyncio.wait_for``. On Python 3.11
``wait_for`` wraps the wait in a new task and a timer handle for every packet, so a
broadcast to 1,000 clients creates 1,000 tasks. Python 3.12 rewrote ``wait_for`` on top of
``asyncio.timeout``, which needs neither; :func:`install` gives 3.11 that same wait. The
method is otherwise python-engineio 4's own: same timeout, same batching of what is already
queued, same end-of-stream marker, same ``QueueEmpty`` on timeout or cancellation
(``tests/realtime/test_engineio_poll.py`` runs both side by side).
"""

from __future__ import annotations

import asyncio
import sys
from importlib.metadata import version
from typing import Any

from engineio import exceptions
from engineio.async_socket import AsyncSocket

_ORIGINAL_POLL = AsyncSocket.poll


async def poll(self: Any) -> list[Any]:
    """Wait for packets to send to the client (python-engineio 4's ``AsyncSocket.poll``)."""
    try:
        async with asyncio.timeout(self.server.ping_interval + self.server.ping_timeout):
            packets = [await self.queue.get()]
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


def needed() -> bool:
    """Python 3.11 (3.12's ``wait_for`` already works this way) with python-engineio 4,
    whose ``poll`` this one reproduces."""
    return sys.version_info < (3, 12) and version("python-engineio").startswith("4.")


def install() -> None:
    if needed() and AsyncSocket.poll is _ORIGINAL_POLL:
        AsyncSocket.poll = poll
