"""``/api/hardware/devices``, ``/api/print-jobs`` and ``/api/orders/{id}/receipt/print``.

Printers, cash drawers, scanners, card readers and displays of a restaurant (the spec's
``hardware_devices``), and the print queue that sends ESC/POS to network printers. The
spec's ``/api/devices`` already names the tills bound to a restaurant (``fynlo.auth``), so
hardware lives under ``/api/hardware/devices``.

Permissions: managing devices, test prints and diagnostics need ``devices.manage``;
opening a cash drawer ``cash_drawer.manage``; printing a receipt ``payments.process``;
a heartbeat any of ``devices.manage``, ``orders.create`` (a till) or ``kitchen.update`` (a
kitchen screen); the print-job list any of ``devices.manage``, ``kots.manage``,
``payments.process`` or ``cash_drawer.manage``, and a reprint the permission of what it
prints (see :data:`fynlo.devices.service.REPRINT_PERMISSIONS`).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request

from fynlo.auth.subject import Subject, require_any_permission, require_permission
from fynlo.authz.context import CurrentRestaurant
from fynlo.devices.schemas import (
    DeviceIn,
    DeviceOut,
    DeviceStatus,
    DeviceType,
    DeviceUpdate,
    DiagnosticsOut,
    HeartbeatIn,
    PrintJobKind,
    PrintJobOut,
    PrintJobStatus,
    ProbeOut,
    ReceiptPrintIn,
)
from fynlo.devices.service import DeviceService, Diagnostics, PrintJobService
from fynlo.kit.idempotency import idempotent
from fynlo.kit.pagination import Page, PageParams, page_params
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, ok
from fynlo.kit.unit_of_work import SessionDep
from fynlo.models import HardwareDevice, PrintJob
from fynlo.runtime import get_runtime

devices_router = router(prefix="/api/hardware/devices", tags=["hardware"])
jobs_router = router(prefix="/api/print-jobs", tags=["hardware"])
receipts_router = router(prefix="/api/orders", tags=["hardware"])

Paging = Annotated[PageParams, Depends(page_params)]


Manager = Annotated[Subject, Depends(require_permission("devices.manage"))]
DrawerOpener = Annotated[Subject, Depends(require_permission("cash_drawer.manage"))]
ReceiptPrinter = Annotated[Subject, Depends(require_permission("payments.process"))]
Reporter = Annotated[
    Subject, Depends(require_any_permission("devices.manage", "orders.create", "kitchen.update"))
]
QueueReader = Annotated[
    Subject,
    Depends(
        require_any_permission(
            "devices.manage", "kots.manage", "payments.process", "cash_drawer.manage"
        )
    ),
]


def device_out(device: HardwareDevice) -> DeviceOut:
    return DeviceOut.model_validate(device)


def job_out(job: PrintJob) -> PrintJobOut:
    return PrintJobOut(
        id=job.id,
        device_id=job.device_id,
        kind=job.kind,
        source_id=job.source_id,
        status=job.status,
        attempts=job.attempts,
        next_attempt_at=job.next_attempt_at,
        last_error=job.last_error,
        printed_at=job.printed_at,
        size=len(job.payload),
        created_by=job.created_by,
        created_at=job.created_at,
    )


def diagnostics_out(found: Diagnostics) -> DiagnosticsOut:
    probe = None
    if found.probe is not None and found.host is not None and found.port is not None:
        probe = ProbeOut(
            host=found.host,
            port=found.port,
            reachable=found.probe.reachable,
            latency_ms=found.probe.latency_ms,
            error=found.probe.error,
        )
    return DiagnosticsOut(
        device=device_out(found.device),
        network=found.network,
        probe=probe,
        queued_jobs=found.queued_jobs,
        failed_jobs=found.failed_jobs,
        last_printed_at=found.last_printed_at,
    )


# --------------------------------------------------------------------------- devices


@devices_router.get(
    "",
    response_model=Envelope[Page[DeviceOut]],
    summary="Hardware devices of the restaurant",
    description="Active devices by type and name; `includeInactive=true` adds removed ones.",
)
async def list_devices(
    subject: Manager,
    session: SessionDep,
    restaurant: CurrentRestaurant,
    paging: Paging,
    device_type: Annotated[DeviceType | None, Query(alias="deviceType")] = None,
    status: DeviceStatus | None = None,
    include_inactive: Annotated[bool, Query(alias="includeInactive")] = False,
) -> Envelope[Page[DeviceOut]]:
    rows, total = await DeviceService(session, subject, restaurant).find(
        paging, device_type=device_type, status=status, include_inactive=include_inactive
    )
    return ok(Page[DeviceOut].build([device_out(d) for d in rows], paging, total))


@devices_router.post(
    "",
    status_code=201,
    response_model=Envelope[DeviceOut],
    openapi_extra=idempotent(),
    summary="Add a printer, cash drawer, scanner, card reader or display",
    description="`configuration` is checked per type: a network printer needs `host` "
    "(`port` 9100, `columns` 42 or 48, `stations`, `receipts`, `codePage`); a cash drawer "
    "`printerId` (a printer of this restaurant) and `pin` 2 or 5. A new device is `offline` "
    "until it prints or reports in.",
)
async def create_device(
    body: DeviceIn, subject: Manager, session: SessionDep, restaurant: CurrentRestaurant
) -> Envelope[DeviceOut]:
    return ok(device_out(await DeviceService(session, subject, restaurant).create(body)))


@devices_router.get(
    "/{device_id}", response_model=Envelope[DeviceOut], summary="One hardware device"
)
async def get_device(
    device_id: uuid.UUID, subject: Manager, session: SessionDep, restaurant: CurrentRestaurant
) -> Envelope[DeviceOut]:
    return ok(device_out(await DeviceService(session, subject, restaurant).get(device_id)))


@devices_router.put(
    "/{device_id}",
    response_model=Envelope[DeviceOut],
    summary="Rename, reconfigure, deactivate or reactivate a device",
    description="Fields left out stay as they are; `configuration` replaces the whole "
    "object and is validated again. A stale `version` is a 409 `stale_version`; taking a "
    "printer off the network (or deactivating it) while a cash drawer uses it is a 409 "
    "`device_in_use`.",
)
async def update_device(
    device_id: uuid.UUID,
    body: DeviceUpdate,
    subject: Manager,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[DeviceOut]:
    device = await DeviceService(session, subject, restaurant).update(device_id, body)
    return ok(device_out(device))


@devices_router.delete(
    "/{device_id}",
    response_model=Envelope[DeviceOut],
    summary="Remove a device (deactivated, with its history kept)",
    description="The row stays (its print jobs refer to it) with `isActive: false` and "
    "`status: offline`; its jobs not yet printed are cancelled. `PUT` with `isActive: true` "
    "brings it back.",
)
async def delete_device(
    device_id: uuid.UUID, subject: Manager, session: SessionDep, restaurant: CurrentRestaurant
) -> Envelope[DeviceOut]:
    device = await DeviceService(session, subject, restaurant).deactivate(device_id)
    return ok(device_out(device))


@devices_router.post(
    "/{device_id}/heartbeat",
    response_model=Envelope[DeviceOut],
    summary="A till or the device reports its state (default: online)",
    description="Sets `status` and `lastSeen` (not for `offline`); `message` is kept as "
    "`lastError` for `error`. Back `online`, a printer's jobs waiting for a retry go at once. "
    "A change of status is announced to managers as `device_status`.",
)
async def heartbeat(
    device_id: uuid.UUID,
    subject: Reporter,
    session: SessionDep,
    restaurant: CurrentRestaurant,
    body: Annotated[HeartbeatIn | None, Body()] = None,
) -> Envelope[DeviceOut]:
    device = await DeviceService(session, subject, restaurant).heartbeat(
        device_id, body or HeartbeatIn()
    )
    return ok(device_out(device))


@devices_router.post(
    "/{device_id}/test-print",
    status_code=201,
    response_model=Envelope[PrintJobOut],
    openapi_extra=idempotent(),
    summary="Queue a test page on a network printer",
    description="Shows the settings the server uses, a column ruler and the character "
    "table. A device that is not a network printer is a 409 `not_a_network_printer`.",
)
async def test_print(
    device_id: uuid.UUID, subject: Manager, session: SessionDep, restaurant: CurrentRestaurant
) -> Envelope[PrintJobOut]:
    return ok(job_out(await DeviceService(session, subject, restaurant).test_print(device_id)))


@devices_router.get(
    "/{device_id}/diagnostics",
    response_model=Envelope[DiagnosticsOut],
    summary="Reachability, status, last seen, last error and the device's queue",
    description="Tries a TCP connection to a network printer (a cash drawer: its printer) "
    "with a short timeout and reports `reachable` and `latencyMs`; changes nothing.",
)
async def diagnostics(
    device_id: uuid.UUID,
    request: Request,
    subject: Manager,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[DiagnosticsOut]:
    settings = get_runtime(request).settings
    found = await DeviceService(session, subject, restaurant).diagnostics(
        device_id,
        timeout_seconds=settings.printer_probe_timeout_seconds,
        allow_loopback=settings.printers_may_use_loopback,
    )
    return ok(diagnostics_out(found))


@devices_router.post(
    "/{device_id}/open-drawer",
    status_code=201,
    response_model=Envelope[PrintJobOut],
    openapi_extra=idempotent(),
    summary="Open a cash drawer (a kick sent through its printer)",
    description="Audited as `cash_drawer.opened`. Not a cash drawer: 409 `not_a_cash_drawer`; "
    "its printer gone: 409 `drawer_printer_unavailable`.",
)
async def open_drawer(
    device_id: uuid.UUID,
    subject: DrawerOpener,
    session: SessionDep,
    restaurant: CurrentRestaurant,
) -> Envelope[PrintJobOut]:
    return ok(job_out(await DeviceService(session, subject, restaurant).open_drawer(device_id)))


# --------------------------------------------------------------------------- print jobs


@jobs_router.get(
    "",
    response_model=Envelope[Page[PrintJobOut]],
    summary="The print queue, newest first",
)
async def list_jobs(
    subject: QueueReader,
    session: SessionDep,
    restaurant: CurrentRestaurant,
    paging: Paging,
    device_id: Annotated[uuid.UUID | None, Query(alias="deviceId")] = None,
    status: PrintJobStatus | None = None,
    kind: PrintJobKind | None = None,
) -> Envelope[Page[PrintJobOut]]:
    rows, total = await PrintJobService(session, subject, restaurant).find(
        paging, device_id=device_id, status=status, kind=kind
    )
    return ok(Page[PrintJobOut].build([job_out(j) for j in rows], paging, total))


@jobs_router.post(
    "/{job_id}/reprint",
    response_model=Envelope[PrintJobOut],
    openapi_extra=idempotent(),
    summary="Send a failed, cancelled or printed job again",
    description="A failed or cancelled job is queued again (attempts start over); a printed "
    "one is copied into a new job. Needs the permission of what it prints: `kots.manage` "
    "(kitchen ticket), `payments.process` (receipt), `cash_drawer.manage` (drawer kick), "
    "`devices.manage` (test page). A job still queued is a 409 `print_job_pending`.",
)
async def reprint(
    job_id: uuid.UUID, subject: QueueReader, session: SessionDep, restaurant: CurrentRestaurant
) -> Envelope[PrintJobOut]:
    return ok(job_out(await PrintJobService(session, subject, restaurant).reprint(job_id)))


@receipts_router.post(
    "/{order_id}/receipt/print",
    status_code=201,
    response_model=Envelope[PrintJobOut],
    openapi_extra=idempotent(),
    summary="Print the order's receipt on a network printer",
    description="On `deviceId`, else on the first active network printer with "
    "`configuration.receipts` (none: 409 `no_receipt_printer`). The receipt is the one "
    "`GET /api/orders/{id}/receipt` shows, with the payments taken.",
)
async def print_receipt(
    order_id: uuid.UUID,
    subject: ReceiptPrinter,
    session: SessionDep,
    restaurant: CurrentRestaurant,
    body: Annotated[ReceiptPrintIn | None, Body()] = None,
) -> Envelope[PrintJobOut]:
    job = await PrintJobService(session, subject, restaurant).print_receipt(
        order_id, (body or ReceiptPrintIn()).device_id
    )
    return ok(job_out(job))


ROUTERS: list[APIRouter] = [devices_router, jobs_router, receipts_router]
