"""The order status machine: one transition table for both documents' states."""

from __future__ import annotations

from fynlo.kit.errors import InvalidStateTransition

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"confirmed", "preparing", "cancelled"}),
    "confirmed": frozenset({"preparing", "ready", "cancelled"}),
    "preparing": frozenset({"ready", "cancelled"}),
    "ready": frozenset({"served", "completed", "cancelled"}),
    "served": frozenset({"completed"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
}

OPEN = frozenset({"pending", "confirmed", "preparing", "ready", "served"})
# Once confirmed, the kitchen has the ticket: cancelling or removing items is a void.
SENT_TO_KITCHEN = frozenset({"confirmed", "preparing", "ready", "served"})


def allowed_next(status: str) -> list[str]:
    return sorted(TRANSITIONS.get(status, frozenset()))


def check_transition(current: str, requested: str) -> None:
    if requested not in TRANSITIONS.get(current, frozenset()):
        raise InvalidStateTransition("Order", current, requested, TRANSITIONS.get(current, ()))
