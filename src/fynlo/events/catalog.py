"""Where each domain event goes: the Socket.IO event name, its rooms and its payload.

Rooms (the spec's, plus kitchen stations):

- ``restaurant:{restaurantId}``: every connection of the restaurant;
- ``{restaurantId}:{role}``: by role (``{id}:manager``, ``{id}:waiter``, ...);
- ``{restaurantId}:kitchen``: kitchen displays (anyone allowed to read the kitchen);
- ``{restaurantId}:station:{station}``: one kitchen station's display (``grill``, ``bar``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from fynlo.authz.roles import Role

MANAGER_ROLES = (Role.MANAGER, Role.RESTAURANT_OWNER)


def restaurant_room(restaurant_id: uuid.UUID | str) -> str:
    return f"restaurant:{restaurant_id}"


def role_room(restaurant_id: uuid.UUID | str, role: str) -> str:
    return f"{restaurant_id}:{role}"


def kitchen_room(restaurant_id: uuid.UUID | str) -> str:
    return f"{restaurant_id}:kitchen"


def station_room(restaurant_id: uuid.UUID | str, station: str) -> str:
    return f"{restaurant_id}:station:{station}"


class EventRecord(Protocol):
    """What publishing reads of an outbox event: an ``OutboxEvent`` row, or the dispatcher's
    lighter copy of one."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def restaurant_id(self) -> uuid.UUID: ...
    @property
    def event_type(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def sequence(self) -> int | None: ...


@dataclass(frozen=True)
class Delivery:
    """One Socket.IO emit: ``event`` with ``payload`` to the members of ``rooms``."""

    event: str
    rooms: tuple[str, ...]
    payload: dict[str, Any]


def envelope(event: EventRecord, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The event's own fields plus where it comes from: clients de-duplicate on
    ``eventId`` and resume with ``GET /api/events?after=<eventId>``."""
    return {
        **(event.payload if data is None else data),
        "eventId": str(event.id),
        "eventType": event.event_type,
        "sequence": event.sequence,
        "restaurantId": str(event.restaurant_id),
        "occurredAt": event.created_at.isoformat(),
    }


def deliveries(event: EventRecord) -> list[Delivery]:
    rid = event.restaurant_id
    kind = event.event_type
    if kind == "kitchen_order":
        out = [Delivery(kind, (kitchen_room(rid),), envelope(event))]
        items: list[dict[str, Any]] = list(event.payload.get("items") or [])
        stations = sorted({str(i["station"]) for i in items if i.get("station")})
        for station in stations:
            mine = [i for i in items if i.get("station") == station]
            data = {**event.payload, "items": mine, "station": station}
            out.append(Delivery(kind, (station_room(rid, station),), envelope(event, data)))
        return out
    if kind == "kitchen_ticket":
        station = str(event.payload.get("station") or "")
        ticket_rooms = [kitchen_room(rid)] + ([station_room(rid, station)] if station else [])
        return [Delivery(kind, tuple(ticket_rooms), envelope(event))]
    if kind == "kitchen_station_updated":
        return [Delivery(kind, (kitchen_room(rid), restaurant_room(rid)), envelope(event))]
    if kind in ("inventory_alert", "device_status"):
        rooms = tuple(role_room(rid, role) for role in MANAGER_ROLES)
        return [Delivery(kind, rooms, envelope(event))]
    return [Delivery(kind, (restaurant_room(rid),), envelope(event))]


def rooms_for(
    restaurant_id: uuid.UUID,
    role: str,
    permissions: frozenset[str],
    *,
    kitchen_display: bool = False,
    stations: Iterable[str] = (),
) -> list[str]:
    """The rooms a connection joins: only ever its own restaurant's. Kitchen staff always
    get the kitchen room; others allowed to read the kitchen only when the client says it
    is a kitchen display (``auth: {kitchenDisplay: true}`` or a list of ``stations``)."""
    rooms = [restaurant_room(restaurant_id), role_room(restaurant_id, role)]
    if role == Role.PLATFORM_OWNER:
        rooms += [role_room(restaurant_id, r) for r in MANAGER_ROLES]
    stations = list(stations)
    wants_kitchen = role == Role.KITCHEN_STAFF or kitchen_display or bool(stations)
    if "kitchen.read" in permissions and wants_kitchen:
        rooms.append(kitchen_room(restaurant_id))
        rooms += [station_room(restaurant_id, s) for s in stations]
    return rooms
