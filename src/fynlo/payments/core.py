"""What every tender shares: the order locked, what it still owes, fees, applying a
completed payment to the order, events and audit.

Lock order: the order row first, then the payment (or QR payment, gift card) rows, in every
path, so concurrent tenders, refunds and webhooks never deadlock.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload, selectinload

from fynlo.audit.service import AuditActor, record
from fynlo.authz.context import restaurant_settings
from fynlo.db.locking import lock_for_update
from fynlo.db.types import utc_now
from fynlo.events.outbox import emit
from fynlo.floor.service import release_if_free
from fynlo.kit.errors import Conflict, FynloError, ResourceNotFound, Unprocessable
from fynlo.kit.money import round_half_up, to_major
from fynlo.models import Order, Payment, QrPayment, Restaurant
from fynlo.orders import state as order_state
from fynlo.orders.events import emit_order_event
from fynlo.payments import state
from fynlo.payments.fees import FeeRule
from fynlo.payments.providers.base import ProviderUnavailable

# Orders that take no more tenders.
CLOSED = frozenset({"cancelled", "completed"})


class Overpayment(Conflict):
    code = "overpayment"

    def __init__(self, order: Order, amount: int, available: int, reserved: int) -> None:
        c = order.currency
        message = (
            f"Order {order.order_number} owes {to_major(available, c)}; a payment of "
            f"{to_major(amount, c)} would take it past its total"
            if amount > 0
            else f"Order {order.order_number} owes nothing more"
        )
        if reserved:
            message += f" ({to_major(reserved, c)} is held by payments still in progress)"
        super().__init__(
            message,
            details={
                "amountDue": float(to_major(available, c)),
                "heldByPaymentsInProgress": float(to_major(reserved, c)),
            },
        )


class OrderNotPayable(Conflict):
    code = "order_not_payable"

    def __init__(self, order: Order) -> None:
        super().__init__(
            f"Order {order.order_number} is {order.status}; it takes no more payments",
            details={"status": order.status, "paymentStatus": order.payment_status},
        )


class PaymentDeclined(FynloError):
    """The provider refused the payment: the attempt is kept (committed) for the record."""

    status_code = 402
    code = "payment_declined"
    commit_changes = True


class ProviderUnavailableError(FynloError):
    status_code = 503
    code = "payment_provider_unavailable"


@contextlib.contextmanager
def provider_answer(provider: str) -> Iterator[None]:
    """A provider that did not answer is a 503 telling the caller to retry with the same
    ``Idempotency-Key`` (which the provider de-duplicates), never a 500."""
    try:
        yield
    except ProviderUnavailable as exc:
        raise ProviderUnavailableError(
            f"{provider} did not answer ({exc.message}); retry with the same Idempotency-Key: "
            "it will not charge or refund twice",
            details={"provider": provider},
        ) from exc


async def lock_order(
    session: AsyncSession,
    restaurant_id: uuid.UUID,
    order_id: uuid.UUID,
    *,
    items: bool = False,
) -> Order:
    """The order, locked. Its items are loaded only when asked for (splits and refunds by
    item): most tenders never read them, and a forgotten load fails loudly, not quietly."""
    query = select(Order).where(Order.restaurant_id == restaurant_id, Order.id == order_id)
    query = query.options(selectinload(Order.items) if items else raiseload(Order.items))
    order = await session.scalar(lock_for_update(query).execution_options(populate_existing=True))
    if order is None:
        raise ResourceNotFound("Order", order_id)
    return order


async def reserved(
    session: AsyncSession, order: Order, *, except_qr: uuid.UUID | None = None
) -> int:
    """Amounts held by tenders still in flight: card payments awaiting 3-D Secure or the
    provider, and QR codes a customer may still pay."""
    in_flight = await session.scalar(
        select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
            Payment.restaurant_id == order.restaurant_id,
            Payment.order_id == order.id,
            Payment.status.in_(state.IN_FLIGHT),
        )
    )
    qr = select(func.coalesce(func.sum(QrPayment.amount_minor), 0)).where(
        QrPayment.restaurant_id == order.restaurant_id,
        QrPayment.order_id == order.id,
        QrPayment.status == "pending",
        QrPayment.expires_at > utc_now(),
    )
    if except_qr is not None:
        qr = qr.where(QrPayment.id != except_qr)
    return int(in_flight or 0) + int(await session.scalar(qr) or 0)


async def check_payable(
    session: AsyncSession,
    order: Order,
    amount: int,
    *,
    except_qr: uuid.UUID | None = None,
    held: int | None = None,
) -> None:
    """``held``: what in-flight tenders hold, when the caller already read it."""
    if order.status in CLOSED:
        raise OrderNotPayable(order)
    if amount <= 0:
        raise Unprocessable(
            "amount must be greater than zero",
            details=[{"field": "amount", "message": "must be greater than 0"}],
        )
    if held is None:
        held = await reserved(session, order, except_qr=except_qr)
    available = state.owed(order) - held
    if amount > available:
        raise Overpayment(order, amount, max(available, 0), held)


def check_currency(order: Order, currency: str | None) -> None:
    if currency is not None and currency.upper() != order.currency:
        raise Unprocessable(
            f"Order {order.order_number} is in {order.currency}, not {currency.upper()}",
            details=[{"field": "currency", "message": f"must be {order.currency}"}],
        )


@dataclass(frozen=True)
class Split:
    type: str  # "amount" | "equal" | "items"
    shares: int | None = None
    item_ids: tuple[uuid.UUID, ...] = ()


async def split_amount(session: AsyncSession, order: Order, split: Split) -> int:
    """What one share of the bill comes to, computed by the server.

    ``equal``: the order's total (its own tip included) in ``shares`` parts, the remainder
    going one minor unit at a time to the earlier shares: the share asked for is the next
    unpaid one. ``items``: the chosen items' totals, scaled so that the order's discount and
    service charge fall on them pro rata; an item already paid for by items is refused.
    """
    if split.type == "equal":
        shares = split.shares or 0
        if not 2 <= shares <= 50:
            raise Unprocessable(
                "split.shares must be between 2 and 50",
                details=[{"field": "split.shares", "message": "between 2 and 50"}],
            )
        taken = await session.scalar(
            select(func.count()).where(
                Payment.restaurant_id == order.restaurant_id,
                Payment.order_id == order.id,
                Payment.status.in_(state.APPLIED | state.IN_FLIGHT),
            )
        )
        index = min(int(taken or 0), shares - 1)
        base, remainder = divmod(order.total_minor, shares)
        return base + (1 if index < remainder else 0)
    if split.type == "items":
        if not split.item_ids:
            raise Unprocessable(
                "split.itemIds must name at least one item",
                details=[{"field": "split.itemIds", "message": "at least one item"}],
            )
        active = {i.id: i for i in order.items if not i.is_voided}
        unknown = [str(i) for i in split.item_ids if i not in active]
        if unknown:
            raise Unprocessable(
                f"Items {', '.join(unknown)} are not on order {order.order_number}",
                details=[{"field": "split.itemIds", "message": "unknown item", "items": unknown}],
            )
        paid = await items_already_paid(session, order)
        overlap = sorted(str(i) for i in split.item_ids if i in paid)
        if overlap:
            raise Conflict(
                f"Items {', '.join(overlap)} of order {order.order_number} are already paid",
                details={"itemIds": overlap},
            )
        goods = sum(i.total_minor for i in active.values())
        chosen = sum(active[i].total_minor for i in set(split.item_ids))
        if goods <= 0:
            return 0
        return round_half_up(Fraction(chosen * (order.total_minor - order.tip_minor), goods))
    raise Unprocessable(
        "split.type must be one of amount, equal, items",
        details=[{"field": "split.type", "message": "amount, equal or items"}],
    )


async def items_already_paid(session: AsyncSession, order: Order) -> set[uuid.UUID]:
    rows = await session.scalars(
        select(Payment.split).where(
            Payment.restaurant_id == order.restaurant_id,
            Payment.order_id == order.id,
            Payment.status.in_(state.APPLIED | state.IN_FLIGHT),
            Payment.split.is_not(None),
        )
    )
    paid: set[uuid.UUID] = set()
    for split in rows:
        if split and split.get("type") == "items":
            paid.update(uuid.UUID(i) for i in split.get("itemIds", []))
    return paid


async def resolve_amount(
    session: AsyncSession, order: Order, amount: int | None, split: Split | None
) -> tuple[int, int | None]:
    """The tender's amount: as sent, or computed from the split (and then any amount sent
    must agree with it); with what in-flight tenders hold when that had to be read (pass it
    on to :func:`check_payable`)."""
    if split is None or split.type == "amount":
        if amount is None:
            held = await reserved(session, order)
            available = state.owed(order) - held
            if available <= 0 and order.status not in CLOSED:
                raise Overpayment(order, 0, 0, held)
            return available, held
        return amount, None
    computed = await split_amount(session, order, split)
    if amount is not None and amount != computed:
        raise Unprocessable(
            f"amount {to_major(amount, order.currency)} does not match this share of the bill, "
            f"{to_major(computed, order.currency)}",
            details=[
                {
                    "field": "amount",
                    "message": "does not match the split",
                    "expected": float(to_major(computed, order.currency)),
                }
            ],
        )
    return computed, None


def stored_split(split: Split | None) -> dict[str, Any] | None:
    if split is None or split.type == "amount":
        return None
    if split.type == "equal":
        return {"type": "equal", "shares": split.shares}
    return {"type": "items", "itemIds": [str(i) for i in split.item_ids]}


def new_payment(
    order: Order,
    *,
    method: str,
    provider: str,
    amount: int,
    tip: int,
    created_by: uuid.UUID | None,
    fee_rule: FeeRule | None = None,
    fee_minor: int | None = None,
    status: str = "pending",
    **values: Any,
) -> Payment:
    """A payment row; its fee from ``fee_rule``, or ``fee_minor`` when already stated."""
    gross = amount + tip
    fee = fee_minor if fee_minor is not None else (fee_rule or FeeRule()).fee(gross)
    return Payment(
        id=uuid.uuid4(),
        restaurant_id=order.restaurant_id,
        order_id=order.id,
        method=method,
        provider=provider,
        status=status,
        currency=order.currency,
        amount_minor=amount,
        tip_minor=tip,
        fee_minor=fee,
        net_minor=gross - fee,
        refunded_minor=0,
        created_by=created_by,
        **values,
    )


def payment_payload(payment: Payment, order: Order, **extra: Any) -> dict[str, Any]:
    c = payment.currency
    return {
        "paymentId": str(payment.id),
        "orderId": str(order.id),
        "orderNumber": order.order_number,
        "method": payment.method,
        "status": payment.status,
        "amount": float(to_major(payment.amount_minor, c)),
        "tipAmount": float(to_major(payment.tip_minor, c)),
        "feeAmount": float(to_major(payment.fee_minor, c)),
        "netAmount": float(to_major(payment.net_minor, c)),
        "currency": c,
        "orderPaymentStatus": order.payment_status,
        "amountDue": float(to_major(state.owed(order), order.currency)),
        **extra,
    }


async def audit_payment(
    session: AsyncSession,
    actor: AuditActor,
    action: str,
    payment: Payment,
    *,
    old_status: str | None = None,
    **new: Any,
) -> None:
    await record(
        session,
        actor,
        action=action,
        resource_type="payment",
        resource_id=payment.id,
        restaurant_id=payment.restaurant_id,
        old={"status": old_status} if old_status is not None else None,
        new={
            "status": payment.status,
            "method": payment.method,
            "orderId": str(payment.order_id),
            "amount": payment.amount_minor,
            "tip": payment.tip_minor,
            "fee": payment.fee_minor,
            **new,
        },
    )


async def apply_to_order(
    session: AsyncSession,
    restaurant: Restaurant,
    order: Order,
    payment: Payment,
    actor: AuditActor,
    *,
    old_status: str,
) -> None:
    """Mark ``payment`` completed and count it on ``order`` (both locked by the caller)."""
    state.check_payment(payment.status, "completed")
    payment.status = "completed"
    payment.completed_at = utc_now()
    payment.version += 1
    order.paid_minor += payment.amount_minor
    order.tender_tips_minor += payment.tip_minor
    order.payment_status = state.order_payment_status(order)
    order.version += 1
    emit(session, restaurant.id, "payment_received", payment_payload(payment, order))
    await audit_payment(session, actor, "payment.completed", payment, old_status=old_status)
    if state.owed(order) == 0:
        emit(
            session,
            restaurant.id,
            "payment_completed",
            payment_payload(
                payment, order, total=float(to_major(order.total_minor, order.currency))
            ),
        )
        await complete_if_due(session, restaurant, order, actor)


async def complete_if_due(
    session: AsyncSession, restaurant: Restaurant, order: Order, actor: AuditActor
) -> bool:
    """The restaurant's rule for a paid order (``posSettings.completeOrderWhenPaid``):
    ``"served"`` (default) completes it once it is ready or served, and frees its table;
    ``"never"`` leaves completion to staff."""
    settings = await restaurant_settings(session, restaurant)
    rule = (settings.pos_settings if settings else {}).get("completeOrderWhenPaid", "served")
    if rule == "never" or order.payment_status != "paid":
        return False
    if order.status not in ("ready", "served"):
        return False
    order_state.check_transition(order.status, "completed")
    previous = order.status
    order.status = "completed"
    order.completed_at = utc_now()
    order.version += 1
    emit_order_event(
        session, restaurant.id, "order_updated", order, previousStatus=previous, reason="paid"
    )
    await record(
        session,
        actor,
        action="order.status_changed",
        resource_type="order",
        resource_id=order.id,
        restaurant_id=restaurant.id,
        new={"orderNumber": order.order_number, "status": "completed", "previous": previous},
    )
    if order.table_id is not None:
        await release_if_free(session, restaurant.id, order.table_id, actor=actor)
    return True
