"""Reaching a network printer: raw ESC/POS over TCP (the "JetDirect" port, 9100 by default).

The printer takes whatever bytes arrive on the connection and prints them; there is no
answer to wait for. Everything is bounded by one timeout, so a printer that is switched off
(no answer at all) costs the queue that long and no more.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass


class PrinterUnreachable(Exception):
    """The bytes could not be handed to the printer (refused, unreachable, timed out)."""


def describe(exc: BaseException, timeout_seconds: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_seconds:g} s"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def send_payload(host: str, port: int, payload: bytes, *, timeout_seconds: float) -> None:
    """Connect, write ``payload``, wait until it has left, close; raise
    :class:`PrinterUnreachable` with a readable reason on any failure."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout_seconds):
            _reader, writer = await asyncio.open_connection(host, port)
            writer.write(payload)
            await writer.drain()
            writer.close()
            await writer.wait_closed()
    except (OSError, TimeoutError) as exc:
        if writer is not None:
            # Drop the connection at once: a stuck printer must not keep a half-sent job.
            writer.transport.abort()
        raise PrinterUnreachable(f"{host}:{port}: {describe(exc, timeout_seconds)}") from exc


@dataclass(frozen=True)
class Probe:
    reachable: bool
    latency_ms: float | None
    error: str | None


async def probe(host: str, port: int, *, timeout_seconds: float) -> Probe:
    """Open (and at once close) a TCP connection: is the printer there, and how far."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_seconds):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as exc:
        return Probe(reachable=False, latency_ms=None, error=describe(exc, timeout_seconds))
    latency = (time.perf_counter() - started) * 1000
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(timeout_seconds):
            await writer.wait_closed()
    return Probe(reachable=True, latency_ms=round(latency, 1), error=None)
