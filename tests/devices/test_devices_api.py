"""``/api/hardware/devices`` over HTTP: configuration per type, updates, removal, heartbeats,
who may do what, and another restaurant's devices."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.models import AuditLog, HardwareDevice, PrintJob
from tests.devices.support import (
    DEVICES,
    add_device,
    add_drawer,
    add_printer,
    error_of,
    fields_of,
    fresh,
    printer_row,
    refused_port,
    status_events,
)
from tests.world import World, login

NOT_MANAGERS = ("captain", "cashier", "waiter", "kitchen_staff", "employee")


async def manager(client: httpx.AsyncClient, world: World) -> dict[str, str]:
    return await login(client, world.users["manager"])


# --------------------------------------------------------------------------- creating


async def test_a_manager_adds_a_network_printer_with_defaults(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await manager(client, world)
    response = await client.post(
        DEVICES,
        headers=headers,
        json={
            "deviceType": "printer",
            "deviceName": "Kitchen printer",
            "deviceId": "00:11:62:AA:BB:CC",
            "configuration": {"host": "Printer-1.Local", "stations": ["grill", "grill", "bar"]},
        },
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["deviceType"] == "printer"
    assert data["connectionType"] == "ethernet"  # a printer without one is on the network
    assert data["status"] == "offline"
    assert data["lastSeen"] is None
    assert data["isActive"] is True
    assert data["version"] == 1
    assert data["configuration"] == {
        "host": "printer-1.local",
        "port": 9100,
        "columns": 42,
        "stations": ["grill", "bar"],
        "receipts": False,
        "codePage": "cp858",
    }
    audit = (
        await session.scalars(select(AuditLog).where(AuditLog.resource_id == data["id"]))
    ).all()
    assert [row.action for row in audit] == ["hardware_device.created"]
    assert audit[0].new_values is not None
    assert audit[0].new_values["configuration"]["host"] == "printer-1.local"


async def test_other_kinds_of_device(client: httpx.AsyncClient, world: World) -> None:
    headers = await manager(client, world)
    usb = await add_device(
        client,
        headers,
        deviceType="printer",
        deviceName="Bar printer",
        connectionType="usb",
        configuration={"columns": 48, "receipts": True},
    )
    assert "host" not in usb["configuration"]
    assert usb["configuration"]["columns"] == 48
    scanner = await add_device(
        client,
        headers,
        deviceType="scanner",
        deviceName="Scanner",
        connectionType="bluetooth",
        configuration={"model": "Zebra DS2208", "beep": True},
    )
    assert scanner["configuration"] == {"model": "Zebra DS2208", "beep": True}
    display = await add_device(client, headers, deviceType="display", deviceName="KDS")
    assert display["configuration"] == {}
    assert display["connectionType"] is None
    ipv6 = await add_device(
        client,
        headers,
        deviceType="printer",
        deviceName="v6",
        configuration={"host": "0:0:0:0:0:0:0:1", "port": 9101},
    )
    assert ipv6["configuration"]["host"] == "::1"  # stored in its short form


async def test_a_cash_drawer_hangs_off_a_printer_of_the_same_restaurant(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await manager(client, world)
    printer = await add_printer(client, headers, 9100)
    drawer = await add_drawer(client, headers, printer["id"])
    assert drawer["configuration"] == {"printerId": printer["id"], "pin": 2, "drawer": "main"}

    foreign = await printer_row(session, world.b, 9100)
    await session.commit()
    scanner = await add_device(client, headers, deviceType="scanner", deviceName="S")
    for printer_id in (str(foreign.id), scanner["id"], str(uuid.uuid4())):
        response = await client.post(
            DEVICES,
            headers=headers,
            json={
                "deviceType": "cash_drawer",
                "deviceName": "Drawer",
                "configuration": {"printerId": printer_id},
            },
        )
        error = error_of(response, 422, "validation_error")
        assert fields_of(error) == {"configuration.printerId"}

    # Reactivating a drawer checks its printer again: it may have been removed meanwhile.
    url = f"{DEVICES}/{drawer['id']}"
    assert (await client.delete(url, headers=headers)).status_code == 200
    assert (await client.delete(f"{DEVICES}/{printer['id']}", headers=headers)).status_code == 200
    back = await client.put(url, headers=headers, json={"isActive": True})
    assert fields_of(error_of(back, 422, "validation_error")) == {"configuration.printerId"}
    assert (await client.get(url, headers=headers)).json()["data"]["isActive"] is False


BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"deviceType": "printer", "deviceName": "P", "configuration": {}}, "configuration.host"),
    (
        {"deviceType": "printer", "deviceName": "P", "connectionType": "wifi"},
        "configuration.host",
    ),
    (
        {"deviceType": "printer", "deviceName": "P", "configuration": {"host": "a", "port": 0}},
        "configuration.port",
    ),
    (
        {
            "deviceType": "printer",
            "deviceName": "P",
            "configuration": {"host": "a", "port": 65536},
        },
        "configuration.port",
    ),
    (
        {
            "deviceType": "printer",
            "deviceName": "P",
            "configuration": {"host": "a", "port": "ninety"},
        },
        "configuration.port",
    ),
    (
        {"deviceType": "printer", "deviceName": "P", "configuration": {"host": "a", "columns": 40}},
        "configuration.columns",
    ),
    (
        {
            "deviceType": "printer",
            "deviceName": "P",
            "configuration": {"host": "http://printer:9100/"},
        },
        "configuration.host",
    ),
    (
        {"deviceType": "printer", "deviceName": "P", "configuration": {"host": "bad host"}},
        "configuration.host",
    ),
    (
        {"deviceType": "printer", "deviceName": "P", "configuration": {"host": 12}},
        "configuration.host",
    ),
    # Addresses that can never be a printer: the cloud metadata service (link-local, also
    # written IPv4-mapped), the unspecified address, multicast, the broadcast address.
    *(
        (
            {"deviceType": "printer", "deviceName": "P", "configuration": {"host": host}},
            "configuration.host",
        )
        for host in (
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "fe80::1",
            "0.0.0.0",
            "224.0.0.251",
            "255.255.255.255",
        )
    ),
    (
        {
            "deviceType": "printer",
            "deviceName": "P",
            "configuration": {"host": "a", "stations": "grill"},
        },
        "configuration.stations",
    ),
    (
        {
            "deviceType": "printer",
            "deviceName": "P",
            "configuration": {"host": "a", "stations": [""]},
        },
        "configuration.stations.0",
    ),
    (
        {
            "deviceType": "printer",
            "deviceName": "P",
            "configuration": {"host": "a", "receipts": "maybe"},
        },
        "configuration.receipts",
    ),
    (
        {
            "deviceType": "printer",
            "deviceName": "P",
            "configuration": {"host": "a", "codePage": "utf8"},
        },
        "configuration.codePage",
    ),
    (
        {"deviceType": "printer", "deviceName": "P", "configuration": {"host": "a", "ip": "b"}},
        "configuration.ip",
    ),
    (
        {"deviceType": "cash_drawer", "deviceName": "D", "configuration": {}},
        "configuration.printerId",
    ),
    (
        {"deviceType": "cash_drawer", "deviceName": "D", "configuration": {"printerId": "x"}},
        "configuration.printerId",
    ),
    (
        {
            "deviceType": "cash_drawer",
            "deviceName": "D",
            "configuration": {"printerId": str(uuid.uuid4()), "pin": 3},
        },
        "configuration.pin",
    ),
    (
        {
            "deviceType": "cash_drawer",
            "deviceName": "D",
            "configuration": {"printerId": str(uuid.uuid4()), "drawer": ""},
        },
        "configuration.drawer",
    ),
    (
        {
            "deviceType": "cash_drawer",
            "deviceName": "D",
            "configuration": {"printerId": str(uuid.uuid4()), "drawer": 7},
        },
        "configuration.drawer",
    ),
    ({"deviceType": "toaster", "deviceName": "T"}, "deviceType"),
    ({"deviceName": "T"}, "deviceType"),
    ({"deviceType": "display"}, "deviceName"),
    ({"deviceType": "display", "deviceName": ""}, "deviceName"),
    ({"deviceType": "display", "deviceName": "x" * 256}, "deviceName"),
    ({"deviceType": "display", "deviceName": 5}, "deviceName"),
    ({"deviceType": "display", "deviceName": "D", "connectionType": "serial"}, "connectionType"),
    ({"deviceType": "display", "deviceName": "D", "configuration": []}, "configuration"),
    ({"deviceType": "display", "deviceName": "D", "status": "online"}, "status"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
async def test_invalid_devices_are_refused_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession, world: World, body: dict[str, Any], field: str
) -> None:
    response = await client.post(DEVICES, headers=await manager(client, world), json=body)
    error = error_of(response, 422, "validation_error")
    assert field in fields_of(error), error
    count = await session.scalar(
        select(HardwareDevice.id).where(HardwareDevice.restaurant_id == world.a1.id).limit(1)
    )
    assert count is None


async def test_a_body_that_is_not_json_is_a_422(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        DEVICES,
        headers={**await manager(client, world), "Content-Type": "application/json"},
        content=b"{not json",
    )
    error_of(response, 422, "validation_error")


# --------------------------------------------------------------------------- reading


async def test_list_filters_by_type_status_and_activity(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await manager(client, world)
    printer = await add_printer(client, headers, 9100)
    await add_device(client, headers, deviceType="scanner", deviceName="Scanner")
    gone = await add_device(client, headers, deviceType="display", deviceName="Old screen")
    assert (await client.delete(f"{DEVICES}/{gone['id']}", headers=headers)).status_code == 200
    beat = await client.post(f"{DEVICES}/{printer['id']}/heartbeat", headers=headers)
    assert beat.status_code == 200, beat.text

    async def names(**params: Any) -> list[str]:
        response = await client.get(DEVICES, headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [d["deviceName"] for d in response.json()["data"]["items"]]

    assert await names() == ["Kitchen printer", "Scanner"]
    assert await names(deviceType="printer") == ["Kitchen printer"]
    assert await names(status="online") == ["Kitchen printer"]
    assert await names(status="offline") == ["Scanner"]
    assert await names(includeInactive="true") == ["Old screen", "Kitchen printer", "Scanner"]
    page = await client.get(DEVICES, headers=headers, params={"limit": 1, "offset": 1})
    assert page.json()["data"]["pagination"] == {
        "limit": 1,
        "offset": 1,
        "total": 2,
        "hasMore": False,
    }
    for params, field in (
        ({"deviceType": "toaster"}, "deviceType"),
        ({"status": "asleep"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"offset": -1}, "offset"),
        ({"includeInactive": "perhaps"}, "includeInactive"),
    ):
        response = await client.get(DEVICES, headers=headers, params=params)
        assert field in fields_of(error_of(response, 422, "validation_error"))

    one = await client.get(f"{DEVICES}/{printer['id']}", headers=headers)
    assert one.status_code == 200
    assert one.json()["data"]["status"] == "online"
    error_of(await client.get(f"{DEVICES}/{uuid.uuid4()}", headers=headers), 404, "not_found")
    error = error_of(
        await client.get(f"{DEVICES}/not-a-uuid", headers=headers), 422, "validation_error"
    )
    assert fields_of(error) == {"device_id"}


# --------------------------------------------------------------------------- updating


async def test_updating_a_device(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await manager(client, world)
    printer = await add_printer(client, headers, 9100, stations=["grill"])
    url = f"{DEVICES}/{printer['id']}"

    response = await client.put(
        url,
        headers=headers,
        json={"deviceName": "Grill printer", "version": 1, "configuration": {"host": "10.0.0.9"}},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["deviceName"] == "Grill printer"
    assert data["version"] == 2
    # The configuration is replaced as a whole, defaults filled in again.
    assert data["configuration"]["host"] == "10.0.0.9"
    assert data["configuration"]["stations"] == []

    error = error_of(
        await client.put(url, headers=headers, json={"deviceName": "X", "version": 1}),
        409,
        "stale_version",
    )
    assert error["details"] == {"expectedVersion": 1, "currentVersion": 2}

    # Off the network without a host is fine; back on wifi without one is not.
    usb = await client.put(url, headers=headers, json={"connectionType": "usb"})
    assert usb.status_code == 200, usb.text
    assert usb.json()["data"]["connectionType"] == "usb"
    back = await client.put(
        url, headers=headers, json={"connectionType": "wifi", "configuration": {}}
    )
    assert fields_of(error_of(back, 422, "validation_error")) == {"configuration.host"}

    for body, field in (
        ({"deviceName": ""}, "deviceName"),
        ({"version": 0}, "version"),
        ({"version": "two"}, "version"),
        ({"deviceType": "scanner"}, "deviceType"),
        ({"configuration": {"host": "a", "columns": "wide"}}, "configuration.columns"),
        ({"isActive": "yes please"}, "isActive"),
    ):
        response = await client.put(url, headers=headers, json=body)
        assert field in fields_of(error_of(response, 422, "validation_error")), body

    await session.commit()
    actions = (
        await session.scalars(
            select(AuditLog.action)
            .where(AuditLog.resource_id == printer["id"])
            .order_by(AuditLog.seq)
        )
    ).all()
    assert actions == [
        "hardware_device.created",
        "hardware_device.updated",
        "hardware_device.updated",
    ]


async def test_a_printer_a_drawer_uses_cannot_leave_the_network(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await manager(client, world)
    printer = await add_printer(client, headers, 9100)
    drawer = await add_drawer(client, headers, printer["id"])
    url = f"{DEVICES}/{printer['id']}"
    for response in (
        await client.put(url, headers=headers, json={"connectionType": "usb"}),
        await client.put(url, headers=headers, json={"isActive": False}),
        await client.delete(url, headers=headers),
    ):
        error = error_of(response, 409, "device_in_use")
        assert error["details"]["drawerIds"] == [drawer["id"]]
    unchanged = (await client.get(url, headers=headers)).json()["data"]
    assert (unchanged["connectionType"], unchanged["isActive"], unchanged["version"]) == (
        "ethernet",
        True,
        1,
    )
    # Changes that keep it on the network are fine.
    renamed = await client.put(url, headers=headers, json={"deviceName": "Till printer"})
    assert renamed.status_code == 200, renamed.text
    # Removing the drawer first frees the printer.
    assert (await client.delete(f"{DEVICES}/{drawer['id']}", headers=headers)).status_code == 200
    assert (await client.delete(url, headers=headers)).status_code == 200


async def test_a_drawer_on_a_usb_printer_does_not_lock_the_printer(
    client: httpx.AsyncClient, world: World
) -> None:
    """A USB printer is driven by the till; the server never kicks through it, so a drawer
    hanging off it does not stop the printer being renamed or reconfigured."""
    headers = await manager(client, world)
    usb = await add_device(
        client, headers, deviceType="printer", deviceName="USB", connectionType="usb"
    )
    await add_drawer(client, headers, usb["id"])
    url = f"{DEVICES}/{usb['id']}"
    for body in ({"deviceName": "Front USB"}, {"configuration": {"columns": 48}}):
        response = await client.put(url, headers=headers, json=body)
        assert response.status_code == 200, response.text
    assert response.json()["data"]["deviceName"] == "Front USB"
    assert response.json()["data"]["version"] == 3


async def test_removing_a_device_keeps_it_and_cancels_its_waiting_jobs(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await manager(client, world)
    printer = await add_printer(client, headers, refused_port())
    url = f"{DEVICES}/{printer['id']}"
    queued = await client.post(f"{url}/test-print", headers=headers)
    assert queued.status_code == 201, queued.text
    await client.post(f"{url}/heartbeat", headers=headers)

    response = await client.delete(url, headers=headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["isActive"] is False
    assert data["status"] == "offline"
    job = await fresh(session, PrintJob, queued.json()["data"]["id"])
    assert job.status == "cancelled"
    events = await status_events(session, world.a1)
    assert [(e["previousStatus"], e["status"]) for e in events] == [
        ("offline", "online"),
        ("online", "offline"),
    ]
    # Removing again changes nothing; the device is still there to read and bring back.
    again = await client.delete(url, headers=headers)
    assert again.status_code == 200
    assert again.json()["data"]["version"] == data["version"]
    error_of(await client.post(f"{url}/test-print", headers=headers), 409, "device_inactive")
    error_of(await client.post(f"{url}/heartbeat", headers=headers), 409, "device_inactive")
    back = await client.put(url, headers=headers, json={"isActive": True})
    assert back.status_code == 200
    assert back.json()["data"]["isActive"] is True


# --------------------------------------------------------------------------- heartbeat


async def test_heartbeats_set_status_and_last_seen(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    headers = await manager(client, world)
    printer = await add_device(
        client, headers, deviceType="printer", deviceName="BT", connectionType="bluetooth"
    )
    url = f"{DEVICES}/{printer['id']}/heartbeat"
    till = await login(client, world.users["cashier"])
    kitchen = await login(client, world.users["kitchen_staff"])

    online = await client.post(url, headers=till)
    assert online.status_code == 200, online.text
    assert online.json()["data"]["status"] == "online"
    seen = online.json()["data"]["lastSeen"]
    assert seen is not None

    again = await client.post(url, headers=till, json={"status": "online"})
    assert again.json()["data"]["lastSeen"] >= seen

    paper = await client.post(
        url, headers=kitchen, json={"status": "error", "message": "paper out"}
    )
    assert paper.json()["data"]["status"] == "error"
    assert paper.json()["data"]["lastError"] == "paper out"

    gone = await client.post(url, headers=till, json={"status": "offline", "message": "unplugged"})
    data = gone.json()["data"]
    assert data["status"] == "offline"
    assert data["lastSeen"] == paper.json()["data"]["lastSeen"]  # offline is not a sighting
    assert data["lastError"] is None  # only an error carries a reason

    events = await status_events(session, world.a1)
    assert [(e["previousStatus"], e["status"]) for e in events] == [
        ("offline", "online"),
        ("online", "error"),
        ("error", "offline"),
    ]
    assert events[1]["lastError"] == "paper out"
    assert events[1]["deviceId"] == printer["id"]

    for body, field in (
        ({"status": "asleep"}, "status"),
        ({"status": 1}, "status"),
        ({"message": "x" * 501}, "message"),
        ({"extra": True}, "extra"),
    ):
        response = await client.post(url, headers=till, json=body)
        assert field in fields_of(error_of(response, 422, "validation_error"))


# --------------------------------------------------------------------------- access


@pytest.mark.parametrize("role", NOT_MANAGERS)
async def test_only_device_managers_manage_devices(
    client: httpx.AsyncClient, world: World, role: str
) -> None:
    printer = await add_printer(client, await manager(client, world), 9100)
    headers = await login(client, world.users[role])
    url = f"{DEVICES}/{printer['id']}"
    for response in (
        await client.get(DEVICES, headers=headers),
        await client.post(
            DEVICES, headers=headers, json={"deviceType": "display", "deviceName": "D"}
        ),
        await client.get(url, headers=headers),
        await client.put(url, headers=headers, json={"deviceName": "X"}),
        await client.delete(url, headers=headers),
        await client.post(f"{url}/test-print", headers=headers),
        await client.get(f"{url}/diagnostics", headers=headers),
    ):
        error = error_of(response, 403, "permission_denied")
        assert error["details"]["permission"] == "devices.manage"


@pytest.mark.parametrize(("role", "allowed"), [("waiter", True), ("employee", False)])
async def test_who_may_report_a_heartbeat(
    client: httpx.AsyncClient, world: World, role: str, allowed: bool
) -> None:
    printer = await add_printer(client, await manager(client, world), 9100)
    response = await client.post(
        f"{DEVICES}/{printer['id']}/heartbeat", headers=await login(client, world.users[role])
    )
    if allowed:
        assert response.status_code == 200, response.text
    else:
        error = error_of(response, 403, "permission_denied")
        assert error["details"]["anyOf"] == ["devices.manage", "orders.create", "kitchen.update"]


async def test_owners_manage_each_of_their_restaurants(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = await login(client, world.owner_a)
    home = await client.post(
        DEVICES, headers=headers, json={"deviceType": "display", "deviceName": "A1 screen"}
    )
    assert home.status_code == 201, home.text
    assert home.json()["data"]["restaurantId"] == str(world.a1.id)  # their own by default
    response = await client.post(
        DEVICES,
        headers=headers,
        params={"restaurantId": str(world.a2.id)},
        json={"deviceType": "display", "deviceName": "A2 screen"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["data"]["restaurantId"] == str(world.a2.id)


async def test_another_restaurants_devices_are_not_found(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    theirs = await printer_row(session, world.b, 9100)
    await session.commit()
    headers = await manager(client, world)
    url = f"{DEVICES}/{theirs.id}"
    for response in (
        await client.get(url, headers=headers),
        await client.put(url, headers=headers, json={"deviceName": "Mine now"}),
        await client.delete(url, headers=headers),
        await client.post(f"{url}/heartbeat", headers=headers),
        await client.post(f"{url}/test-print", headers=headers),
        await client.get(f"{url}/diagnostics", headers=headers),
        await client.post(f"{url}/open-drawer", headers=headers),
    ):
        error_of(response, 404, "not_found")
    listed = await client.get(DEVICES, headers=headers, params={"includeInactive": "true"})
    assert listed.json()["data"]["items"] == []
    # Naming B's restaurant is refused too.
    other = await client.get(DEVICES, headers=headers, params={"restaurantId": str(world.b.id)})
    error_of(other, 404, "not_found")
    row = await fresh(session, HardwareDevice, theirs.id)
    assert row.device_name == "Printer"
    assert row.is_active is True


async def test_requests_without_a_token_are_refused(client: httpx.AsyncClient) -> None:
    error_of(await client.get(DEVICES), 401, "unauthorized")
