"""The tickets the kitchen was sent: listed per day, station or order, and reprinted.

A reprint prints the ticket as it was first sent (its items are a snapshot), marked as a
reprint, on the printers of its station; the print queue counts it once it has printed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import record
from fynlo.auth.subject import Subject
from fynlo.devices.queue import queue_ticket_prints
from fynlo.events.outbox import emit
from fynlo.kit.errors import Conflict, ResourceNotFound
from fynlo.kit.pagination import PageParams
from fynlo.kitchen.schemas import TicketOut
from fynlo.kitchen.tickets import ticket_payload
from fynlo.models import KitchenTicket
from fynlo.models.identity import Restaurant


class NoPrinterForStation(Conflict):
    code = "no_printer"

    def __init__(self, station: str) -> None:
        super().__init__(
            f"No active network printer takes tickets for station '{station}'; set one up "
            "under /api/hardware/devices (configuration.stations)",
            details={"station": station},
        )


def ticket_out(ticket: KitchenTicket) -> TicketOut:
    """The API's ticket: the fields its event carries, and how often it was printed."""
    return TicketOut.model_validate(
        {
            **ticket_payload(ticket),
            "printCount": ticket.print_count,
            "lastPrintedAt": ticket.last_printed_at,
        }
    )


class TicketLog:
    def __init__(self, session: AsyncSession, subject: Subject, restaurant: Restaurant) -> None:
        self.session = session
        self.subject = subject
        self.restaurant = restaurant

    def _scoped(self) -> Select[KitchenTicket]:
        return select(KitchenTicket).where(KitchenTicket.restaurant_id == self.restaurant.id)

    async def find(
        self,
        paging: PageParams,
        *,
        day: date | None,
        station: str | None,
        order_id: uuid.UUID | None,
        kind: str | None,
    ) -> tuple[Sequence[KitchenTicket], int]:
        query = self._scoped()
        if day is not None:
            query = query.where(KitchenTicket.business_date == day)
        if station is not None:
            query = query.where(KitchenTicket.station == station)
        if order_id is not None:
            query = query.where(KitchenTicket.order_id == order_id)
        if kind is not None:
            query = query.where(KitchenTicket.kind == kind)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery()))
        rows = await self.session.scalars(
            query.order_by(KitchenTicket.business_date.desc(), KitchenTicket.ticket_number.desc())
            .limit(paging.limit)
            .offset(paging.offset)
        )
        return rows.all(), total or 0

    async def get(self, ticket_id: uuid.UUID) -> KitchenTicket:
        ticket = await self.session.scalar(self._scoped().where(KitchenTicket.id == ticket_id))
        if ticket is None:
            raise ResourceNotFound("Kitchen ticket", ticket_id)
        return ticket

    async def reprint(self, ticket_id: uuid.UUID) -> tuple[KitchenTicket, int]:
        """Queue the ticket again on its station's printers; 409 when none is set up, so
        the kitchen is not told a ticket is on its way that no printer will print."""
        ticket = await self.get(ticket_id)
        jobs = await queue_ticket_prints(
            self.session, self.restaurant, [ticket], actor_id=self.subject.id, reprint=True
        )
        if not jobs:
            raise NoPrinterForStation(ticket.station)
        emit(
            self.session,
            self.restaurant.id,
            "kitchen_ticket",
            {**ticket_payload(ticket), "reprint": True},
        )
        await record(
            self.session,
            self.subject.actor,
            action="kitchen_ticket.reprinted",
            resource_type="kitchen_ticket",
            resource_id=ticket.id,
            restaurant_id=self.restaurant.id,
            new={
                "ticketNumber": ticket.ticket_number,
                "station": ticket.station,
                "printJobs": len(jobs),
            },
        )
        return ticket, len(jobs)
