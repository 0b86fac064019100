"""The table status machine: the one place that says which status may follow which."""

from __future__ import annotations

from enum import StrEnum

from fynlo.kit.errors import InvalidStateTransition


class TableStatus(StrEnum):
    AVAILABLE = "available"
    OCCUPIED = "occupied"
    RESERVED = "reserved"
    CLEANING = "cleaning"


TABLE_TRANSITIONS: dict[TableStatus, frozenset[TableStatus]] = {
    TableStatus.AVAILABLE: frozenset(
        {TableStatus.OCCUPIED, TableStatus.RESERVED, TableStatus.CLEANING}
    ),
    TableStatus.RESERVED: frozenset(
        {TableStatus.AVAILABLE, TableStatus.OCCUPIED, TableStatus.CLEANING}
    ),
    TableStatus.OCCUPIED: frozenset({TableStatus.CLEANING, TableStatus.AVAILABLE}),
    TableStatus.CLEANING: frozenset({TableStatus.AVAILABLE}),
}


def allowed_next(current: str) -> frozenset[TableStatus]:
    return TABLE_TRANSITIONS.get(TableStatus(current), frozenset())


def check_transition(current: str, requested: str) -> TableStatus:
    """The requested status, if the machine allows it from ``current``; a 409 listing the
    allowed next statuses otherwise (staying in the same status is not a transition)."""
    allowed = allowed_next(current)
    if requested not in allowed:
        raise InvalidStateTransition("Table", current, requested, [s.value for s in allowed])
    return TableStatus(requested)
