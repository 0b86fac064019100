"""Waiting for a wake-up with a deadline, in a way a shutdown can always interrupt."""

from __future__ import annotations

import asyncio


async def wait_for_wake(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set, at most ``seconds``; True if it was set.

    Not ``asyncio.wait_for``: on Python 3.11 it returns normally when the task is cancelled
    just as the event is set, losing the cancellation, and a loop built on it then never
    stops (the app's shutdown waits for it forever).
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
