"""Refunds back to the original tender: the provider for card, QR and UPI, the drawer for
cash, the card's balance for gift cards. Never more than was paid, even concurrently: the
order and then the payment are locked before the sum is checked."""

from __future__ import annotations

import uuid
from fractions import Fraction

from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.auth.subject import Subject
from fynlo.events.outbox import emit
from fynlo.inventory import ledger as stock
from fynlo.kit.errors import Conflict, Unprocessable
from fynlo.kit.money import round_half_up, to_major, to_minor
from fynlo.models import Order, Payment, PaymentRefund, Restaurant
from fynlo.models.inventory import MILLI
from fynlo.payments import core, state
from fynlo.payments.ledgers import cash_movement, gift_card_entry, lock_gift_card, open_drawer
from fynlo.payments.providers.base import ProviderError, RefundResult
from fynlo.payments.providers.registry import PaymentProviders
from fynlo.payments.schemas import RefundIn
from fynlo.payments.service import PaymentService, lock_payment, provider_key


class RefundExceedsPayment(Conflict):
    code = "refund_exceeds_payment"


class RefundService:
    def __init__(
        self,
        session: AsyncSession,
        subject: Subject,
        restaurant: Restaurant,
        providers: PaymentProviders,
        *,
        idempotency_key: str | None = None,
    ) -> None:
        self.session = session
        self.subject = subject
        self.restaurant = restaurant
        self.providers = providers
        self.idempotency_key = idempotency_key
        self.payments = PaymentService(session, subject, restaurant, providers)

    def _items_value(self, order: Order, body: RefundIn) -> int:
        """The chosen items' share of what was charged (discounts and service charge pro
        rata, as a split by items computes it)."""
        active = {i.id: i for i in order.items if not i.is_voided}
        goods = sum(i.total_minor for i in active.values())
        chosen = Fraction(0)
        for index, line in enumerate(body.items):
            item = active.get(line.item_id)
            if item is None:
                raise Unprocessable(
                    f"items.{index}.itemId is not an item of order {order.order_number}",
                    details=[{"field": f"items.{index}.itemId", "message": "unknown item"}],
                )
            if line.quantity > item.quantity:
                raise Unprocessable(
                    f"items.{index}.quantity: the order has {item.quantity} "
                    f"of '{item.product_name}'",
                    details=[
                        {"field": f"items.{index}.quantity", "message": f"at most {item.quantity}"}
                    ],
                )
            chosen += Fraction(item.total_minor * line.quantity, item.quantity)
        if goods <= 0:
            return 0
        return round_half_up(chosen * (order.total_minor - order.tip_minor) / goods)

    async def refund(self, payment_id: uuid.UUID, body: RefundIn) -> tuple[PaymentRefund, Payment]:
        self.subject.require("payments.refund")
        found = await self.payments.get(payment_id)
        order = await core.lock_order(
            self.session, self.restaurant.id, found.order_id, items=bool(body.items)
        )
        payment = await lock_payment(self.session, self.restaurant.id, payment_id)
        if payment.status not in state.CAPTURED or not payment.is_refundable:
            raise Conflict(
                f"A {payment.status} payment cannot be refunded",
                details={"status": payment.status},
            )
        refundable = payment.amount_minor + payment.tip_minor - payment.refunded_minor
        if body.items:
            wanted = min(self._items_value(order, body), refundable)
            if body.amount is not None:
                asked = to_minor(body.amount, order.currency)
                if asked > wanted:
                    raise Unprocessable(
                        f"amount {body.amount} is more than the items' value "
                        f"{to_major(wanted, order.currency)}",
                        details=[{"field": "amount", "message": "more than the items' value"}],
                    )
                wanted = asked
        elif body.amount is not None:
            wanted = to_minor(body.amount, order.currency)
        else:
            wanted = refundable
        if wanted <= 0:
            raise Unprocessable(
                "Nothing to refund: amount must be greater than zero",
                details=[{"field": "amount", "message": "must be greater than 0"}],
            )
        if wanted > refundable:
            raise RefundExceedsPayment(
                f"Only {to_major(refundable, order.currency)} of this payment is left to "
                f"refund; {to_major(wanted, order.currency)} was asked",
                details={"refundable": float(to_major(refundable, order.currency))},
            )
        refund = PaymentRefund(
            id=uuid.uuid4(),
            restaurant_id=self.restaurant.id,
            payment_id=payment.id,
            order_id=order.id,
            method=payment.method,
            currency=payment.currency,
            amount_minor=wanted,
            reason=body.reason,
            items=[{"itemId": str(i.item_id), "quantity": i.quantity} for i in body.items],
            restock=body.restock,
            status="pending",
            created_by=self.subject.id,
        )
        self.session.add(refund)
        await self.session.flush()
        await self._return_money(order, payment, refund)
        refund.status = "completed"
        book_refund(order, payment, wanted)
        if body.restock and body.items:
            await self._restock(order, body)
        emit(
            self.session,
            self.restaurant.id,
            "payment_refunded",
            core.payment_payload(
                payment,
                order,
                refundId=str(refund.id),
                refundAmount=float(to_major(wanted, order.currency)),
                reason=body.reason,
            ),
        )
        await core.audit_payment(
            self.session,
            self.subject.actor,
            "payment.refunded",
            payment,
            refund=str(refund.id),
            refundAmount=wanted,
            reason=body.reason,
            restock=body.restock,
        )
        return refund, payment

    async def _return_money(self, order: Order, payment: Payment, refund: PaymentRefund) -> None:
        if payment.method == "cash":
            drawer = await open_drawer(self.session, self.restaurant.id, "main")
            if payment.drawer_session_id is not None and drawer is None:
                raise Conflict(
                    "No cash drawer is open to pay this refund out of; open one first",
                    details={"drawer": "main"},
                )
            if drawer is not None:
                self.session.add(
                    cash_movement(
                        drawer,
                        "refund",
                        -refund.amount_minor,
                        user_id=self.subject.id,
                        payment_id=payment.id,
                        reason=refund.reason,
                    )
                )
            return
        if payment.method == "giftCard":
            assert payment.gift_card_id is not None
            card = await lock_gift_card(
                self.session, self.restaurant.id, card_id=payment.gift_card_id
            )
            gift_card_entry(
                self.session,
                card,
                "refund",
                refund.amount_minor,
                user_id=self.subject.id,
                payment_id=payment.id,
                reason=refund.reason,
            )
            return
        result = await self._provider_refund(payment, refund)
        refund.provider_refund_id = result.provider_refund_id
        if result.status == "failed":
            raise Conflict(
                "The provider refused the refund", details={"provider": payment.provider}
            )

    async def _provider_refund(self, payment: Payment, refund: PaymentRefund) -> RefundResult:
        provider = self.providers.by_name(payment.provider)
        if provider is None or not payment.provider_payment_id:
            raise Conflict(
                f"Refunds through {payment.provider} are not available on this server",
                details={"provider": payment.provider},
            )
        key = provider_key(self.restaurant, self.idempotency_key, refund.id)
        try:
            with core.provider_answer(payment.provider):
                return await provider.refund(
                    payment.provider_payment_id,
                    refund.amount_minor,
                    idempotency_key=f"{key}:refund",
                    reason=refund.reason,
                )
        except ProviderError as exc:
            raise Conflict(
                f"The provider refused the refund: {exc.message}",
                details={"provider": payment.provider, "code": exc.code},
            ) from exc

    async def _restock(self, order: Order, body: RefundIn) -> None:
        by_id = {i.id: i for i in order.items}
        quantities: dict[uuid.UUID, int] = {}
        names: dict[uuid.UUID, str] = {}
        for line in body.items:
            item = by_id[line.item_id]
            quantities[item.product_id] = quantities.get(item.product_id, 0) + line.quantity
            names[item.product_id] = item.product_name
        await stock.apply_many(
            self.session,
            self.restaurant.id,
            [
                stock.Movement(
                    product_id=product_id,
                    delta_milli=quantity * MILLI,
                    kind="cancel",
                    order_id=order.id,
                    user_id=self.subject.id,
                    reason=f"refund on order {order.order_number}",
                )
                for product_id, quantity in quantities.items()
            ],
            allow_negative=True,
            names=names,
        )


def book_refund(order: Order, payment: Payment, amount: int) -> None:
    """Count a refund on the payment and, for its non-tip part, on the order (tips are
    refunded last). A held payment never counted on the order, so only it changes."""
    amount_left = max(0, payment.amount_minor - payment.refunded_minor)
    toward_order = min(amount, amount_left)
    held = payment.status == "held"
    payment.refunded_minor += amount
    if not held:
        order.refunded_minor += toward_order
        order.payment_status = state.order_payment_status(order)
        order.version += 1
    total = payment.amount_minor + payment.tip_minor
    payment.status = "refunded" if payment.refunded_minor >= total else "partially_refunded"
    payment.version += 1
