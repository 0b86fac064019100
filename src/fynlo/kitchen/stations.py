"""Kitchen stations: set up by a manager, opened, paused and closed by the kitchen.

A station's ``code`` is what products and categories name in ``kitchenStation``, so it is
fixed once made. Closing a station sends its new items to the default station (see
:class:`fynlo.kitchen.tickets.StationRouter`); what it already has stays on its board.

Creating a station and moving the default are serialised per restaurant (see
:meth:`StationService._stations_lock`), so two managers doing so at once queue: both succeed
and the later one ends up with the default, never a clash on the unique indexes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import record
from fynlo.auth.subject import Subject
from fynlo.db.locking import lock_for_update, serialise
from fynlo.db.types import utc_now
from fynlo.events.outbox import emit
from fynlo.kit.errors import Conflict, ResourceNotFound, StaleVersion
from fynlo.kitchen.schemas import StationIn, StationOut, StationUpdate
from fynlo.kitchen.state import COOKING
from fynlo.models import KitchenStation, OrderItem
from fynlo.models.identity import Restaurant


def _view(station: KitchenStation) -> dict[str, Any]:
    return {
        "stationId": str(station.id),
        "code": station.code,
        "name": station.name,
        "status": station.status,
        "reason": station.status_reason,
        "isDefault": station.is_default,
    }


class StationService:
    def __init__(self, session: AsyncSession, subject: Subject, restaurant: Restaurant) -> None:
        self.session = session
        self.subject = subject
        self.restaurant = restaurant

    async def _active_items(self, codes: Sequence[str]) -> dict[str, int]:
        if not codes:
            return {}
        rows = await self.session.execute(
            select(OrderItem.kitchen_station, func.count())
            .where(
                OrderItem.restaurant_id == self.restaurant.id,
                OrderItem.kitchen_station.in_(codes),
                OrderItem.is_voided.is_(False),
                OrderItem.sent_to_kitchen_at.is_not(None),
                OrderItem.kitchen_status.in_(COOKING),
            )
            .group_by(OrderItem.kitchen_station)
        )
        return {str(code): int(count) for code, count in rows.all()}

    async def out(self, stations: Sequence[KitchenStation]) -> list[StationOut]:
        counts = await self._active_items([s.code for s in stations])
        return [
            StationOut(
                id=s.id,
                code=s.code,
                name=s.name,
                status=s.status,
                status_reason=s.status_reason,
                status_changed_at=s.status_changed_at,
                is_default=s.is_default,
                sort_order=s.sort_order,
                active_items=counts.get(s.code, 0),
                version=s.version,
            )
            for s in stations
        ]

    async def list(self) -> Sequence[KitchenStation]:
        rows = await self.session.scalars(
            select(KitchenStation)
            .where(KitchenStation.restaurant_id == self.restaurant.id)
            .order_by(KitchenStation.sort_order, KitchenStation.code)
        )
        return rows.all()

    async def _get(self, station_id: uuid.UUID, version: int | None = None) -> KitchenStation:
        station = await self.session.scalar(
            lock_for_update(
                select(KitchenStation).where(
                    KitchenStation.id == station_id,
                    KitchenStation.restaurant_id == self.restaurant.id,
                )
            ).execution_options(populate_existing=True)
        )
        if station is None:
            raise ResourceNotFound("Kitchen station", station_id)
        if version is not None and version != station.version:
            raise StaleVersion("Kitchen station", version, station.version)
        return station

    async def _stations_lock(self) -> None:
        """Serialise station creation and default moves of this restaurant.

        Row locks alone are not enough: they cover only the stations that already exist, so
        two requests inserting a new default station (or the first stations of a restaurant)
        would both pass and race on the unique indexes. PostgreSQL: a transaction-scoped
        advisory lock, taken before anything is read. SQLite write transactions already hold
        the database lock (write requests begin with ``BEGIN IMMEDIATE``).
        """
        await serialise(self.session, f"fynlo.kitchen_stations:{self.restaurant.id}")

    async def _take_default(self, station_id: uuid.UUID | None) -> None:
        """Only one default station: the previous one gives it up, with its own version,
        audit row and event. The caller holds :meth:`_stations_lock`; every station of the
        restaurant is then locked in id order, so a concurrent status change or removal of
        the previous default waits for this move (or this move for it)."""
        stations = await self.session.scalars(
            lock_for_update(
                select(KitchenStation)
                .where(KitchenStation.restaurant_id == self.restaurant.id)
                .order_by(KitchenStation.id)
            ).execution_options(populate_existing=True)
        )
        for previous in stations.all():
            if previous.is_default and previous.id != station_id:
                before = _view(previous)
                previous.is_default = False
                previous.version += 1
                await self.session.flush()
                await self._audit("kitchen_station.updated", previous, old=before)
                self._event(previous, previous=previous.status)

    async def _audit(
        self,
        action: str,
        station: KitchenStation,
        *,
        old: dict[str, Any] | None = None,
        gone: bool = False,
    ) -> None:
        await record(
            self.session,
            self.subject.actor,
            action=action,
            resource_type="kitchen_station",
            resource_id=station.id,
            restaurant_id=self.restaurant.id,
            old=_view(station) if gone else old,
            new=None if gone else _view(station),
        )

    async def create(self, body: StationIn) -> KitchenStation:
        # Before the code check too: two creates of one code queue, and the later one gets the
        # 409 naming `code` instead of a clash on the unique index.
        await self._stations_lock()
        taken = await self.session.scalar(
            select(KitchenStation.id).where(
                KitchenStation.restaurant_id == self.restaurant.id,
                KitchenStation.code == body.code,
            )
        )
        if taken is not None:
            raise Conflict(
                f"This restaurant already has a station with code '{body.code}'",
                details={"field": "code", "stationId": str(taken)},
            )
        if body.is_default:
            await self._take_default(None)
        station = KitchenStation(
            id=uuid.uuid4(),
            restaurant_id=self.restaurant.id,
            code=body.code,
            name=body.name,
            status=body.status,
            is_default=body.is_default,
            sort_order=body.sort_order,
            status_changed_at=utc_now(),
            version=1,
        )
        self.session.add(station)
        await self.session.flush()
        await self._audit("kitchen_station.created", station)
        self._event(station, previous=None)
        return station

    async def update(self, station_id: uuid.UUID, body: StationUpdate) -> KitchenStation:
        if body.is_default is True:
            # The restaurant's lock, then all rows in one order before this one, so concurrent
            # moves queue (the later one wins) and cannot deadlock.
            await self._stations_lock()
            await self._take_default(station_id)
        station = await self._get(station_id, body.version)
        before = _view(station)
        was = (station.name, station.sort_order, station.is_default)
        if body.name is not None:
            station.name = body.name
        if body.sort_order is not None:
            station.sort_order = body.sort_order
        if body.is_default is True:
            station.is_default = True
        elif body.is_default is False:
            station.is_default = False
        if (station.name, station.sort_order, station.is_default) == was:
            return station
        station.version += 1
        await self.session.flush()
        await self._audit("kitchen_station.updated", station, old=before)
        self._event(station, previous=station.status)
        return station

    async def set_status(
        self, station_id: uuid.UUID, status: str, reason: str | None, version: int | None
    ) -> KitchenStation:
        station = await self._get(station_id, version)
        previous = station.status
        if previous == status and station.status_reason == reason:
            return station
        before = _view(station)
        station.status = status
        station.status_reason = reason
        station.status_changed_at = utc_now()
        station.version += 1
        await self.session.flush()
        await self._audit("kitchen_station.status_changed", station, old=before)
        self._event(station, previous=previous)
        return station

    async def delete(self, station_id: uuid.UUID, version: int | None) -> KitchenStation:
        station = await self._get(station_id, version)
        cooking = (await self._active_items([station.code])).get(station.code, 0)
        if cooking:
            raise Conflict(
                f"Station '{station.code}' still has {cooking} item(s) to cook; "
                "bump them or close the station first",
                details={"activeItems": cooking},
            )
        await self._audit("kitchen_station.deleted", station, gone=True)
        self._event(station, previous=station.status, deleted=True)
        await self.session.delete(station)
        await self.session.flush()
        return station

    def _event(
        self, station: KitchenStation, *, previous: str | None, deleted: bool = False
    ) -> None:
        emit(
            self.session,
            self.restaurant.id,
            "kitchen_station_updated",
            {
                **_view(station),
                "previousStatus": previous,
                "sortOrder": station.sort_order,
                "deleted": deleted,
            },
        )
