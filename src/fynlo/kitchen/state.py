"""The kitchen status of one order item: pending → preparing → ready → served."""

from __future__ import annotations

from fynlo.kit.errors import InvalidStateTransition

ITEM_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"preparing", "ready"}),
    "preparing": frozenset({"pending", "ready"}),
    # ready → preparing is a recall: the dish goes back on the line.
    "ready": frozenset({"preparing", "served"}),
    "served": frozenset(),
}
# Items the kitchen is still working on.
COOKING = ("pending", "preparing")
# The spec's example body says "completed" for a dish the kitchen has finished.
ALIASES = {"completed": "ready"}


def check_item_transition(current: str, requested: str) -> None:
    if requested not in ITEM_TRANSITIONS.get(current, frozenset()):
        raise InvalidStateTransition(
            "Order item", current, requested, ITEM_TRANSITIONS.get(current, ())
        )
