"""Hardware devices of a restaurant (CRUD, heartbeat, diagnostics, test print, drawer kick)
and its print jobs (list, reprint, receipts). Services raise domain errors; never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import record
from fynlo.auth.subject import Subject
from fynlo.db.locking import lock_for_update
from fynlo.db.types import utc_now
from fynlo.devices import queue
from fynlo.devices.escpos import render_receipt, render_test_page
from fynlo.devices.schemas import (
    NETWORK_CONNECTIONS,
    DeviceIn,
    DeviceUpdate,
    DrawerConfig,
    HeartbeatIn,
    PrinterConfig,
)
from fynlo.devices.transport import Probe, probe
from fynlo.kit.errors import (
    Conflict,
    PermissionDenied,
    ResourceNotFound,
    StaleVersion,
    Unprocessable,
)
from fynlo.kit.handlers import validation_details
from fynlo.kit.pagination import PageParams
from fynlo.models import HardwareDevice, KitchenTicket, Payment, PrintJob, Restaurant
from fynlo.orders import receipts
from fynlo.orders.service import OrderService

# Who may send a job of each kind again: what it prints decides, not who queued it.
REPRINT_PERMISSIONS: dict[str, str] = {
    "kitchen_ticket": "kots.manage",
    "receipt": "payments.process",
    "drawer_kick": "cash_drawer.manage",
    "test": "devices.manage",
}
# Payments shown on a printed receipt (a refund is its own document).
RECEIPT_PAYMENT_STATUSES = ("completed", "partially_refunded")
AUDITED_FIELDS = (
    "device_type",
    "device_name",
    "connection_type",
    "device_id",
    "configuration",
    "is_active",
)


class DeviceInactive(Conflict):
    code = "device_inactive"

    def __init__(self, device: HardwareDevice) -> None:
        super().__init__(
            f"Device '{device.device_name}' is deactivated; reactivate it first",
            details={"deviceId": str(device.id)},
        )


class NotANetworkPrinter(Conflict):
    code = "not_a_network_printer"

    def __init__(self, device: HardwareDevice) -> None:
        super().__init__(
            f"Device '{device.device_name}' is not a printer the server can reach: it must be "
            "a printer on ethernet or wifi with a host",
            details={
                "deviceId": str(device.id),
                "deviceType": device.device_type,
                "connectionType": device.connection_type,
            },
        )


class NotACashDrawer(Conflict):
    code = "not_a_cash_drawer"

    def __init__(self, device: HardwareDevice) -> None:
        super().__init__(
            f"Device '{device.device_name}' is a {device.device_type}, not a cash drawer",
            details={"deviceId": str(device.id), "deviceType": device.device_type},
        )


class DrawerPrinterMissing(Conflict):
    code = "drawer_printer_unavailable"

    def __init__(self, device: HardwareDevice) -> None:
        super().__init__(
            f"Cash drawer '{device.device_name}' has no active network printer to kick it",
            details={"deviceId": str(device.id)},
        )


class DeviceInUse(Conflict):
    code = "device_in_use"

    def __init__(self, device: HardwareDevice, drawers: Sequence[HardwareDevice]) -> None:
        super().__init__(
            f"Printer '{device.device_name}' opens cash drawer(s) "
            + ", ".join(f"'{d.device_name}'" for d in drawers)
            + "; point them at another printer or remove them first",
            details={"deviceId": str(device.id), "drawerIds": [str(d.id) for d in drawers]},
        )


class NoReceiptPrinter(Conflict):
    code = "no_receipt_printer"
    default_message = (
        "No active network printer prints receipts: set configuration.receipts on one, or "
        "send deviceId"
    )


class PrintJobPending(Conflict):
    code = "print_job_pending"

    def __init__(self, job: PrintJob) -> None:
        super().__init__(
            f"Print job {job.id} is still {job.status}; it will be sent without a reprint",
            details={"jobId": str(job.id), "status": job.status},
        )


def _sendable_printer(device: HardwareDevice) -> PrinterConfig:
    """The configuration of an active network printer, which the server can send to; a
    409 saying which it is not."""
    if not device.is_active:
        raise DeviceInactive(device)
    config = queue.network_config(device)
    if config is None:
        raise NotANetworkPrinter(device)
    return config


def _config_error(exc: ValidationError) -> Unprocessable:
    details = validation_details([dict(error) for error in exc.errors()])
    for detail in details:
        detail["field"] = f"configuration.{detail['field']}".rstrip(".")
        detail["location"] = "body"
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    return Unprocessable(f"Invalid configuration: {summary}", details=details)


def _field_error(field: str, message: str) -> Unprocessable:
    return Unprocessable(
        f"{field}: {message}",
        details=[{"field": field, "location": "body", "message": message}],
    )


def _snapshot(device: HardwareDevice) -> dict[str, Any]:
    return {name: getattr(device, name) for name in AUDITED_FIELDS}


@dataclass(frozen=True)
class Diagnostics:
    device: HardwareDevice
    network: bool
    host: str | None
    port: int | None
    probe: Probe | None
    queued_jobs: int
    failed_jobs: int
    last_printed_at: datetime | None


class DeviceService:
    def __init__(self, session: AsyncSession, subject: Subject, restaurant: Restaurant) -> None:
        self.session = session
        self.subject = subject
        self.restaurant = restaurant

    # --- reading ----------------------------------------------------------------------

    def _scoped(self) -> Select[HardwareDevice]:
        return select(HardwareDevice).where(HardwareDevice.restaurant_id == self.restaurant.id)

    async def get(self, device_id: uuid.UUID) -> HardwareDevice:
        device = await self.session.scalar(self._scoped().where(HardwareDevice.id == device_id))
        if device is None:
            raise ResourceNotFound("Device", device_id)
        return device

    async def _locked(self, device_id: uuid.UUID) -> HardwareDevice:
        device = await self.session.scalar(
            lock_for_update(self._scoped().where(HardwareDevice.id == device_id)).execution_options(
                populate_existing=True
            )
        )
        if device is None:
            raise ResourceNotFound("Device", device_id)
        return device

    async def find(
        self,
        paging: PageParams,
        *,
        device_type: str | None,
        status: str | None,
        include_inactive: bool,
    ) -> tuple[Sequence[HardwareDevice], int]:
        query = self._scoped()
        if device_type is not None:
            query = query.where(HardwareDevice.device_type == device_type)
        if status is not None:
            query = query.where(HardwareDevice.status == status)
        if not include_inactive:
            query = query.where(HardwareDevice.is_active.is_(True))
        total = await self.session.scalar(select(func.count()).select_from(query.subquery()))
        rows = await self.session.scalars(
            query.order_by(
                HardwareDevice.device_type, HardwareDevice.device_name, HardwareDevice.id
            )
            .limit(paging.limit)
            .offset(paging.offset)
        )
        return rows.all(), int(total or 0)

    # --- configuration ----------------------------------------------------------------

    async def _configuration(
        self,
        device_type: str,
        connection_type: str | None,
        raw: dict[str, Any],
    ) -> dict[str, Any]:
        """``raw`` checked against the device type's model; what is stored (defaults in)."""
        if device_type == "printer":
            try:
                printer = PrinterConfig.model_validate(raw)
            except ValidationError as exc:
                raise _config_error(exc) from exc
            if (connection_type or "ethernet") in NETWORK_CONNECTIONS and printer.host is None:
                raise _field_error(
                    "configuration.host", "required for a printer on ethernet or wifi"
                )
            return printer.model_dump(by_alias=True, exclude_none=True, mode="json")
        if device_type == "cash_drawer":
            try:
                drawer = DrawerConfig.model_validate(raw)
            except ValidationError as exc:
                raise _config_error(exc) from exc
            printer_row = await self.session.scalar(
                self._scoped().where(HardwareDevice.id == drawer.printer_id)
            )
            if (
                printer_row is None
                or printer_row.device_type != "printer"
                or not printer_row.is_active
            ):
                raise _field_error(
                    "configuration.printerId", "must be an active printer of this restaurant"
                )
            return drawer.model_dump(by_alias=True, mode="json")
        return dict(raw)

    # --- writing ----------------------------------------------------------------------

    async def create(self, body: DeviceIn) -> HardwareDevice:
        connection = body.connection_type
        if connection is None and body.device_type == "printer":
            connection = "ethernet"
        configuration = await self._configuration(body.device_type, connection, body.configuration)
        device = HardwareDevice(
            id=uuid.uuid4(),
            restaurant_id=self.restaurant.id,
            device_type=body.device_type,
            device_name=body.device_name,
            connection_type=connection,
            device_id=body.device_id,
            status="offline",
            configuration=configuration,
            is_active=True,
            version=1,
        )
        self.session.add(device)
        await self.session.flush()
        await self._audit(device, "hardware_device.created", None)
        return device

    async def _audit(self, device: HardwareDevice, action: str, old: dict[str, Any] | None) -> None:
        await record(
            self.session,
            self.subject.actor,
            action=action,
            resource_type="hardware_device",
            resource_id=device.id,
            restaurant_id=self.restaurant.id,
            old=old,
            new=_snapshot(device),
        )

    async def _save(self, device: HardwareDevice, action: str, old: dict[str, Any]) -> None:
        device.version += 1
        await self.session.flush()
        await self._audit(device, action, old)

    async def update(self, device_id: uuid.UUID, body: DeviceUpdate) -> HardwareDevice:
        device = await self._locked(device_id)
        if body.version is not None and body.version != device.version:
            raise StaleVersion("Device", body.version, device.version)
        old = _snapshot(device)
        was_network = queue.network_config(device) is not None
        sent = body.model_fields_set
        if body.device_name is not None:
            device.device_name = body.device_name
        if "device_id" in sent:
            device.device_id = body.device_id
        connection = device.connection_type
        if "connection_type" in sent:
            connection = body.connection_type
            if connection is None and device.device_type == "printer":
                connection = "ethernet"
        if "connection_type" in sent or body.configuration is not None:
            raw = body.configuration if body.configuration is not None else device.configuration
            device.configuration = await self._configuration(device.device_type, connection, raw)
            device.connection_type = connection
        if body.is_active is not None and body.is_active != device.is_active:
            if body.is_active:
                # Back on the restaurant's hardware as configured now: a drawer's printer
                # may have been removed meanwhile.
                device.configuration = await self._configuration(
                    device.device_type, device.connection_type, device.configuration
                )
                device.is_active = True
            else:
                await self._deactivate(device)
        if was_network and queue.network_config(device) is None:
            await self._check_not_in_use(device)  # its drawers could no longer be kicked
        await self._save(device, "hardware_device.updated", old)
        return device

    async def _drawers_using(self, printer: HardwareDevice) -> list[HardwareDevice]:
        drawers = await queue.active_devices(self.session, self.restaurant.id, "cash_drawer")
        return [
            d
            for d in drawers
            if (config := queue.drawer_config(d)) is not None and config.printer_id == printer.id
        ]

    async def _check_not_in_use(self, device: HardwareDevice) -> None:
        if device.device_type != "printer":
            return
        drawers = await self._drawers_using(device)
        if drawers:
            raise DeviceInUse(device, drawers)

    async def _deactivate(self, device: HardwareDevice) -> None:
        """Off the restaurant's hardware: its jobs not yet printed are cancelled (a reprint
        can send them elsewhere later); the row and its job history stay."""
        await self._check_not_in_use(device)
        device.is_active = False
        queue.set_device_status(self.session, device, "offline", None, now=utc_now(), seen=False)
        # A printer's own jobs, and a drawer's kicks (queued on its printer): a drawer taken
        # off the till must not pop open later.
        owned = (
            and_(PrintJob.source_id == device.id, PrintJob.kind == "drawer_kick")
            if device.device_type == "cash_drawer"
            else PrintJob.device_id == device.id
        )
        await self.session.execute(
            update(PrintJob)
            .where(
                owned,
                PrintJob.restaurant_id == self.restaurant.id,
                PrintJob.status.in_(queue.PENDING_STATUSES),
            )
            .values(status="cancelled", next_attempt_at=None)
        )

    async def deactivate(self, device_id: uuid.UUID) -> HardwareDevice:
        device = await self._locked(device_id)
        if not device.is_active:
            return device
        old = _snapshot(device)
        await self._deactivate(device)
        await self._save(device, "hardware_device.deactivated", old)
        return device

    async def heartbeat(self, device_id: uuid.UUID, body: HeartbeatIn) -> HardwareDevice:
        device = await self._locked(device_id)
        if not device.is_active:
            raise DeviceInactive(device)
        now = utc_now()
        # Only an error carries a reason; online and offline clear it.
        message = (body.message or "reported by a till") if body.status == "error" else None
        queue.set_device_status(
            self.session, device, body.status, message, now=now, seen=body.status != "offline"
        )
        if body.status == "online":
            await queue.release_backlog(self.session, device.id, now)
        await self.session.flush()
        return device

    # --- printing ---------------------------------------------------------------------

    async def test_print(self, device_id: uuid.UUID) -> PrintJob:
        device = await self.get(device_id)
        config = _sendable_printer(device)
        payload = render_test_page(
            device,
            config,
            when=utc_now(),
            timezone=self.restaurant.timezone,
            restaurant_name=self.restaurant.name,
        )
        job = queue.add_job(
            self.session, device, "test", payload, source_id=None, actor_id=self.subject.id
        )
        await self.session.flush()
        return job

    async def open_drawer(
        self, device_id: uuid.UUID, *, reprint_of: uuid.UUID | None = None
    ) -> PrintJob:
        drawer = await self.get(device_id)
        if drawer.device_type != "cash_drawer":
            raise NotACashDrawer(drawer)
        if not drawer.is_active:
            raise DeviceInactive(drawer)
        target = await queue.drawer_printer(self.session, drawer)
        if target is None:
            raise DrawerPrinterMissing(drawer)
        config, printer, _ = target
        job = queue.kick_job(self.session, drawer, config, printer, actor_id=self.subject.id)
        await self.session.flush()
        # Opening the till without a sale is a cash-control event.
        await record(
            self.session,
            self.subject.actor,
            action="cash_drawer.opened",
            resource_type="hardware_device",
            resource_id=drawer.id,
            restaurant_id=self.restaurant.id,
            new={
                "printJobId": str(job.id),
                "printerId": str(printer.id),
                **({"reprintOf": str(reprint_of)} if reprint_of is not None else {}),
            },
        )
        return job

    async def diagnostics(
        self, device_id: uuid.UUID, *, timeout_seconds: float, allow_loopback: bool
    ) -> Diagnostics:
        """Reads and a TCP probe only: nothing about the device is changed."""
        device = await self.get(device_id)
        config: PrinterConfig | None = None
        jobs = select(PrintJob).where(PrintJob.restaurant_id == self.restaurant.id)
        if device.device_type == "cash_drawer":
            target = await queue.drawer_printer(self.session, device)
            config = target[2] if target is not None else None
            jobs = jobs.where(PrintJob.source_id == device.id, PrintJob.kind == "drawer_kick")
        else:
            config = queue.network_config(device)
            jobs = jobs.where(PrintJob.device_id == device.id)
        found: Probe | None = None
        if config is not None and config.host is not None:
            found = await probe(
                config.host,
                config.port,
                timeout_seconds=timeout_seconds,
                allow_loopback=allow_loopback,
            )
        counts = jobs.subquery()
        queued, failed, last_printed = (
            await self.session.execute(
                select(
                    func.count().filter(counts.c.status.in_(queue.PENDING_STATUSES)),
                    func.count().filter(counts.c.status == "failed"),
                    func.max(counts.c.printed_at),
                )
            )
        ).one()
        return Diagnostics(
            device=device,
            network=config is not None,
            host=config.host if config else None,
            port=config.port if config else None,
            probe=found,
            queued_jobs=int(queued or 0),
            failed_jobs=int(failed or 0),
            last_printed_at=last_printed,
        )


class PrintJobService:
    def __init__(self, session: AsyncSession, subject: Subject, restaurant: Restaurant) -> None:
        self.session = session
        self.subject = subject
        self.restaurant = restaurant

    def _scoped(self) -> Select[PrintJob]:
        return select(PrintJob).where(PrintJob.restaurant_id == self.restaurant.id)

    async def find(
        self,
        paging: PageParams,
        *,
        device_id: uuid.UUID | None,
        status: str | None,
        kind: str | None,
    ) -> tuple[Sequence[PrintJob], int]:
        query = self._scoped()
        if device_id is not None:
            query = query.where(PrintJob.device_id == device_id)
        if status is not None:
            query = query.where(PrintJob.status == status)
        if kind is not None:
            query = query.where(PrintJob.kind == kind)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery()))
        rows = await self.session.scalars(
            query.order_by(PrintJob.created_at.desc(), PrintJob.id)
            .limit(paging.limit)
            .offset(paging.offset)
        )
        return rows.all(), int(total or 0)

    async def reprint(self, job_id: uuid.UUID) -> PrintJob:
        """A failed or cancelled job is queued again as it is (attempts start over); a
        printed one is copied into a new job, so the first keeps its history. A drawer kick
        is a new kick for the drawer as it is now (:meth:`open_drawer`: still active, its
        current printer and pin), audited as ``cash_drawer.opened``."""
        job = await self.session.scalar(
            lock_for_update(self._scoped().where(PrintJob.id == job_id)).execution_options(
                populate_existing=True
            )
        )
        if job is None:
            raise ResourceNotFound("Print job", job_id)
        permission = REPRINT_PERMISSIONS[job.kind]
        if not self.subject.can(permission):
            raise PermissionDenied(permission)
        if job.status in queue.PENDING_STATUSES:
            raise PrintJobPending(job)
        if job.kind == "drawer_kick":
            # Not the old bytes to the old printer: the drawer as it is now (still active,
            # its current printer and pin), audited as a drawer opening.
            drawers = DeviceService(self.session, self.subject, self.restaurant)
            return await drawers.open_drawer(
                job.source_id or job.device_id,  # every kick names its drawer
                reprint_of=job.id,
            )
        device = await self.session.get(HardwareDevice, job.device_id)
        assert device is not None  # a foreign key
        config = _sendable_printer(device)
        if job.status == "printed":
            again = queue.add_job(
                self.session,
                device,
                job.kind,
                await self._again(job, config),
                source_id=job.source_id,
                actor_id=self.subject.id,
            )
        else:
            job.status = "queued"
            job.attempts = 0
            job.last_error = None
            job.next_attempt_at = utc_now()
            queue.mark_pending(self.session)
            again = job
        await self.session.flush()
        await record(
            self.session,
            self.subject.actor,
            action="print_job.reprinted",
            resource_type="print_job",
            resource_id=again.id,
            restaurant_id=self.restaurant.id,
            new={"kind": job.kind, "fromJobId": str(job.id), "deviceId": str(device.id)},
        )
        return again

    async def _again(self, job: PrintJob, config: PrinterConfig) -> bytes:
        """What a printed job prints the second time: the same bytes, but a kitchen ticket
        is marked ``** REPRINT **`` so the kitchen does not cook it twice."""
        if job.kind != "kitchen_ticket" or job.source_id is None:
            return job.payload
        ticket = await self.session.scalar(
            select(KitchenTicket).where(
                KitchenTicket.id == job.source_id,
                KitchenTicket.restaurant_id == self.restaurant.id,
            )
        )
        if ticket is None:
            return job.payload
        return queue.ticket_bytes(ticket, self.restaurant, config, reprint=True)

    async def _receipt_printer(
        self, device_id: uuid.UUID | None
    ) -> tuple[HardwareDevice, PrinterConfig]:
        if device_id is not None:
            device = await self.session.scalar(
                select(HardwareDevice).where(
                    HardwareDevice.restaurant_id == self.restaurant.id,
                    HardwareDevice.id == device_id,
                )
            )
            if device is None:
                raise ResourceNotFound("Device", device_id)
            return device, _sendable_printer(device)
        for device, config in await queue.network_printers(self.session, self.restaurant.id):
            if config.receipts:
                return device, config
        raise NoReceiptPrinter()

    async def print_receipt(self, order_id: uuid.UUID, device_id: uuid.UUID | None) -> PrintJob:
        """The order's receipt, built like ``GET /api/orders/{id}/receipt`` (same totals),
        plus the payments taken, for the printer's width."""
        orders = OrderService(self.session, self.subject, self.restaurant)
        order = await orders.get(order_id)
        device, config = await self._receipt_printer(device_id)
        payments = await self.session.scalars(
            select(Payment)
            .where(
                Payment.restaurant_id == self.restaurant.id,
                Payment.order_id == order.id,
                Payment.status.in_(RECEIPT_PAYMENT_STATUSES),
            )
            .order_by(Payment.created_at, Payment.id)
        )
        built = await orders.receipt(
            order,
            [
                receipts.ReceiptPayment(
                    method=p.method,
                    amount_minor=p.amount_minor,
                    reference=f"**** {p.last_4_digits}" if p.last_4_digits else None,
                    paid_at=p.completed_at,
                )
                for p in payments
            ],
        )
        payload = render_receipt(built, columns=config.columns, code_page=config.code_page)
        job = queue.add_job(
            self.session, device, "receipt", payload, source_id=order.id, actor_id=self.subject.id
        )
        await self.session.flush()
        return job
