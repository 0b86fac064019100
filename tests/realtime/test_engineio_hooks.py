"""Fynlo's Engine.IO ``poll`` behaves as python-engineio's own, case by case, and the hooks
say when a client's writer waits and which WebSocket a socket has."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from engineio import exceptions
from engineio.async_socket import AsyncSocket

from fynlo.realtime import engineio_hooks

Poll = Callable[[Any], Awaitable[list[Any]]]
POLLS = pytest.mark.parametrize(
    "poll", [engineio_hooks._ORIGINAL_POLL, engineio_hooks.poll], ids=["engineio", "fynlo"]
)


def _socket(*queued: object, wait: float = 0.05) -> Any:
    queue: asyncio.Queue[object] = asyncio.Queue()
    for item in queued:
        queue.put_nowait(item)
    return SimpleNamespace(queue=queue, server=SimpleNamespace(ping_interval=wait, ping_timeout=0))


@POLLS
async def test_what_is_queued_comes_out_in_one_batch_up_to_the_end_marker(poll: Poll) -> None:
    socket = _socket("a", "b", None)

    assert await poll(socket) == ["a", "b"]
    assert await poll(socket) == []  # the end marker was kept for the next poll
    assert socket.queue.empty()


@POLLS
async def test_a_packet_that_arrives_while_waiting_is_returned(poll: Poll) -> None:
    socket = _socket(wait=5)
    asyncio.get_running_loop().call_later(0.01, socket.queue.put_nowait, "late")

    assert await poll(socket) == ["late"]


@POLLS
async def test_nothing_before_the_ping_timeout_is_queue_empty(poll: Poll) -> None:
    with pytest.raises(exceptions.QueueEmpty):
        await poll(_socket(wait=0.02))


@POLLS
async def test_a_cancelled_wait_is_queue_empty(poll: Poll) -> None:
    waiting = asyncio.ensure_future(poll(_socket(wait=5)))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(exceptions.QueueEmpty):
        await waiting


async def test_the_socket_is_marked_waiting_only_while_its_writer_waits() -> None:
    socket = _socket(wait=5)
    waiting = asyncio.ensure_future(engineio_hooks.poll(socket))
    await asyncio.sleep(0.01)
    assert socket.fynlo_waiting is True
    socket.queue.put_nowait("packet")
    # Queued but not yet taken: the queue is not empty, so nothing may be written past it.
    assert socket.fynlo_waiting is True
    assert not socket.queue.empty()

    assert await waiting == ["packet"]
    assert socket.fynlo_waiting is False


@pytest.mark.parametrize("ending", ["timeout", "cancel"])
async def test_a_wait_that_ends_without_a_packet_is_no_longer_marked(ending: str) -> None:
    socket = _socket(wait=0.02 if ending == "timeout" else 5)
    waiting = asyncio.ensure_future(engineio_hooks.poll(socket))
    await asyncio.sleep(0.01)
    if ending == "cancel":
        waiting.cancel()
    with pytest.raises(exceptions.QueueEmpty):
        await waiting
    assert socket.fynlo_waiting is False


async def test_the_socket_knows_its_websocket_while_the_handler_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[object] = []

    async def handler(socket: Any, ws: object) -> str:
        seen.append(socket.fynlo_websocket)
        return "done"

    monkeypatch.setattr(engineio_hooks, "_ORIGINAL_WEBSOCKET_HANDLER", handler)
    socket, ws = SimpleNamespace(), object()

    assert await engineio_hooks.websocket_handler(socket, ws) == "done"
    assert seen == [ws]
    assert socket.fynlo_websocket is None


def test_installed_over_the_engineio_code_it_was_checked_against() -> None:
    """Fails after an upgrade of python-engineio that changed ``poll`` or
    ``_websocket_handler``: reread them, then add their digests to ``CHECKED_SOURCES``."""
    engineio_hooks.install()
    assert engineio_hooks.supported()
    assert AsyncSocket.poll is engineio_hooks.poll
    assert AsyncSocket._websocket_handler is engineio_hooks.websocket_handler


async def _changed_poll(self: Any) -> list[Any]:
    return []


def test_not_supported_over_engineio_code_it_was_not_checked_against(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engineio_hooks, "_ORIGINAL_POLL", _changed_poll)
    assert not engineio_hooks.supported()
    monkeypatch.setattr(AsyncSocket, "poll", _changed_poll)
    monkeypatch.setattr(AsyncSocket, "_websocket_handler", "the original")

    engineio_hooks.install()

    assert AsyncSocket.poll is _changed_poll
    assert AsyncSocket._websocket_handler == "the original"
