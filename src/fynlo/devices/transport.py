"""Reaching a network printer: raw ESC/POS over TCP (the "JetDirect" port, 9100 by default).

The printer takes whatever bytes arrive on the connection and prints them; there is no
answer to wait for. Everything is bounded by one timeout, so a printer that is switched off
(no answer at all) costs the queue that long and no more.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import time
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class PrinterUnreachable(Exception):
    """The bytes could not be handed to the printer (refused, unreachable, timed out)."""


class AddressRefused(OSError):
    """The printer's address is one this server never sends to (see :func:`address_refusal`)."""


def address_refusal(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why ``address`` cannot be a printer, or None.

    A printer's address is typed in by a restaurant's manager, and the server then opens
    connections to it: it must not become a way to reach what sits next to the server. Never
    a printer: link-local addresses (the cloud metadata service is 169.254.169.254),
    multicast, unspecified and reserved ones. Loopback (the server's own host) only where
    the deployment allows it (development, tests, a print proxy on the same host).
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        if allow_loopback:
            return None
        return f"{address} is this server's own loopback address (FYNLO_PRINTER_ALLOW_LOOPBACK)"
    if address.is_link_local:
        return f"{address} is a link-local address"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if address.is_unspecified:
        return f"{address} is the unspecified address"
    if address.is_reserved:
        return f"{address} is a reserved address"
    return None


async def printer_address(host: str, port: int, *, allow_loopback: bool) -> str:
    """The IP address to connect to: ``host`` resolved once and checked, so that the
    connection goes to the address that was checked (a name cannot resolve to something
    else in between)."""
    try:
        address: IPAddress = ipaddress.ip_address(host)
    except ValueError:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        if not found:
            raise OSError(f"{host} does not resolve") from None
        address = ipaddress.ip_address(str(found[0][4][0]).split("%", 1)[0])
    reason = address_refusal(address, allow_loopback=allow_loopback)
    if reason is not None:
        raise AddressRefused(f"refused: {reason}")
    return str(address)


def describe(exc: BaseException, timeout_seconds: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_seconds:g} s"
    if isinstance(exc, AddressRefused):
        return str(exc)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def send_payload(
    host: str, port: int, payload: bytes, *, timeout_seconds: float, allow_loopback: bool
) -> None:
    """Connect, write ``payload``, wait until it has left, close; raise
    :class:`PrinterUnreachable` with a readable reason on any failure."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout_seconds):
            address = await printer_address(host, port, allow_loopback=allow_loopback)
            _reader, writer = await asyncio.open_connection(address, port)
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


async def probe(host: str, port: int, *, timeout_seconds: float, allow_loopback: bool) -> Probe:
    """Open (and at once close) a TCP connection: is the printer there, and how far."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_seconds):
            address = await printer_address(host, port, allow_loopback=allow_loopback)
            _reader, writer = await asyncio.open_connection(address, port)
    except (OSError, TimeoutError) as exc:
        return Probe(reachable=False, latency_ms=None, error=describe(exc, timeout_seconds))
    latency = (time.perf_counter() - started) * 1000
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(timeout_seconds):
            await writer.wait_closed()
    return Probe(reachable=True, latency_ms=round(latency, 1), error=None)
