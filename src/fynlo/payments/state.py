"""Payment and QR payment state machines, and an order's payment status from its totals."""

from __future__ import annotations

from fynlo.kit.errors import InvalidStateTransition
from fynlo.models import Order

PAYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"processing", "requires_action", "completed", "failed", "cancelled"}),
    "processing": frozenset({"requires_action", "completed", "failed", "cancelled", "held"}),
    "requires_action": frozenset({"processing", "completed", "failed", "cancelled"}),
    "completed": frozenset({"partially_refunded", "refunded"}),
    "held": frozenset({"partially_refunded", "refunded"}),
    "partially_refunded": frozenset({"partially_refunded", "refunded"}),
    # A provider may still report success after we gave up: applied or held, never lost.
    "failed": frozenset({"processing", "completed", "held"}),
    "cancelled": frozenset({"processing", "completed", "held"}),
    "refunded": frozenset(),
}
# Money is with the restaurant in these states (a refund may take it back).
CAPTURED = frozenset({"completed", "held", "partially_refunded"})
# Counted toward the order's paid amount.
APPLIED = frozenset({"completed", "partially_refunded", "refunded"})
# Not yet decided at the provider: they hold their amount against the order's balance.
IN_FLIGHT = frozenset({"pending", "processing", "requires_action"})

QR_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"completed", "expired", "cancelled"}),
    "completed": frozenset(),
    # Paid after all: accepted late when the order still owed it.
    "expired": frozenset({"completed"}),
    "cancelled": frozenset({"completed"}),
}


def check_payment(current: str, requested: str) -> None:
    if requested not in PAYMENT_TRANSITIONS.get(current, frozenset()):
        raise InvalidStateTransition(
            "Payment", current, requested, PAYMENT_TRANSITIONS.get(current, ())
        )


def check_qr(current: str, requested: str) -> None:
    if requested not in QR_TRANSITIONS.get(current, frozenset()):
        raise InvalidStateTransition(
            "QR payment", current, requested, QR_TRANSITIONS.get(current, ())
        )


def owed(order: Order) -> int:
    """What the order still owes toward its total (tenders' own tips aside)."""
    return max(0, order.total_minor - order.paid_minor + order.refunded_minor)


def order_payment_status(order: Order) -> str:
    net = order.paid_minor - order.refunded_minor
    if order.refunded_minor > 0:
        return "refunded" if net <= 0 else "partially_refunded"
    if order.paid_minor <= 0:
        return "unpaid"
    return "paid" if net >= order.total_minor else "partially_paid"
