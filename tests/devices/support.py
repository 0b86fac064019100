"""Printers for the device tests: a local TCP server that acts as one, a port that refuses,
and rows built directly where the API is not what is under test."""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import date
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fynlo.db.engine import create_sessionmaker
from fynlo.db.types import utc_now
from fynlo.devices.queue import deliver_due
from fynlo.models import (
    HardwareDevice,
    KitchenTicket,
    Order,
    OutboxEvent,
    PrintJob,
    Restaurant,
    RestaurantSettings,
)

DEVICES = "/api/hardware/devices"
JOBS = "/api/print-jobs"


class PrinterServer:
    """A network printer on 127.0.0.1: collects what each connection sends until it closes."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self._arrived = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> PrinterServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read()
        writer.close()
        async with self._arrived:
            if data:
                self.received.append(data)
            self._arrived.notify_all()

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[bytes]:
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return self.received


class SwitchedOffPrinter:
    """A printer that is switched off: connections are never answered (the listening
    socket's accept queue is full, so the SYN is dropped), and a send runs into its timeout."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port = int(self._listener.getsockname()[1])
        self._filler = socket.create_connection(("127.0.0.1", self.port))

    def __enter__(self) -> SwitchedOffPrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._filler.close()
        self._listener.close()


def refused_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def fields_of(error: dict[str, Any]) -> set[str]:
    return {str(d.get("field")) for d in error.get("details") or [] if isinstance(d, dict)}


async def add_device(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    response = await client.post(DEVICES, json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def add_printer(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    port: int,
    *,
    name: str = "Kitchen printer",
    **config: Any,
) -> dict[str, Any]:
    return await add_device(
        client,
        headers,
        deviceType="printer",
        deviceName=name,
        connectionType="ethernet",
        configuration={"host": "127.0.0.1", "port": port, **config},
    )


async def add_drawer(
    client: httpx.AsyncClient, headers: dict[str, str], printer_id: str, pin: int = 2
) -> dict[str, Any]:
    return await add_device(
        client,
        headers,
        deviceType="cash_drawer",
        deviceName="Till drawer",
        configuration={"printerId": printer_id, "pin": pin},
    )


async def printer_row(
    session: AsyncSession, restaurant: Restaurant, port: int, **config: Any
) -> HardwareDevice:
    device = HardwareDevice(
        restaurant_id=restaurant.id,
        device_type="printer",
        device_name="Printer",
        connection_type="ethernet",
        configuration={"host": "127.0.0.1", "port": port, "columns": 42, **config},
    )
    session.add(device)
    await session.flush()
    return device


async def drawer_row(
    session: AsyncSession, restaurant: Restaurant, printer: HardwareDevice, pin: int = 2
) -> HardwareDevice:
    device = HardwareDevice(
        restaurant_id=restaurant.id,
        device_type="cash_drawer",
        device_name="Till drawer",
        configuration={"printerId": str(printer.id), "pin": pin, "drawer": "main"},
    )
    session.add(device)
    await session.flush()
    return device


async def move_printer(session: AsyncSession, printer: HardwareDevice, port: int) -> None:
    """The printer now answers on ``port`` (committed, as a manager's change would be)."""
    await session.execute(
        update(HardwareDevice)
        .where(HardwareDevice.id == printer.id)
        .values(configuration={**printer.configuration, "port": port})
    )
    await session.commit()


async def deliver(engine: AsyncEngine, **options: Any) -> int:
    """One delivery run, as the background loop does it (a timeout generous for a loaded
    machine: a refused port fails at once whatever it is)."""
    return await deliver_due(
        create_sessionmaker(engine),
        **{"timeout_seconds": 10.0, "max_attempts": 3, "allow_loopback": True, **options},
    )


async def fresh(session: AsyncSession, model: Any, row_id: str | uuid.UUID) -> Any:
    """A row as committed now (the test's session starts a new snapshot)."""
    await session.commit()
    ident = uuid.UUID(str(row_id))
    row = (
        await session.execute(
            select(model).where(model.id == ident).execution_options(populate_existing=True)
        )
    ).scalar_one()
    await session.commit()  # end the read: a later write here must not upgrade a stale one
    return row


async def jobs_of(session: AsyncSession, restaurant: Restaurant) -> list[PrintJob]:
    await session.commit()
    rows = await session.scalars(
        select(PrintJob)
        .where(PrintJob.restaurant_id == restaurant.id)
        .order_by(PrintJob.created_at, PrintJob.id)
        .execution_options(populate_existing=True)
    )
    jobs = list(rows)
    await session.commit()
    return jobs


async def status_events(session: AsyncSession, restaurant: Restaurant) -> list[dict[str, Any]]:
    await session.commit()
    rows = await session.scalars(
        select(OutboxEvent)
        .where(
            OutboxEvent.restaurant_id == restaurant.id,
            OutboxEvent.event_type == "device_status",
        )
        .order_by(OutboxEvent.created_at, OutboxEvent.id)
    )
    payloads = [row.payload for row in rows]
    await session.commit()
    return payloads


async def set_settings(session: AsyncSession, restaurant: Restaurant, **values: Any) -> None:
    await session.execute(
        update(RestaurantSettings)
        .where(RestaurantSettings.restaurant_id == restaurant.id)
        .values(**values)
    )
    await session.commit()


_ticket_numbers = iter(range(900, 100_000))


async def order_row(session: AsyncSession, restaurant: Restaurant) -> Order:
    order = Order(
        restaurant_id=restaurant.id,
        order_number=f"T-{uuid.uuid4().hex[:6]}",
        business_date=date(2025, 6, 17),
        daily_sequence=next(_ticket_numbers),
        table_number="5",
        order_type="dine_in",
        currency="GBP",
        prices_include_vat=True,
    )
    session.add(order)
    await session.flush()
    return order


async def ticket_row(
    session: AsyncSession, restaurant: Restaurant, station: str = "grill", **values: Any
) -> KitchenTicket:
    order = await order_row(session, restaurant)
    ticket = KitchenTicket(
        **{
            "restaurant_id": restaurant.id,
            "order_id": order.id,
            "order_number": order.order_number,
            "station": station,
            "kind": "new",
            "business_date": date(2025, 6, 17),
            "ticket_number": next(_ticket_numbers),
            "items": [
                {
                    "itemId": str(uuid.uuid4()),
                    "name": "Burger",
                    "quantity": 2,
                    "modifiers": ["size: Large"],
                    "notes": "no onions",
                    "course": 1,
                }
            ],
            "table_number": "5",
            "order_type": "dine_in",
            "created_at": utc_now(),
            **values,
        }
    )
    session.add(ticket)
    await session.flush()
    return ticket
