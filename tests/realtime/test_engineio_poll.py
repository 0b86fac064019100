"""Fynlo's Engine.IO ``poll`` behaves as python-engineio's own, case by case."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from engineio import exceptions
from engineio.async_socket import AsyncSocket

from fynlo.realtime import engineio_poll

Poll = Callable[[Any], Awaitable[list[Any]]]
POLLS = pytest.mark.parametrize(
    "poll", [engineio_poll._ORIGINAL_POLL, engineio_poll.poll], ids=["engineio", "fynlo"]
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


def test_installed_on_python_3_11_with_engineio_4() -> None:
    engineio_poll.install()
    expected = engineio_poll.poll if engineio_poll.needed() else engineio_poll._ORIGINAL_POLL
    assert AsyncSocket.poll is expected
