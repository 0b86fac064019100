"""The print queue against real sockets: a local TCP server acting as a network printer, a
port that refuses, retries, reprints, drawer kicks on cash and receipts."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fynlo.config import Settings
from fynlo.db.engine import create_sessionmaker
from fynlo.db.types import utc_now
from fynlo.devices.escpos import drawer_kick, render_kitchen_ticket
from fynlo.devices.queue import (
    PrintDeliverer,
    add_job,
    queue_drawer_kick,
    queue_ticket_prints,
)
from fynlo.devices.transport import probe
from fynlo.models import AuditLog, HardwareDevice, KitchenTicket, PrintJob, Restaurant
from tests.devices.escpos_text import printed_text
from tests.devices.support import (
    DEVICES,
    JOBS,
    PrinterServer,
    SwitchedOffPrinter,
    add_device,
    add_drawer,
    add_printer,
    deliver,
    drawer_row,
    error_of,
    fields_of,
    fresh,
    jobs_of,
    move_printer,
    printer_row,
    refused_port,
    set_settings,
    status_events,
    ticket_row,
)
from tests.orders.factories import product
from tests.payments.support import Till
from tests.world import World, login


async def manager(client: httpx.AsyncClient, world: World) -> dict[str, str]:
    return await login(client, world.users["manager"])


# --------------------------------------------------------------------------- tickets


async def test_a_ticket_arrives_at_the_printer_byte_for_byte(
    session: AsyncSession, engine: AsyncEngine, world: World
) -> None:
    async with PrinterServer() as server:
        printer = await printer_row(session, world.a1, server.port, stations=["grill"], columns=48)
        ticket = await ticket_row(session, world.a1, "grill")
        jobs = await queue_ticket_prints(session, world.a1, [ticket], actor_id=None)
        await session.commit()
        assert [(j.kind, j.device_id, j.source_id, j.status) for j in jobs] == [
            ("kitchen_ticket", printer.id, ticket.id, "queued")
        ]

        assert await deliver(engine) == 1
        (received,) = await server.wait_for(1)

    expected = render_kitchen_ticket(
        ticket, columns=48, restaurant_name=world.a1.name, timezone=world.a1.timezone
    )
    assert received == expected
    assert "2 x Burger" in printed_text(received)

    job = await fresh(session, PrintJob, jobs[0].id)
    assert job.status == "printed"
    assert job.attempts == 1
    assert job.printed_at is not None
    device = await fresh(session, HardwareDevice, printer.id)
    assert device.status == "online"
    assert device.last_seen is not None
    assert device.last_error is None
    printed = await fresh(session, KitchenTicket, ticket.id)
    assert printed.print_count == 1
    assert printed.last_printed_at == job.printed_at
    events = await status_events(session, world.a1)
    assert [(e["previousStatus"], e["status"]) for e in events] == [("offline", "online")]
    # Nothing left to send.
    assert await deliver(engine) == 0


async def test_a_printer_that_refuses_leaves_the_job_queued_and_the_device_in_error(
    session: AsyncSession, engine: AsyncEngine, world: World
) -> None:
    port = refused_port()
    printer = await printer_row(session, world.a1, port, stations=["grill"])
    first = await ticket_row(session, world.a1, "grill")
    second = await ticket_row(session, world.a1, "grill")
    jobs = await queue_ticket_prints(session, world.a1, [first, second], actor_id=None)
    await session.commit()
    before = utc_now()

    assert await deliver(engine) == 0

    rows = await jobs_of(session, world.a1)
    assert [j.status for j in rows] == ["queued", "queued"]
    assert [j.attempts for j in rows] == [1, 1]  # the second failed with the first, unsent
    for job in rows:
        assert job.next_attempt_at is not None
        assert job.next_attempt_at > before
        assert job.last_error is not None
        assert f"127.0.0.1:{port}" in job.last_error
        assert job.payload  # kept for the next attempt
    device = await fresh(session, HardwareDevice, printer.id)
    assert device.status == "error"
    assert device.last_error == rows[0].last_error
    assert device.last_seen is None
    events = await status_events(session, world.a1)
    assert [(e["previousStatus"], e["status"]) for e in events] == [("offline", "error")]
    assert events[0]["lastError"] == rows[0].last_error
    ticket = await fresh(session, KitchenTicket, first.id)
    assert ticket.print_count == 0

    # Not due yet: a second run right away sends nothing and counts nothing.
    assert await deliver(engine) == 0
    assert [j.attempts for j in await jobs_of(session, world.a1)] == [1, 1]

    # The printer comes back (moved to a working address and reported online): the backlog
    # goes at once, in the order it was queued.
    async with PrinterServer() as server:
        await move_printer(session, printer, server.port)
        assert await deliver(engine) == 0  # still waiting out its backoff
        async with asyncio.timeout(15):
            await _heartbeat_online(engine, printer.id)
        assert await deliver(engine) == 2
        received = await server.wait_for(2)
    assert [
        b"#" + str(t.ticket_number).encode() in data
        for t, data in zip([first, second], received, strict=True)
    ] == [True, True]
    rows = await jobs_of(session, world.a1)
    assert [(j.status, j.attempts) for j in rows] == [("printed", 2), ("printed", 2)]
    assert {j.id for j in rows} == {j.id for j in jobs}


async def test_loopback_printers_are_refused_where_the_deployment_does_not_allow_them(
    session: AsyncSession, engine: AsyncEngine, world: World
) -> None:
    """A printer at the server's own host (by address or by a name that resolves there)
    gets nothing unless allowed: its job stays queued with the reason, nothing arrives."""
    async with PrinterServer() as server:
        by_address = await printer_row(session, world.a1, server.port, stations=["grill"])
        by_name = await printer_row(
            session, world.a1, server.port, stations=["cold"], host="localhost"
        )
        tickets = [
            await ticket_row(session, world.a1, "grill"),
            await ticket_row(session, world.a1, "cold"),
        ]
        await queue_ticket_prints(session, world.a1, tickets, actor_id=None)
        await session.commit()

        assert await deliver(engine, allow_loopback=False) == 0
        await asyncio.sleep(0.2)
        assert server.received == []

        rows = await jobs_of(session, world.a1)
        assert [(j.status, j.attempts) for j in rows] == [("queued", 1), ("queued", 1)]
        for job in rows:
            assert job.last_error is not None
            assert "loopback address (FYNLO_PRINTER_ALLOW_LOOPBACK)" in job.last_error, job
        for printer in (by_address, by_name):
            assert (await fresh(session, HardwareDevice, printer.id)).status == "error"

        found = await probe("localhost", server.port, timeout_seconds=5, allow_loopback=False)
        assert (found.reachable, found.latency_ms) == (False, None)
        assert found.error is not None
        assert "loopback" in found.error
        allowed = await probe("127.0.0.1", server.port, timeout_seconds=5, allow_loopback=True)
        assert allowed.reachable is True


async def test_a_job_queued_behind_a_backlog_waits_for_it(
    session: AsyncSession, engine: AsyncEngine, world: World
) -> None:
    """A ticket queued while its printer's older tickets wait out a retry delay is not sent
    ahead of them: when the printer is back they print in the order they were queued."""
    printer = await printer_row(session, world.a1, refused_port(), stations=["grill"])
    first = await ticket_row(session, world.a1, "grill")
    await queue_ticket_prints(session, world.a1, [first], actor_id=None)
    await session.commit()
    assert await deliver(engine) == 0  # refused: the first ticket backs off

    async with PrinterServer() as server:
        await move_printer(session, printer, server.port)  # back, at a new address
        second = await ticket_row(session, world.a1, "grill")
        await queue_ticket_prints(session, world.a1, [second], actor_id=None)
        await session.commit()
        assert await deliver(engine) == 0  # held behind the first
        held, waiting = sorted(await jobs_of(session, world.a1), key=lambda j: j.created_at)[::-1]
        assert (held.status, held.attempts) == ("queued", 0)
        assert held.next_attempt_at == waiting.next_attempt_at
        assert server.received == []

        # A test page is not held: it goes at once, and its success releases the backlog,
        # which follows in the order it was queued.
        add_job(session, printer, "test", b"TEST PAGE", source_id=None, actor_id=None)
        await session.commit()
        assert await deliver(engine) == 3
        received = await server.wait_for(3)
    assert received[0] == b"TEST PAGE"
    assert [
        b"#" + str(t.ticket_number).encode() in data
        for t, data in zip([first, second], received[1:], strict=True)
    ] == [True, True]


async def test_a_round_that_outlives_its_lease_sends_nothing_twice(
    session: AsyncSession, engine: AsyncEngine, world: World
) -> None:
    """One deliverer is stuck on a switched-off printer while the lease on the rest of its
    batch runs out; another deliverer takes and prints them. The first then sends nothing
    it no longer holds: one ticket, one drawer kick."""
    with SwitchedOffPrinter() as off:
        async with PrinterServer() as till_printer:
            await printer_row(session, world.a1, off.port, stations=["bar"])
            bar = await ticket_row(session, world.a1, "bar")
            await queue_ticket_prints(session, world.a1, [bar], actor_id=None)
            await session.commit()  # the oldest job: the first round sends it first
            till = await printer_row(session, world.a1, till_printer.port, stations=["grill"])
            await drawer_row(session, world.a1, till)
            grill = await ticket_row(session, world.a1, "grill")
            await queue_ticket_prints(session, world.a1, [grill], actor_id=None)
            await queue_drawer_kick(session, world.a1.id, "main", actor_id=None)
            await session.commit()

            first = asyncio.create_task(deliver(engine, timeout_seconds=3.0))
            async with asyncio.timeout(10):
                while not await _printing(session, world.a1, 3):
                    await asyncio.sleep(0.02)
            # The first round's lease runs out (as if its sends had taken minutes).
            await session.execute(
                update(PrintJob)
                .where(PrintJob.restaurant_id == world.a1.id, PrintJob.status == "printing")
                .values(next_attempt_at=utc_now() - timedelta(seconds=1))
            )
            await session.commit()
            assert await deliver(engine, timeout_seconds=1.0) == 2  # the till's two jobs
            assert await first == 0  # the bar printer timed out; the rest was not its own
            received = await till_printer.wait_for(2)
            await asyncio.sleep(0.3)

    assert len(received) == 2
    assert received.count(drawer_kick(2)) == 1  # the drawer opened once
    assert "GRILL" in printed_text(next(r for r in received if r != drawer_kick(2))).upper()
    till_jobs = [j for j in await jobs_of(session, world.a1) if j.device_id == till.id]
    assert sorted((j.kind, j.status, j.attempts) for j in till_jobs) == [
        ("drawer_kick", "printed", 1),
        ("kitchen_ticket", "printed", 1),
    ]
    assert (await fresh(session, KitchenTicket, grill.id)).print_count == 1


async def test_jobs_cancelled_while_a_round_is_sending_are_not_sent(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine, world: World
) -> None:
    headers = await manager(client, world)
    with SwitchedOffPrinter() as off:
        async with PrinterServer() as removed_printer:
            await printer_row(session, world.a1, off.port, stations=["bar"])
            await queue_ticket_prints(
                session, world.a1, [await ticket_row(session, world.a1, "bar")], actor_id=None
            )
            await session.commit()
            printer = await add_printer(client, headers, removed_printer.port, stations=["grill"])
            tickets = [await ticket_row(session, world.a1, "grill") for _ in range(2)]
            await queue_ticket_prints(session, world.a1, tickets, actor_id=None)
            await session.commit()

            sending = asyncio.create_task(deliver(engine, timeout_seconds=2.0))
            async with asyncio.timeout(10):
                while not await _printing(session, world.a1, 3):
                    await asyncio.sleep(0.02)
            # While the round waits on the bar printer, the grill printer is removed.
            response = await client.delete(f"{DEVICES}/{printer['id']}", headers=headers)
            assert response.status_code == 200, response.text
            assert await sending == 0
            await asyncio.sleep(0.3)
            assert removed_printer.received == []

    statuses = [
        j.status for j in await jobs_of(session, world.a1) if str(j.device_id) == printer["id"]
    ]
    assert statuses == ["cancelled", "cancelled"]


async def _printing(session: AsyncSession, restaurant: Restaurant, count: int) -> bool:
    """``count`` jobs claimed by a round (committed)."""
    await session.commit()
    claimed = await session.scalar(
        select(func.count())
        .select_from(PrintJob)
        .where(PrintJob.restaurant_id == restaurant.id, PrintJob.status == "printing")
    )
    # End the read: on SQLite a transaction that has read and then writes can deadlock with
    # a round's write, and fails at once with "database is locked" (seen on a loaded CI run).
    await session.commit()
    return claimed == count


async def _heartbeat_online(engine: AsyncEngine, device_id: uuid.UUID) -> None:
    """What ``POST .../heartbeat`` does, without a client: the service is under test there."""
    from fynlo.devices import queue

    async with create_sessionmaker(engine)() as session, session.begin():
        device = await session.get(HardwareDevice, device_id)
        assert device is not None
        now = utc_now()
        queue.set_device_status(session, device, "online", None, now=now, seen=True)
        await queue.release_backlog(session, device_id, now)


async def test_after_the_last_attempt_a_job_fails_and_is_kept_for_reprint(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine, world: World
) -> None:
    printer = await printer_row(session, world.a1, refused_port(), stations=["*"])
    ticket = await ticket_row(session, world.a1, "dessert")
    (job,) = await queue_ticket_prints(session, world.a1, [ticket], actor_id=None)
    await session.commit()
    for attempt in range(1, 4):
        await session.execute(
            update(PrintJob).where(PrintJob.id == job.id).values(next_attempt_at=utc_now())
        )
        await session.commit()
        await deliver(engine, max_attempts=3)
        row = await fresh(session, PrintJob, job.id)
        assert row.attempts == attempt
    assert row.status == "failed"
    assert row.next_attempt_at is None
    assert await deliver(engine, max_attempts=3) == 0

    # Kitchen staff reprint it (kots.manage); a cashier may not.
    cashier = await login(client, world.users["cashier"])
    refused = await client.post(f"{JOBS}/{job.id}/reprint", headers=cashier)
    assert error_of(refused, 403, "permission_denied")["details"]["permission"] == "kots.manage"
    kitchen = await login(client, world.users["kitchen_staff"])
    async with PrinterServer() as server:
        await move_printer(session, printer, server.port)
        response = await client.post(f"{JOBS}/{job.id}/reprint", headers=kitchen)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert data["id"] == str(job.id)  # the same job, queued again
        assert (data["status"], data["attempts"], data["lastError"]) == ("queued", 0, None)
        pending = await client.post(f"{JOBS}/{job.id}/reprint", headers=kitchen)
        error_of(pending, 409, "print_job_pending")
        assert await deliver(engine) == 1
        (received,) = await server.wait_for(1)
        assert received == row.payload  # it never printed: not a reprint for the kitchen
        assert "REPRINT" not in printed_text(received)

        # A printed job is copied into a new one (the first keeps its history), and a
        # kitchen ticket printed again says so, so the kitchen does not cook it twice.
        again = await client.post(f"{JOBS}/{job.id}/reprint", headers=kitchen)
        assert again.status_code == 200, again.text
        assert again.json()["data"]["id"] != str(job.id)
        assert again.json()["data"]["sourceId"] == str(ticket.id)
        assert await deliver(engine) == 1
        second = (await server.wait_for(2))[1]
    assert second == render_kitchen_ticket(
        ticket,
        columns=42,
        restaurant_name=world.a1.name,
        timezone=world.a1.timezone,
        reprint=True,
    )
    printed = await fresh(session, KitchenTicket, ticket.id)
    assert printed.print_count == 2
    audit = (
        await session.scalars(
            select(AuditLog.action).where(AuditLog.action == "print_job.reprinted")
        )
    ).all()
    assert len(audit) == 2


async def test_confirming_an_order_prints_its_grill_ticket_on_the_grill_printer(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine, world: World
) -> None:
    burger = await product(session, world.a1, name="Burger", kitchen_station="grill")
    salad = await product(session, world.a1, name="Salad", kitchen_station="cold")
    await session.commit()
    headers = await manager(client, world)
    waiter = await login(client, world.users["waiter"])
    async with PrinterServer() as grill, PrinterServer() as other:
        grill_printer = await add_printer(client, headers, grill.port, stations=["grill"])
        await add_printer(client, headers, other.port, name="Pass", stations=["pass"])
        created = await client.post(
            "/api/orders",
            headers=waiter,
            json={
                "orderType": "dine_in",
                "items": [
                    {"productId": str(burger.id), "quantity": 2, "notes": "no onions"},
                    {"productId": str(salad.id), "quantity": 1},
                ],
            },
        )
        assert created.status_code == 201, created.text
        order_id = created.json()["data"]["id"]
        assert await jobs_of(session, world.a1) == []  # nothing until the kitchen has it

        confirmed = await client.patch(
            f"/api/orders/{order_id}/status", headers=waiter, json={"status": "confirmed"}
        )
        assert confirmed.status_code == 200, confirmed.text
        await session.commit()
        ticket = (
            await session.scalars(
                select(KitchenTicket).where(
                    KitchenTicket.order_id == uuid.UUID(order_id), KitchenTicket.station == "grill"
                )
            )
        ).one()
        (job,) = await jobs_of(session, world.a1)  # the cold ticket has no printer
        assert (job.kind, job.device_id, job.source_id, job.created_by) == (
            "kitchen_ticket",
            uuid.UUID(grill_printer["id"]),
            ticket.id,
            world.users["waiter"].id,
        )

        assert await deliver(engine) == 1
        (received,) = await grill.wait_for(1)
        assert other.received == []
    assert received == render_kitchen_ticket(
        ticket, columns=42, restaurant_name=world.a1.name, timezone=world.a1.timezone
    )
    text = printed_text(received)
    assert "2 x Burger" in text
    assert "! no onions" in text
    assert "Salad" not in text
    assert (await fresh(session, KitchenTicket, ticket.id)).print_count == 1


async def test_tickets_go_to_the_printers_of_their_station(
    session: AsyncSession, world: World
) -> None:
    grill = await printer_row(session, world.a1, 9100, stations=["grill", "fryer"])
    both = await printer_row(session, world.a1, 9101, stations=["grill"], columns=48)
    anything = await printer_row(session, world.a1, 9102, stations=["*"])
    await printer_row(session, world.a1, 9103, stations=[])  # receipts only
    off = await printer_row(session, world.a1, 9104, stations=["grill"])
    off.is_active = False
    usb = await printer_row(session, world.a1, 9105, stations=["grill"])
    usb.connection_type = "usb"
    theirs = await printer_row(session, world.b, 9106, stations=["grill", "*"])
    tickets = [
        await ticket_row(session, world.a1, "grill"),
        await ticket_row(session, world.a1, "bar"),
    ]
    jobs = await queue_ticket_prints(session, world.a1, tickets, actor_id=world.users["manager"].id)
    assert [(j.source_id, j.device_id) for j in jobs] == [
        (tickets[0].id, grill.id),
        (tickets[0].id, both.id),
        (tickets[1].id, anything.id),  # nobody names "bar": the catch-all prints it
    ]
    assert all(j.created_by == world.users["manager"].id for j in jobs)
    assert theirs.id not in {j.device_id for j in jobs}
    # Each printer's ticket is laid out for its width.
    assert jobs[1].payload == render_kitchen_ticket(
        tickets[0], columns=48, restaurant_name=world.a1.name, timezone=world.a1.timezone
    )
    await session.commit()

    # No printer for a station at all is not an error.
    anything.configuration = {**anything.configuration, "stations": []}
    assert await queue_ticket_prints(session, world.a1, [tickets[1]], actor_id=None) == []
    assert await queue_ticket_prints(session, world.a1, [], actor_id=None) == []
    await session.commit()


async def test_auto_print_can_be_switched_off_but_reprints_still_print(
    session: AsyncSession, world: World
) -> None:
    await printer_row(session, world.a1, 9100, stations=["grill"])
    ticket = await ticket_row(session, world.a1, "grill")
    await session.commit()
    await set_settings(session, world.a1, kitchen_settings={"autoPrintTickets": False})
    assert await queue_ticket_prints(session, world.a1, [ticket], actor_id=None) == []
    (job,) = await queue_ticket_prints(session, world.a1, [ticket], actor_id=None, reprint=True)
    assert "** REPRINT **" in printed_text(job.payload)
    await session.commit()


async def test_a_commit_that_queues_jobs_wakes_the_background_deliverer(
    session: AsyncSession, engine: AsyncEngine, settings: Settings, world: World
) -> None:
    slow_poll = settings.model_copy(update={"print_poll_seconds": 60.0})
    deliverer = PrintDeliverer(create_sessionmaker(engine), slow_poll)
    async with PrinterServer() as server:
        await printer_row(session, world.a1, server.port, stations=["grill"])
        ticket = await ticket_row(session, world.a1, "grill")
        await session.commit()
        task = asyncio.create_task(deliverer.run())
        try:
            await asyncio.sleep(0.2)  # its first (empty) round is done; it waits 60 s now
            async with create_sessionmaker(engine)() as other:
                restaurant = await other.get(Restaurant, world.a1.id)
                assert restaurant is not None
                await queue_ticket_prints(other, restaurant, [ticket], actor_id=None)
                await other.rollback()  # a rolled-back ticket prints nothing...
            await asyncio.sleep(0.3)
            assert server.received == []
            await queue_ticket_prints(session, world.a1, [ticket], actor_id=None)
            await session.commit()  # ...a committed one at once, not after the poll
            await server.wait_for(1, timeout=15)
            async with asyncio.timeout(15):
                while [j.status for j in await jobs_of(session, world.a1)] != ["printed"]:
                    await asyncio.sleep(0.05)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


async def test_a_job_left_printing_by_a_dead_deliverer_is_sent_again(
    session: AsyncSession, engine: AsyncEngine, world: World
) -> None:
    async with PrinterServer() as server:
        await printer_row(session, world.a1, server.port, stations=["grill"])
        ticket = await ticket_row(session, world.a1, "grill")
        (job,) = await queue_ticket_prints(session, world.a1, [ticket], actor_id=None)
        job.status = "printing"
        job.next_attempt_at = utc_now() + timedelta(minutes=1)  # its lease
        await session.commit()
        assert await deliver(engine) == 0
        await session.execute(
            update(PrintJob)
            .where(PrintJob.id == job.id)
            .values(next_attempt_at=utc_now() - timedelta(seconds=1))
        )
        await session.commit()
        assert await deliver(engine) == 1
        await server.wait_for(1)


async def test_a_job_whose_printer_left_the_network_fails_without_a_send(
    session: AsyncSession, engine: AsyncEngine, world: World
) -> None:
    printer = await printer_row(session, world.a1, refused_port(), stations=["grill"])
    ticket = await ticket_row(session, world.a1, "grill")
    (job,) = await queue_ticket_prints(session, world.a1, [ticket], actor_id=None)
    printer.connection_type = "usb"
    await session.commit()
    assert await deliver(engine) == 0
    row = await fresh(session, PrintJob, job.id)
    assert (row.status, row.attempts) == ("failed", 0)
    assert row.last_error == "the device is no longer an active network printer"


# --------------------------------------------------------------------------- cash drawer


async def test_a_cash_payment_kicks_the_drawer(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine, world: World
) -> None:
    headers = await manager(client, world)
    async with PrinterServer() as server:
        printer = await add_printer(client, headers, server.port)
        drawer = await add_drawer(client, headers, printer["id"], pin=5)
        till = await Till.build(client, session, world, role="cashier")
        order = await till.order(quantity=2)
        await till.cash(order["id"], 25.00, 30.00)

        (job,) = await jobs_of(session, world.a1)
        assert (job.kind, job.device_id, job.source_id) == (
            "drawer_kick",
            uuid.UUID(printer["id"]),
            uuid.UUID(drawer["id"]),
        )
        assert job.created_by == world.users["cashier"].id
        assert job.payload == drawer_kick(5)
        assert await deliver(engine) == 1
        assert await server.wait_for(1) == [b"\x1bp\x01\x32\x32"]


async def test_a_cash_sale_opens_only_the_drawer_it_went_into(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine, world: World
) -> None:
    headers = await manager(client, world)
    async with PrinterServer() as front, PrinterServer() as bar:
        front_printer = await add_printer(client, headers, front.port, name="Front")
        bar_printer = await add_printer(client, headers, bar.port, name="Bar")
        await add_drawer(client, headers, front_printer["id"])  # "main" by default
        bar_drawer = await add_device(
            client,
            headers,
            deviceType="cash_drawer",
            deviceName="Bar drawer",
            configuration={"printerId": bar_printer["id"], "pin": 5, "drawer": "bar"},
        )
        till = await Till.build(client, session, world, role="cashier")
        order = await till.order(quantity=1)
        await till.cash(order["id"], 12.50, 20.00, drawer="bar")

        (job,) = await jobs_of(session, world.a1)
        assert (job.device_id, job.source_id) == (
            uuid.UUID(bar_printer["id"]),
            uuid.UUID(bar_drawer["id"]),
        )
        assert await deliver(engine) == 1
        assert await bar.wait_for(1) == [drawer_kick(5)]
        assert front.received == []


async def test_a_drawer_kick_that_could_not_go_out_in_time_is_never_sent_later(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine, world: World
) -> None:
    headers = await manager(client, world)
    async with PrinterServer() as server:
        printer = await add_printer(client, headers, server.port)
        drawer = await add_drawer(client, headers, printer["id"])
        kicked = await client.post(f"{DEVICES}/{drawer['id']}/open-drawer", headers=headers)
        assert kicked.status_code == 201, kicked.text
        job_id = uuid.UUID(kicked.json()["data"]["id"])
        # The printer (or the sender) was down for two minutes: the sale is long over.
        await session.execute(
            update(PrintJob)
            .where(PrintJob.id == job_id)
            .values(created_at=utc_now() - timedelta(minutes=2))
        )
        await session.commit()
        assert await deliver(engine) == 0
        row = await fresh(session, PrintJob, job_id)
        assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 0, None)
        assert row.last_error is not None
        assert "not sent later" in row.last_error

        # Opening it on purpose still works: a reprint is a new kick, sent now.
        again = await client.post(f"{JOBS}/{job_id}/reprint", headers=headers)
        assert again.status_code == 200, again.text
        assert again.json()["data"]["id"] != str(job_id)
        assert await deliver(engine) == 1
        assert await server.wait_for(1) == [drawer_kick(2)]


async def test_no_kick_without_a_drawer_or_when_switched_off(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await manager(client, world)
    till = await Till.build(client, session, world, role="cashier")
    printer = await add_printer(client, headers, 9100)

    order = await till.order(quantity=1)
    await till.cash(order["id"], 12.50, 20.00)  # a printer but no drawer
    assert await jobs_of(session, world.a1) == []

    await add_drawer(client, headers, printer["id"])
    await set_settings(session, world.a1, hardware_settings={"kickDrawerOnCash": False})
    order = await till.order(quantity=1)
    await till.cash(order["id"], 12.50, 12.50)
    assert await jobs_of(session, world.a1) == []

    await set_settings(session, world.a1, hardware_settings={"kickDrawerOnCash": "yes"})
    order = await till.order(quantity=1)
    await till.cash(order["id"], 12.50, 12.50)  # a malformed setting keeps the default
    assert [j.kind for j in await jobs_of(session, world.a1)] == ["drawer_kick"]


async def test_queue_drawer_kick_skips_drawers_without_a_usable_printer(
    session: AsyncSession, world: World
) -> None:
    printer = await printer_row(session, world.a1, 9100)
    for config in ({"printerId": str(printer.id), "pin": 2}, {"printerId": str(uuid.uuid4())}):
        session.add(
            HardwareDevice(
                restaurant_id=world.a1.id,
                device_type="cash_drawer",
                device_name="Drawer",
                configuration=config,
            )
        )
    await session.flush()
    jobs = await queue_drawer_kick(session, world.a1.id, "main", actor_id=None)
    assert [(j.device_id, j.payload) for j in jobs] == [(printer.id, drawer_kick(2))]
    assert await queue_drawer_kick(session, world.a1.id, "bar", actor_id=None) == []
    assert await queue_drawer_kick(session, world.b.id, "main", actor_id=None) == []
    await session.commit()


async def test_open_drawer_endpoint(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine, world: World
) -> None:
    headers = await manager(client, world)
    async with PrinterServer() as server:
        printer = await add_printer(client, headers, server.port)
        drawer = await add_drawer(client, headers, printer["id"])
        cashier = await login(client, world.users["cashier"])
        url = f"{DEVICES}/{drawer['id']}/open-drawer"
        response = await client.post(url, headers={**cashier, "Idempotency-Key": "kick-1"})
        assert response.status_code == 201, response.text
        data = response.json()["data"]
        assert (data["kind"], data["deviceId"], data["sourceId"], data["size"]) == (
            "drawer_kick",
            printer["id"],
            drawer["id"],
            5,
        )
        replay = await client.post(url, headers={**cashier, "Idempotency-Key": "kick-1"})
        assert replay.json()["data"]["id"] == data["id"]  # a retried request kicks once
        assert await deliver(engine) == 1
        assert await server.wait_for(1) == [drawer_kick(2)]

    await session.commit()
    audit = (
        await session.scalars(select(AuditLog).where(AuditLog.action == "cash_drawer.opened"))
    ).all()
    assert [(a.user_id, a.resource_id) for a in audit] == [
        (world.users["cashier"].id, drawer["id"])
    ]
    await session.commit()

    error_of(
        await client.post(f"{DEVICES}/{printer['id']}/open-drawer", headers=headers),
        409,
        "not_a_cash_drawer",
    )
    for role in ("waiter", "kitchen_staff", "employee"):
        refused = await client.post(url, headers=await login(client, world.users[role]))
        assert (
            error_of(refused, 403, "permission_denied")["details"]["permission"]
            == "cash_drawer.manage"
        )
    # The printer it hangs off is gone.
    await session.execute(
        update(HardwareDevice)
        .where(HardwareDevice.id == uuid.UUID(printer["id"]))
        .values(is_active=False)
    )
    await session.commit()
    error_of(await client.post(url, headers=cashier), 409, "drawer_printer_unavailable")


async def test_a_kick_follows_the_drawer_as_it_is_now(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine, world: World
) -> None:
    """Reprinting a kick opens the drawer where it now hangs (printer and pin), audited as
    an opening; a removed drawer is neither reprinted nor kicked by what it had queued."""
    headers = await manager(client, world)
    async with PrinterServer() as front, PrinterServer() as bar:
        front_printer = await add_printer(client, headers, front.port, name="Front")
        bar_printer = await add_printer(client, headers, bar.port, name="Bar")
        drawer = await add_drawer(client, headers, front_printer["id"], pin=5)
        kicked = await client.post(f"{DEVICES}/{drawer['id']}/open-drawer", headers=headers)
        assert kicked.status_code == 201, kicked.text
        first = kicked.json()["data"]["id"]
        assert await deliver(engine) == 1
        assert await front.wait_for(1) == [drawer_kick(5)]

        moved = await client.put(
            f"{DEVICES}/{drawer['id']}",
            json={"version": drawer["version"], "configuration": {"printerId": bar_printer["id"]}},
            headers=headers,
        )
        assert moved.status_code == 200, moved.text
        again = await client.post(f"{JOBS}/{first}/reprint", headers=headers)
        assert again.status_code == 200, again.text
        data = again.json()["data"]
        assert (data["kind"], data["deviceId"], data["sourceId"]) == (
            "drawer_kick",
            bar_printer["id"],
            drawer["id"],
        )
        assert await deliver(engine) == 1
        assert await bar.wait_for(1) == [drawer_kick(2)]  # the pin it has now
        assert len(front.received) == 1

        # A kick still queued when the drawer is removed is cancelled with it.
        queued = await client.post(f"{DEVICES}/{drawer['id']}/open-drawer", headers=headers)
        assert queued.status_code == 201, queued.text
        removed = await client.delete(f"{DEVICES}/{drawer['id']}", headers=headers)
        assert removed.status_code == 200, removed.text
        assert await deliver(engine) == 0
        assert (await fresh(session, PrintJob, queued.json()["data"]["id"])).status == "cancelled"
        error_of(
            await client.post(f"{JOBS}/{first}/reprint", headers=headers), 409, "device_inactive"
        )
        await asyncio.sleep(0.2)
        assert len(bar.received) == 1

    await session.commit()
    openings = (
        await session.scalars(
            select(AuditLog).where(AuditLog.action == "cash_drawer.opened").order_by(AuditLog.seq)
        )
    ).all()
    assert [a.new_values.get("reprintOf") for a in openings] == [None, first, None]


# --------------------------------------------------------------------------- endpoints


async def test_test_print_and_diagnostics(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine, world: World
) -> None:
    headers = await manager(client, world)
    async with PrinterServer() as server:
        printer = await add_printer(client, headers, server.port, stations=["grill"])
        drawer = await add_drawer(client, headers, printer["id"])
        url = f"{DEVICES}/{printer['id']}"
        queued = await client.post(f"{url}/test-print", headers=headers)
        assert queued.status_code == 201, queued.text
        assert queued.json()["data"]["kind"] == "test"

        found = await client.get(f"{url}/diagnostics", headers=headers)
        assert found.status_code == 200, found.text
        data = found.json()["data"]
        assert data["network"] is True
        assert data["probe"]["reachable"] is True
        assert data["probe"]["host"] == "127.0.0.1"
        assert data["probe"]["port"] == server.port
        assert data["probe"]["latencyMs"] >= 0
        assert (data["queuedJobs"], data["failedJobs"], data["lastPrintedAt"]) == (1, 0, None)
        assert data["device"]["status"] == "offline"  # diagnostics change nothing

        assert await deliver(engine) == 1
        received = await server.wait_for(1)  # the probe's empty connection is not kept
        assert "TEST PRINT" in printed_text(received[-1])
        kicked = await client.get(f"{DEVICES}/{drawer['id']}/diagnostics", headers=headers)
        assert kicked.json()["data"]["probe"]["port"] == server.port  # the drawer's printer
        assert kicked.json()["data"]["queuedJobs"] == 0

    done = (await client.get(f"{url}/diagnostics", headers=headers)).json()["data"]
    assert done["probe"]["reachable"] is False  # the server is gone
    assert done["probe"]["latencyMs"] is None
    assert done["probe"]["error"]
    assert (done["queuedJobs"], done["failedJobs"]) == (0, 0)
    assert done["lastPrintedAt"] is not None
    assert done["device"]["status"] == "online"
    assert done["device"]["lastSeen"] is not None

    scanner = await add_device(client, headers, deviceType="scanner", deviceName="Scanner")
    plain = (await client.get(f"{DEVICES}/{scanner['id']}/diagnostics", headers=headers)).json()
    assert (plain["data"]["network"], plain["data"]["probe"]) == (False, None)
    error_of(
        await client.post(f"{DEVICES}/{scanner['id']}/test-print", headers=headers),
        409,
        "not_a_network_printer",
    )


async def test_printing_a_receipt(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine, world: World
) -> None:
    headers = await manager(client, world)
    till = await Till.build(client, session, world, role="cashier")
    order = await till.order(quantity=3)
    url = f"/api/orders/{order['id']}/receipt/print"

    error_of(await client.post(url, headers=till.headers), 409, "no_receipt_printer")
    await add_printer(client, headers, 9100, name="Kitchen", stations=["grill"])
    receipts = await add_printer(client, headers, 9101, name="Front", receipts=True, columns=48)

    response = await client.post(url, headers=till.headers)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert (data["kind"], data["deviceId"], data["sourceId"]) == (
        "receipt",
        receipts["id"],
        order["id"],
    )
    job = await fresh(session, PrintJob, data["id"])
    text = await client.get(
        f"/api/orders/{order['id']}/receipt",
        headers=till.headers,
        params={"format": "text", "width": 48},
    )
    assert printed_text(job.payload) == text.text  # the same receipt, the same money

    await till.cash(order["id"], 37.50, 40.00)
    paid = await client.post(url, headers=till.headers, json={"deviceId": receipts["id"]})
    assert paid.status_code == 201, paid.text
    lines = printed_text((await fresh(session, PrintJob, paid.json()["data"]["id"])).payload)
    assert "Cash" in lines
    assert "£37.50" in lines

    scanner = await add_device(client, headers, deviceType="scanner", deviceName="S")
    error_of(
        await client.post(url, headers=till.headers, json={"deviceId": scanner["id"]}),
        409,
        "not_a_network_printer",
    )
    error_of(
        await client.post(url, headers=till.headers, json={"deviceId": str(uuid.uuid4())}),
        404,
        "not_found",
    )
    bad = await client.post(url, headers=till.headers, json={"deviceId": "kitchen"})
    assert fields_of(error_of(bad, 422, "validation_error")) == {"deviceId"}
    bad = await client.post(url, headers=till.headers, json={"printer": "x"})
    assert fields_of(error_of(bad, 422, "validation_error")) == {"printer"}
    error_of(
        await client.post(f"/api/orders/{uuid.uuid4()}/receipt/print", headers=till.headers),
        404,
        "not_found",
    )
    for role in ("waiter", "kitchen_staff", "employee"):
        refused = await client.post(url, headers=await login(client, world.users[role]))
        assert error_of(refused, 403, "permission_denied")["details"]["permission"] == (
            "payments.process"
        )


async def test_another_restaurants_orders_jobs_and_printers_are_not_found(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    theirs = await printer_row(session, world.b, 9100, receipts=True, stations=["grill"])
    ticket = await ticket_row(session, world.b, "grill")
    (job,) = await queue_ticket_prints(session, world.b, [ticket], actor_id=None)
    job.status = "failed"
    await session.commit()
    mine = await login(client, world.users["manager"])
    await add_printer(client, mine, 9100, receipts=True)

    error_of(await client.post(f"{JOBS}/{job.id}/reprint", headers=mine), 404, "not_found")
    listed = await client.get(JOBS, headers=mine)
    assert listed.json()["data"]["items"] == []
    error_of(
        await client.post(f"/api/orders/{ticket.order_id}/receipt/print", headers=mine),
        404,
        "not_found",
    )
    till = await Till.build(client, session, world, role="cashier")
    order = await till.order()
    response = await client.post(
        f"/api/orders/{order['id']}/receipt/print",
        headers=mine,
        json={"deviceId": str(theirs.id)},
    )
    error_of(response, 404, "not_found")
    row = await fresh(session, PrintJob, job.id)
    assert row.status == "failed"


async def test_the_print_job_list(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine, world: World
) -> None:
    headers = await manager(client, world)
    dead = await add_printer(client, headers, refused_port(), name="Dead")
    async with PrinterServer() as server:
        live = await add_printer(client, headers, server.port, name="Live")
        for device in (dead, live):
            assert (
                await client.post(f"{DEVICES}/{device['id']}/test-print", headers=headers)
            ).status_code == 201
        await deliver(engine)
        await server.wait_for(1)

    for role in ("manager", "captain", "cashier", "kitchen_staff"):
        response = await client.get(JOBS, headers=await login(client, world.users[role]))
        assert response.status_code == 200, (role, response.text)
        assert response.json()["data"]["pagination"]["total"] == 2

    async def listed(**params: str) -> list[tuple[str, str]]:
        response = await client.get(JOBS, headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [(j["deviceId"], j["status"]) for j in response.json()["data"]["items"]]

    assert await listed(status="queued") == [(dead["id"], "queued")]
    assert await listed(deviceId=live["id"]) == [(live["id"], "printed")]
    assert await listed(kind="receipt") == []
    assert len(await listed(kind="test")) == 2
    (failed,) = (await client.get(JOBS, headers=headers, params={"status": "queued"})).json()[
        "data"
    ]["items"]
    assert failed["attempts"] == 1
    assert "refused" in failed["lastError"].lower() or "connect" in failed["lastError"].lower()

    for params, field in (
        ({"status": "lost"}, "status"),
        ({"kind": "fax"}, "kind"),
        ({"deviceId": "dead"}, "deviceId"),
        ({"limit": "many"}, "limit"),
    ):
        response = await client.get(JOBS, headers=headers, params=params)
        assert field in fields_of(error_of(response, 422, "validation_error"))
    for role in ("waiter", "employee"):
        refused = await client.get(JOBS, headers=await login(client, world.users[role]))
        error_of(refused, 403, "permission_denied")
    # A test page is reprinted by whoever manages devices; a queued job is not reprinted.
    error_of(
        await client.post(f"{JOBS}/{failed['id']}/reprint", headers=headers),
        409,
        "print_job_pending",
    )
    captain = await login(client, world.users["captain"])
    (printed,) = (await client.get(JOBS, headers=headers, params={"status": "printed"})).json()[
        "data"
    ]["items"]
    refused = await client.post(f"{JOBS}/{printed['id']}/reprint", headers=captain)
    assert error_of(refused, 403, "permission_denied")["details"]["permission"] == "devices.manage"
    error_of(await client.post(f"{JOBS}/{uuid.uuid4()}/reprint", headers=headers), 404, "not_found")
    error_of(await client.post(f"{JOBS}/nope/reprint", headers=headers), 422, "validation_error")
    waiter = await login(client, world.users["waiter"])
    error_of(
        await client.post(f"{JOBS}/{printed['id']}/reprint", headers=waiter),
        403,
        "permission_denied",
    )

    # Nothing goes to a printer the server cannot send to: one removed (its queued job was
    # cancelled with it), or one taken off the network.
    assert (await client.delete(f"{DEVICES}/{dead['id']}", headers=headers)).status_code == 200
    error_of(
        await client.post(f"{JOBS}/{failed['id']}/reprint", headers=headers),
        409,
        "device_inactive",
    )
    usb = await client.put(
        f"{DEVICES}/{live['id']}", json={"connectionType": "usb"}, headers=headers
    )
    assert usb.status_code == 200, usb.text
    error_of(
        await client.post(f"{JOBS}/{printed['id']}/reprint", headers=headers),
        409,
        "not_a_network_printer",
    )
    till = await Till.build(client, session, world, role="cashier")
    order = await till.order()
    for device, code in ((dead, "device_inactive"), (live, "not_a_network_printer")):
        response = await client.post(
            f"/api/orders/{order['id']}/receipt/print",
            json={"deviceId": device["id"]},
            headers=till.headers,
        )
        error_of(response, 409, code)
