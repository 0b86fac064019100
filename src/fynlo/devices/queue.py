"""The print queue: a job is a row written in the transaction that decided to print,
sent to its printer after the commit and retried with backoff until it prints or gives up.

Nothing prints for a rolled-back change, and a printer that is off, out of paper or
unplugged delays a ticket instead of losing it: the job stays ``queued`` (the device goes
to ``error`` with the reason) and, after the last attempt, ``failed``, kept for a reprint.
Delivery is at least once: a crash between the printer taking the bytes and the row's
update prints that job again.

Other packages queue through :func:`queue_ticket_prints` (the kitchen),
:func:`queue_drawer_kick` and :func:`kick_drawer_for_cash_sale` (payments). Jobs are sent by
:class:`PrintDeliverer` in the API process (woken by the commit that queued them, else every
``FYNLO_PRINT_POLL_SECONDS``) and by the ``fynlo.deliver_prints`` job in ``fynlo worker``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import ColumnElement, Select, and_, event, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from fynlo.authz.context import restaurant_settings
from fynlo.config import Settings
from fynlo.db.engine import write_intent
from fynlo.db.locking import lock_for_update
from fynlo.db.types import utc_now
from fynlo.devices.escpos import drawer_kick, render_kitchen_ticket
from fynlo.devices.schemas import (
    ALL_STATIONS,
    NETWORK_CONNECTIONS,
    DrawerConfig,
    PrinterConfig,
)
from fynlo.devices.transport import PrinterUnreachable, send_payload
from fynlo.events.outbox import emit
from fynlo.kit.waiting import wait_for_wake
from fynlo.models import HardwareDevice, KitchenTicket, PrintJob, Restaurant

log = structlog.get_logger(__name__)

FIRST_RETRY = timedelta(seconds=5)
MAX_RETRY = timedelta(minutes=5)
DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_MAX_ATTEMPTS = 10
BATCH = 50
# A drawer kick is for the sale at hand: one that could not be sent within this long is
# failed instead of popping the drawer open later, unattended, when the printer is back.
KICK_EXPIRES_AFTER = timedelta(seconds=60)
KICK_EXPIRED = "drawer kick not sent within a minute of the sale; not sent later"
MAX_ROUNDS = 10
PENDING_STATUSES = ("queued", "printing")
# Printed in the order queued: a new one waits behind its printer's backlog. A test page
# (diagnosing the printer) and a drawer kick (for the sale at hand) go at once.
IN_ORDER_KINDS = ("kitchen_ticket", "receipt")

# session.info keys: this transaction queued jobs / the session's commit hook is installed.
PRINTS_PENDING = "fynlo.prints_pending"
_COMMIT_HOOK = "fynlo.prints_commit_hook"

# Deliverers running in this process, woken when a transaction that queued jobs commits.
_wakers: set[Callable[[], None]] = set()


# --------------------------------------------------------------------------- devices


def printer_config(device: HardwareDevice) -> PrinterConfig | None:
    """A printer's stored configuration (validated when it was written), else None."""
    if device.device_type != "printer":
        return None
    try:
        return PrinterConfig.model_validate(device.configuration)
    except ValidationError:
        return None


def network_config(device: HardwareDevice) -> PrinterConfig | None:
    """The configuration of a printer the server can send to (ethernet/wifi with a host)."""
    config = printer_config(device)
    if config is None or config.host is None:
        return None
    if (device.connection_type or "ethernet") not in NETWORK_CONNECTIONS:
        return None
    return config


def drawer_config(device: HardwareDevice) -> DrawerConfig | None:
    if device.device_type != "cash_drawer":
        return None
    try:
        return DrawerConfig.model_validate(device.configuration)
    except ValidationError:
        return None


async def active_devices(
    session: AsyncSession, restaurant_id: uuid.UUID, device_type: str
) -> Sequence[HardwareDevice]:
    """The restaurant's active devices of one type, oldest first."""
    rows = await session.scalars(
        select(HardwareDevice)
        .where(
            HardwareDevice.restaurant_id == restaurant_id,
            HardwareDevice.device_type == device_type,
            HardwareDevice.is_active.is_(True),
        )
        .order_by(HardwareDevice.created_at, HardwareDevice.id)
    )
    return rows.all()


async def network_printers(
    session: AsyncSession, restaurant_id: uuid.UUID
) -> list[tuple[HardwareDevice, PrinterConfig]]:
    """The restaurant's active network printers, oldest first, with their configuration."""
    found = []
    for device in await active_devices(session, restaurant_id, "printer"):
        config = network_config(device)
        if config is not None:
            found.append((device, config))
    return found


def status_payload(device: HardwareDevice, previous: str | None) -> dict[str, Any]:
    return {
        "deviceId": str(device.id),
        "deviceName": device.device_name,
        "deviceType": device.device_type,
        "status": device.status,
        "previousStatus": previous,
        "lastSeen": device.last_seen.isoformat() if device.last_seen else None,
        "lastError": device.last_error,
    }


def set_device_status(
    session: AsyncSession,
    device: HardwareDevice,
    status: str,
    error: str | None,
    *,
    now: datetime,
    seen: bool,
) -> bool:
    """Record what was learnt about a device; a change of status is announced to the
    managers (``device_status``). True when the status changed."""
    previous = device.status
    device.status = status
    device.last_error = None if status == "online" else error
    if seen:
        device.last_seen = now
    if previous == status:
        return False
    emit(session, device.restaurant_id, "device_status", status_payload(device, previous))
    return True


async def release_backlog(session: AsyncSession, device_id: uuid.UUID, now: datetime) -> None:
    """The printer answers again: its jobs waiting out a backoff are due now, in order."""
    await session.execute(
        update(PrintJob)
        .where(
            PrintJob.device_id == device_id,
            PrintJob.status == "queued",
            PrintJob.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
    )
    mark_pending(session)


# --------------------------------------------------------------------------- queueing


def _after_commit(sync_session: Session) -> None:
    if sync_session.info.pop(PRINTS_PENDING, False):
        wake_deliverers()


def _after_rollback(sync_session: Session) -> None:
    sync_session.info.pop(PRINTS_PENDING, None)


def mark_pending(session: AsyncSession) -> None:
    """Wake this process's deliverers once the caller's transaction commits (not before:
    they would not see the jobs; never after a rollback: there are none)."""
    session.info[PRINTS_PENDING] = True
    if session.info.get(_COMMIT_HOOK):
        return
    session.info[_COMMIT_HOOK] = True
    event.listen(session.sync_session, "after_commit", _after_commit)
    event.listen(session.sync_session, "after_rollback", _after_rollback)


def wake_deliverers() -> None:
    for wake in list(_wakers):
        wake()


def add_job(
    session: AsyncSession,
    device: HardwareDevice,
    kind: str,
    payload: bytes,
    *,
    source_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
) -> PrintJob:
    """Queue one job in the caller's transaction, due at once."""
    job = PrintJob(
        id=uuid.uuid4(),
        restaurant_id=device.restaurant_id,
        device_id=device.id,
        kind=kind,
        source_id=source_id,
        payload=payload,
        status="queued",
        attempts=0,
        next_attempt_at=utc_now(),
        created_by=actor_id,
    )
    session.add(job)
    mark_pending(session)
    return job


def _flag(values: dict[str, Any] | None, key: str, default: bool) -> bool:
    value = (values or {}).get(key)
    return value if isinstance(value, bool) else default


async def queue_ticket_prints(
    session: AsyncSession,
    restaurant: Restaurant,
    tickets: Sequence[KitchenTicket],
    *,
    actor_id: uuid.UUID | None,
    reprint: bool = False,
) -> list[PrintJob]:
    """One job per ticket and printer: every active network printer whose ``stations``
    lists the ticket's station, else the printers listing ``*``; none is not an error
    (the kitchen display still has the ticket). ``kitchen_settings.autoPrintTickets``
    (default true) set to false stops automatic prints, not reprints."""
    if not tickets:
        return []
    # Printers first: a restaurant without any (the hardware-free default) reads no more.
    printers = await network_printers(session, restaurant.id)
    if not printers:
        return []
    if not reprint:
        settings = await restaurant_settings(session, restaurant)
        if not _flag(settings.kitchen_settings if settings else None, "autoPrintTickets", True):
            return []
    jobs = []
    for ticket in tickets:
        targets = [(d, c) for d, c in printers if ticket.station in c.stations]
        if not targets:
            targets = [(d, c) for d, c in printers if ALL_STATIONS in c.stations]
        for device, config in targets:
            payload = ticket_bytes(ticket, restaurant, config, reprint=reprint)
            jobs.append(
                add_job(
                    session,
                    device,
                    "kitchen_ticket",
                    payload,
                    source_id=ticket.id,
                    actor_id=actor_id,
                )
            )
    return jobs


def ticket_bytes(
    ticket: KitchenTicket, restaurant: Restaurant, config: PrinterConfig, *, reprint: bool
) -> bytes:
    """The ticket as one printer prints it (its width and character table)."""
    return render_kitchen_ticket(
        ticket,
        columns=config.columns,
        restaurant_name=restaurant.name,
        timezone=restaurant.timezone,
        reprint=reprint,
        code_page=config.code_page,
    )


async def drawer_printer(
    session: AsyncSession, drawer: HardwareDevice
) -> tuple[DrawerConfig, HardwareDevice, PrinterConfig] | None:
    """The active network printer a cash drawer hangs off, with both configurations."""
    config = drawer_config(drawer)
    if config is None:
        return None
    printer = await session.scalar(
        select(HardwareDevice).where(
            HardwareDevice.id == config.printer_id,
            HardwareDevice.restaurant_id == drawer.restaurant_id,
            HardwareDevice.is_active.is_(True),
        )
    )
    printer_settings = network_config(printer) if printer is not None else None
    if printer is None or printer_settings is None:
        return None
    return config, printer, printer_settings


def kick_job(
    session: AsyncSession,
    drawer: HardwareDevice,
    config: DrawerConfig,
    printer: HardwareDevice,
    *,
    actor_id: uuid.UUID | None,
) -> PrintJob:
    """A drawer kick is sent to the drawer's printer; ``source_id`` names the drawer."""
    return add_job(
        session,
        printer,
        "drawer_kick",
        drawer_kick(config.pin),
        source_id=drawer.id,
        actor_id=actor_id,
    )


async def queue_drawer_kick(
    session: AsyncSession, restaurant_id: uuid.UUID, drawer: str, *, actor_id: uuid.UUID | None
) -> list[PrintJob]:
    """Open the restaurant's active cash drawers named ``drawer`` (the name cash payments
    and drawer sessions use, ``configuration.drawer``; usually one): a kick job on each
    one's printer. None so named, or its printer gone, gets none."""
    jobs = []
    for device in await active_devices(session, restaurant_id, "cash_drawer"):
        named = drawer_config(device)
        if named is None or named.drawer != drawer:
            continue
        target = await drawer_printer(session, device)
        if target is None:
            log.warning("drawer_kick_without_printer", drawer_id=str(device.id))
            continue
        config, printer, _ = target
        jobs.append(kick_job(session, device, config, printer, actor_id=actor_id))
    return jobs


async def kick_drawer_for_cash_sale(
    session: AsyncSession, restaurant: Restaurant, drawer: str, *, actor_id: uuid.UUID | None
) -> list[PrintJob]:
    """A cash tender into ``drawer`` opens that drawer unless
    ``hardware_settings.kickDrawerOnCash`` is false (default true)."""
    settings = await restaurant_settings(session, restaurant)
    if not _flag(settings.hardware_settings if settings else None, "kickDrawerOnCash", True):
        return []
    return await queue_drawer_kick(session, restaurant.id, drawer, actor_id=actor_id)


# --------------------------------------------------------------------------- delivery


def retry_delay(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s ... capped at 5 minutes (after ``attempts`` failed tries)."""
    delay: timedelta = FIRST_RETRY * 2 ** max(attempts - 1, 0)
    return min(delay, MAX_RETRY)


@dataclass(frozen=True)
class _Claim:
    job_id: uuid.UUID
    device_id: uuid.UUID
    host: str
    port: int
    payload: bytes
    kind: str
    created_at: datetime
    # The lease this deliverer wrote: the job is still its own while the row holds it.
    lease_until: datetime


def _due(now: datetime) -> Select[PrintJob]:
    return select(PrintJob).where(
        PrintJob.status.in_(PENDING_STATUSES), PrintJob.next_attempt_at <= now
    )


def _give_up(job: PrintJob, reason: str) -> None:
    job.status = "failed"
    job.next_attempt_at = None
    job.last_error = reason


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    lease: timedelta,
) -> list[_Claim]:
    """Due jobs, oldest first, marked ``printing`` with a lease: another deliverer (a
    second replica, the worker) leaves them alone until the lease runs out, which only
    happens if this one died while sending."""
    now = utc_now()
    # A plain read first: an idle queue (the usual case) never takes SQLite's write lock.
    async with sessionmaker() as session:
        if await session.scalar(_due(now).with_only_columns(PrintJob.id).limit(1)) is None:
            return []
    async with write_intent(), sessionmaker() as session, session.begin():
        query = (
            _due(now)
            .order_by(PrintJob.created_at, PrintJob.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        jobs = list((await session.scalars(query)).all())
        if not jobs:
            return []
        devices = {
            d.id: d
            for d in await session.scalars(
                select(HardwareDevice).where(HardwareDevice.id.in_({j.device_id for j in jobs}))
            )
        }
        backlog = await _backlogs(session, {j.device_id for j in jobs}, now)
        claimed = []
        for job in jobs:
            waiting = backlog.get(job.device_id) if job.kind in IN_ORDER_KINDS else None
            if waiting is not None and waiting[0] < (job.created_at, job.id):
                # Older jobs of this printer are waiting out a retry delay: this one waits
                # with them, so a printer that comes back prints them in the order queued.
                job.next_attempt_at = waiting[1]
                continue
            device = devices.get(job.device_id)
            config = network_config(device) if device is not None and device.is_active else None
            if device is None or config is None or config.host is None:
                _give_up(job, "the device is no longer an active network printer")
                continue
            if _kick_expired(job.kind, job.created_at, now):
                _give_up(job, KICK_EXPIRED)
                continue
            job.status = "printing"
            job.next_attempt_at = now + lease
            claimed.append(
                _Claim(
                    job.id,
                    device.id,
                    config.host,
                    config.port,
                    job.payload,
                    job.kind,
                    job.created_at,
                    job.next_attempt_at,
                )
            )
        return claimed


async def _backlogs(
    session: AsyncSession, device_ids: set[uuid.UUID], now: datetime
) -> dict[uuid.UUID, tuple[tuple[datetime, uuid.UUID], datetime]]:
    """Per printer with tickets or receipts waiting out a retry delay: the oldest of them
    (created, id) and when the next of them comes due."""
    rows = await session.execute(
        select(PrintJob.device_id, PrintJob.created_at, PrintJob.id, PrintJob.next_attempt_at)
        .where(
            PrintJob.device_id.in_(device_ids),
            PrintJob.kind.in_(IN_ORDER_KINDS),
            PrintJob.status == "queued",
            PrintJob.next_attempt_at > now,
        )
        .order_by(PrintJob.created_at, PrintJob.id)
    )
    found: dict[uuid.UUID, tuple[tuple[datetime, uuid.UUID], datetime]] = {}
    for device_id, created_at, job_id, due in rows:
        if due is None:
            continue
        oldest, soonest = found.get(device_id, ((created_at, job_id), due))
        found[device_id] = (oldest, min(soonest, due))
    return found


def _kick_expired(kind: str, created_at: datetime, now: datetime) -> bool:
    return kind == "drawer_kick" and created_at < now - KICK_EXPIRES_AFTER


def _still_ours(claim: _Claim) -> ColumnElement[bool]:
    return and_(
        PrintJob.id == claim.job_id,
        PrintJob.status == "printing",
        PrintJob.next_attempt_at == claim.lease_until,
    )


async def _take(
    sessionmaker: async_sessionmaker[AsyncSession], claim: _Claim, lease: timedelta
) -> _Claim | None:
    """Renew the claim on one job just before sending it; None when it must not be sent.

    A round sends its jobs one after another, and slow printers can make it outlast the
    lease taken for the whole batch: by then another deliverer may have claimed the rest,
    or a manager may have cancelled them (printer removed). Sending only what this
    deliverer still holds is what keeps a ticket or a drawer kick from going out twice,
    or after it was cancelled. A drawer kick past its minute is failed here, not sent.
    """
    now = utc_now()
    async with write_intent(), sessionmaker() as session, session.begin():
        if _kick_expired(claim.kind, claim.created_at, now):
            await session.execute(
                update(PrintJob)
                .where(_still_ours(claim))
                .values(status="failed", next_attempt_at=None, last_error=KICK_EXPIRED)
            )
            return None
        renewed = now + lease
        taken = await session.execute(
            update(PrintJob).where(_still_ours(claim)).values(next_attempt_at=renewed)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return None
    return replace(claim, lease_until=renewed)


async def _finish(
    sessionmaker: async_sessionmaker[AsyncSession],
    claim: _Claim,
    error: str | None,
    max_attempts: int,
) -> bool:
    """Record one attempt (device first, then job: the lock order used everywhere);
    True when the job printed."""
    async with write_intent(), sessionmaker() as session, session.begin():
        device = await session.scalar(
            lock_for_update(select(HardwareDevice).where(HardwareDevice.id == claim.device_id))
        )
        job = await session.scalar(
            lock_for_update(select(PrintJob).where(PrintJob.id == claim.job_id))
        )
        if (
            device is None
            or job is None
            or job.status != "printing"
            or job.next_attempt_at != claim.lease_until
        ):
            return False  # cancelled (device removed), or no longer this deliverer's
        now = utc_now()
        job.attempts += 1
        if error is None:
            job.status = "printed"
            job.printed_at = now
            job.next_attempt_at = None
            job.last_error = None
            if job.kind == "kitchen_ticket" and job.source_id is not None:
                await session.execute(
                    update(KitchenTicket)
                    .where(
                        KitchenTicket.id == job.source_id,
                        KitchenTicket.restaurant_id == job.restaurant_id,
                    )
                    .values(print_count=KitchenTicket.print_count + 1, last_printed_at=now)
                )
            set_device_status(session, device, "online", None, now=now, seen=True)
            await release_backlog(session, device.id, now)
            return True
        job.last_error = error[:2000]
        if job.attempts >= max_attempts:
            job.status = "failed"
            job.next_attempt_at = None
            log.error("print_gave_up", job_id=str(job.id), attempts=job.attempts, error=error)
        else:
            job.status = "queued"
            job.next_attempt_at = now + retry_delay(job.attempts)
        set_device_status(session, device, "error", error[:2000], now=now, seen=False)
        return False


async def deliver_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    allow_loopback: bool = False,
) -> int:
    """Send the jobs that are due, each to its printer in the order they
    were queued; returns how many printed.

    When a printer fails, its other jobs in the same round record the same failure without
    another connection (a switched-off printer costs one timeout per round, not one per
    job). A printer that prints releases its backlog, which goes in the next round.
    """
    lease = max(timedelta(seconds=30), timedelta(seconds=timeout_seconds * 3))
    printed = 0
    for _ in range(MAX_ROUNDS):
        claimed = await _claim(sessionmaker, lease)
        if not claimed:
            break
        down: dict[uuid.UUID, str] = {}
        printed_now = 0
        for claimed_job in claimed:
            claim = await _take(sessionmaker, claimed_job, lease)
            if claim is None:
                continue
            error = down.get(claim.device_id)
            if error is None:
                try:
                    await send_payload(
                        claim.host,
                        claim.port,
                        claim.payload,
                        timeout_seconds=timeout_seconds,
                        allow_loopback=allow_loopback,
                    )
                except PrinterUnreachable as exc:
                    error = down[claim.device_id] = str(exc)
                    log.warning("print_failed", job_id=str(claim.job_id), error=error)
            if await _finish(sessionmaker, claim, error, max_attempts):
                printed_now += 1
        printed += printed_now
        if not printed_now and len(claimed) < BATCH:
            break
    return printed


async def deliver_with_settings(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> int:
    return await deliver_due(
        sessionmaker,
        timeout_seconds=settings.printer_timeout_seconds,
        max_attempts=settings.print_max_attempts,
        allow_loopback=settings.printers_may_use_loopback,
    )


class PrintDeliverer:
    """The API process's print loop: at once when a commit queued jobs, else every
    ``print_poll_seconds`` (retries come due by time, not by a commit)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._wake: asyncio.Event | None = None

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def deliver_once(self) -> int:
        return await deliver_with_settings(self._sessionmaker, self._settings)

    async def run(self) -> None:
        self._wake = asyncio.Event()
        _wakers.add(self.wake)
        try:
            while True:
                self._wake.clear()
                try:
                    await self.deliver_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("print_delivery_failed")
                await wait_for_wake(self._wake, self._settings.print_poll_seconds)
        finally:
            _wakers.discard(self.wake)
