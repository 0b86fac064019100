"""Taking tenders against an order: cash, card and wallets, gift cards, UPI; reading and
refreshing payments."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import AuditActor
from fynlo.auth.subject import Subject
from fynlo.authz.context import restaurant_settings
from fynlo.db.locking import lock_for_update
from fynlo.devices.queue import kick_drawer_for_cash_sale
from fynlo.events.outbox import emit
from fynlo.kit.errors import Conflict, ResourceNotFound, Unprocessable
from fynlo.kit.money import to_major, to_minor
from fynlo.kit.pagination import PageParams
from fynlo.models import Order, Payment, Restaurant
from fynlo.payments import core, state
from fynlo.payments.core import PaymentDeclined, Split
from fynlo.payments.ledgers import (
    cash_movement,
    check_usable,
    gift_card_entry,
    lock_gift_card,
    open_drawer,
)
from fynlo.payments.methods import require_enabled
from fynlo.payments.providers.base import (
    CardChargeRequest,
    ChargeResult,
    ProviderError,
)
from fynlo.payments.providers.registry import PaymentProviders
from fynlo.payments.schemas import (
    CardIn,
    CashIn,
    GiftCardTenderIn,
    SplitIn,
    TenderIn,
    UpiOrderIn,
    UpiVerifyIn,
    WalletIn,
)

CARD_METHODS = {"card", "applePay", "googlePay"}


def _split(value: SplitIn | None) -> Split | None:
    if value is None:
        return None
    return Split(type=value.type, shares=value.shares, item_ids=tuple(value.item_ids))


def provider_key(restaurant: Restaurant, idempotency_key: str | None, fallback: uuid.UUID) -> str:
    """The key sent on to the provider: the client's own ``Idempotency-Key`` when it sent
    one, so a retry after a timeout reaches the provider as the same request."""
    return f"fynlo:{restaurant.id}:{idempotency_key or fallback}"


class PaymentService:
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

    # --- reading ----------------------------------------------------------------------

    def _scoped(self) -> Select[Payment]:
        return select(Payment).where(Payment.restaurant_id == self.restaurant.id)

    async def get(self, payment_id: uuid.UUID) -> Payment:
        payment = await self.session.scalar(self._scoped().where(Payment.id == payment_id))
        if payment is None:
            raise ResourceNotFound("Payment", payment_id)
        return payment

    async def order_of(self, payment: Payment) -> Order:
        order = await self.session.get(Order, payment.order_id)
        assert order is not None  # a foreign key
        return order

    async def find(
        self,
        paging: PageParams,
        *,
        order_id: uuid.UUID | None,
        status: str | None,
        method: str | None,
    ) -> tuple[Sequence[Payment], int]:
        query = self._scoped()
        if order_id is not None:
            query = query.where(Payment.order_id == order_id)
        if status is not None:
            query = query.where(Payment.status == status)
        if method is not None:
            query = query.where(Payment.method == method)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery()))
        rows = await self.session.scalars(
            query.order_by(Payment.created_at.desc(), Payment.id)
            .limit(paging.limit)
            .offset(paging.offset)
        )
        return rows.all(), int(total or 0)

    # --- shared -----------------------------------------------------------------------

    async def _begin(self, body: TenderIn, method: str) -> tuple[Order, int, int]:
        """Lock the order and settle the tender's amount and tip (nothing written yet)."""
        require_enabled(self.restaurant, method)
        by_items = body.split is not None and body.split.type == "items"
        order = await core.lock_order(
            self.session, self.restaurant.id, body.order_id, items=by_items
        )
        core.check_currency(order, body.currency)
        if order.status in core.CLOSED:
            raise core.OrderNotPayable(order)
        sent = to_minor(body.amount, order.currency) if body.amount is not None else None
        amount, held = await core.resolve_amount(self.session, order, sent, _split(body.split))
        tip = to_minor(body.tip_amount, order.currency, field="tipAmount")
        await core.check_payable(self.session, order, amount, held=held)
        return order, amount, tip

    def _new(
        self,
        order: Order,
        body: TenderIn,
        method: str,
        provider: str,
        amount: int,
        tip: int,
        **values: Any,
    ) -> Payment:
        payment = core.new_payment(
            order,
            method=method,
            provider=provider,
            amount=amount,
            tip=tip,
            fee_rule=require_enabled(self.restaurant, method).fee,
            created_by=self.subject.id,
            split=core.stored_split(_split(body.split)),
            idempotency_key=self.idempotency_key,
            **values,
        )
        self.session.add(payment)
        return payment

    async def _apply(self, order: Order, payment: Payment, old_status: str) -> None:
        await core.apply_to_order(
            self.session, self.restaurant, order, payment, self.subject.actor, old_status=old_status
        )

    # --- cash -------------------------------------------------------------------------

    async def cash(self, body: CashIn) -> tuple[Payment, Order]:
        order, amount, tip = await self._begin(body, "cash")
        received = to_minor(body.cash_received, order.currency, field="cashReceived")
        due = amount + tip
        change = received - due
        if change < 0:
            raise Unprocessable(
                f"Cash received {to_major(received, order.currency)} is less than the "
                f"{to_major(due, order.currency)} due",
                details=[
                    {
                        "field": "cashReceived",
                        "message": "less than the amount due",
                        "due": float(to_major(due, order.currency)),
                    }
                ],
            )
        if body.change is not None:
            sent = to_minor(body.change, order.currency, field="change")
            if sent != change:
                raise Unprocessable(
                    f"Change is {to_major(change, order.currency)}, not {body.change}",
                    details=[
                        {
                            "field": "change",
                            "message": "does not match cashReceived - amount - tip",
                            "expected": float(to_major(change, order.currency)),
                        }
                    ],
                )
        drawer = await open_drawer(self.session, self.restaurant.id, body.drawer)
        settings = await restaurant_settings(self.session, self.restaurant)
        pos = settings.pos_settings if settings else {}
        if drawer is None and pos.get("requireOpenDrawerForCash"):
            raise Conflict(
                f"Cash drawer '{body.drawer}' is not open; open it with a float first",
                details={"drawer": body.drawer},
            )
        payment = self._new(
            order,
            body,
            "cash",
            "cash",
            amount,
            tip,
            cash_received_minor=received,
            change_minor=change,
            drawer_session_id=drawer.id if drawer else None,
        )
        await self.session.flush()
        if drawer is not None:
            self.session.add(
                cash_movement(
                    drawer,
                    "sale",
                    due,
                    user_id=self.subject.id,
                    payment_id=payment.id,
                    reason=f"order {order.order_number}",
                )
            )
        await self._apply(order, payment, "pending")
        await kick_drawer_for_cash_sale(
            self.session, self.restaurant, body.drawer, actor_id=self.subject.id
        )
        return payment, order

    # --- card and wallets (Stripe) ----------------------------------------------------

    async def card(self, body: CardIn) -> tuple[Payment, Order]:
        return await self._charge(
            body, "card", payment_method_id=body.payment_method_id, confirm=body.confirm_payment
        )

    async def wallet(self, body: WalletIn, method: str) -> tuple[Payment, Order]:
        wallet = "apple_pay" if method == "applePay" else "google_pay"
        return await self._charge(
            body,
            method,
            payment_method_id=body.payment_method_id,
            wallet=wallet,
            wallet_token=body.payment_data,
        )

    async def _charge(
        self,
        body: TenderIn,
        method: str,
        *,
        payment_method_id: str | None,
        confirm: bool = True,
        wallet: str | None = None,
        wallet_token: str | None = None,
    ) -> tuple[Payment, Order]:
        provider = self.providers.require_card()
        order, amount, tip = await self._begin(body, method)
        payment = self._new(order, body, method, provider.name, amount, tip, status="processing")
        await self.session.flush()
        request = CardChargeRequest(
            amount_minor=amount + tip,
            currency=order.currency,
            idempotency_key=provider_key(self.restaurant, self.idempotency_key, payment.id),
            metadata={
                "orderId": str(order.id),
                "orderNumber": order.order_number,
                "restaurantId": str(self.restaurant.id),
            },
            payment_method_id=payment_method_id,
            wallet=wallet,  # type: ignore[arg-type]
            wallet_token=wallet_token,
            confirm=confirm,
            description=f"{self.restaurant.name} order {order.order_number}",
        )
        try:
            with core.provider_answer(provider.name):
                result = await provider.charge(request)
        except ProviderError as exc:
            raise Unprocessable(
                f"The card provider refused the request: {exc.message}",
                details=[{"field": "paymentMethodId", "message": exc.code or exc.message}],
            ) from exc
        await self._record_charge(order, payment, result)
        return payment, order

    async def _record_charge(self, order: Order, payment: Payment, result: ChargeResult) -> None:
        old = payment.status
        payment.provider_payment_id = result.provider_payment_id
        payment.transaction_id = result.provider_payment_id
        if payment.provider == "stripe":
            payment.stripe_payment_intent_id = result.provider_payment_id
        payment.card_brand = result.card_brand or payment.card_brand
        payment.last_4_digits = result.last4 or payment.last_4_digits
        payment.wallet = result.wallet or payment.wallet
        if result.status == "succeeded":
            payment.client_secret = None
            await self._apply(order, payment, old)
            return
        if result.status == "requires_action":
            state.check_payment(payment.status, "requires_action")
            payment.status = "requires_action"
            payment.client_secret = result.client_secret
            payment.extra = {**payment.extra, "nextAction": result.next_action}
            await core.audit_payment(
                self.session, self.subject.actor, "payment.requires_action", payment, old_status=old
            )
            return
        if result.status == "processing":
            return
        state.check_payment(payment.status, "failed")
        payment.status = "failed"
        payment.failure_code = result.failure_code
        payment.failure_message = result.failure_message
        payment.is_refundable = False
        await core.audit_payment(
            self.session,
            self.subject.actor,
            "payment.failed",
            payment,
            old_status=old,
            failureCode=result.failure_code,
        )
        emit(
            self.session,
            self.restaurant.id,
            "payment_failed",
            core.payment_payload(payment, order, failureCode=result.failure_code),
        )
        raise PaymentDeclined(
            f"The payment was declined: {result.failure_message or result.failure_code}",
            details={
                "paymentId": str(payment.id),
                "declineCode": result.failure_code,
                "orderId": str(order.id),
            },
        )

    async def refresh(self, payment_id: uuid.UUID) -> tuple[Payment, Order]:
        """Ask the provider where an in-flight payment stands (after 3-D Secure, or when a
        webhook is late) and apply what it says."""
        payment = await self.get(payment_id)
        if payment.status not in state.IN_FLIGHT or not payment.provider_payment_id:
            return payment, await self.order_of(payment)
        provider = self.providers.by_name(payment.provider)
        if provider is None or not hasattr(provider, "retrieve"):
            raise Conflict(f"Payments by {payment.provider} cannot be refreshed here")
        with core.provider_answer(payment.provider):
            result = await provider.retrieve(payment.provider_payment_id)
        order = await core.lock_order(self.session, self.restaurant.id, payment.order_id)
        payment = await lock_payment(self.session, self.restaurant.id, payment.id)
        if payment.status in state.IN_FLIGHT:
            await settle_in_flight(
                self.session, self.restaurant, order, payment, result, self.subject.actor
            )
        return payment, order

    async def cancel(self, payment_id: uuid.UUID) -> tuple[Payment, Order]:
        """Give up an in-flight payment (a customer walked away from 3-D Secure): its amount
        stops holding the order's balance. Should the provider still report success later,
        the money is held for refund."""
        payment = await self.get(payment_id)
        order = await core.lock_order(self.session, self.restaurant.id, payment.order_id)
        payment = await lock_payment(self.session, self.restaurant.id, payment_id)
        old = payment.status
        state.check_payment(payment.status, "cancelled")
        payment.status = "cancelled"
        payment.is_refundable = False
        payment.version += 1
        await core.audit_payment(
            self.session, self.subject.actor, "payment.cancelled", payment, old_status=old
        )
        return payment, order

    # --- gift cards -------------------------------------------------------------------

    async def gift_card(self, body: GiftCardTenderIn) -> tuple[Payment, Order]:
        order, amount, tip = await self._begin(body, "giftCard")
        card = await lock_gift_card(self.session, self.restaurant.id, code=body.code)
        check_usable(card, order.currency)
        payment = self._new(
            order,
            body,
            "giftCard",
            "gift_card",
            amount,
            tip,
            gift_card_id=card.id,
            transaction_id=card.code[-4:],
        )
        await self.session.flush()
        gift_card_entry(
            self.session,
            card,
            "redeem",
            -(amount + tip),
            user_id=self.subject.id,
            payment_id=payment.id,
            reason=f"order {order.order_number}",
        )
        await self._apply(order, payment, "pending")
        return payment, order

    # --- UPI (Razorpay) ---------------------------------------------------------------

    async def upi_order(self, body: UpiOrderIn) -> tuple[Payment, Order, str]:
        provider = self.providers.require_upi()
        order, amount, tip = await self._begin(body, "upi")
        payment = self._new(order, body, "upi", provider.name, amount, tip, status="processing")
        await self.session.flush()
        try:
            with core.provider_answer(provider.name):
                created = await provider.create_order(
                    amount + tip,
                    order.currency,
                    receipt=str(payment.id)[:40],
                    notes={
                        "orderId": str(order.id),
                        "orderNumber": order.order_number,
                        "restaurantId": str(self.restaurant.id),
                    },
                    idempotency_key=provider_key(self.restaurant, self.idempotency_key, payment.id),
                )
        except ProviderError as exc:
            raise Unprocessable(
                f"Razorpay refused the order: {exc.message}",
                details=[{"field": "amount", "message": exc.code or exc.message}],
            ) from exc
        payment.provider_order_id = created.provider_order_id
        await core.audit_payment(self.session, self.subject.actor, "payment.created", payment)
        return payment, order, provider.key_id

    async def upi_verify(self, body: UpiVerifyIn) -> tuple[Payment, Order]:
        """The checkout's answer: the signature proves Razorpay made it for our order; the
        payment's own state is then read from Razorpay, never taken from the client."""
        provider = self.providers.require_upi()
        payment = await self.get(body.payment_id)
        if payment.provider_order_id != body.razorpay_order_id:
            raise Unprocessable(
                "razorpayOrderId is not the order created for this payment",
                details=[{"field": "razorpayOrderId", "message": "does not match the payment"}],
            )
        if not provider.verify_payment_signature(
            body.razorpay_order_id, body.razorpay_payment_id, body.razorpay_signature
        ):
            raise Unprocessable(
                "The Razorpay signature does not verify",
                details=[{"field": "razorpaySignature", "message": "invalid signature"}],
            )
        with core.provider_answer(provider.name):
            result = await provider.retrieve(body.razorpay_payment_id)
        order = await core.lock_order(self.session, self.restaurant.id, payment.order_id)
        payment = await lock_payment(self.session, self.restaurant.id, payment.id)
        if payment.status in state.IN_FLIGHT:
            payment.provider_payment_id = body.razorpay_payment_id
            payment.transaction_id = body.razorpay_payment_id
            await settle_in_flight(
                self.session, self.restaurant, order, payment, result, self.subject.actor
            )
        return payment, order


async def lock_payment(
    session: AsyncSession, restaurant_id: uuid.UUID, payment_id: uuid.UUID
) -> Payment:
    payment = await session.scalar(
        lock_for_update(
            select(Payment).where(Payment.restaurant_id == restaurant_id, Payment.id == payment_id)
        ).execution_options(populate_existing=True)
    )
    if payment is None:
        raise ResourceNotFound("Payment", payment_id)
    return payment


async def settle_in_flight(
    session: AsyncSession,
    restaurant: Restaurant,
    order: Order,
    payment: Payment,
    result: ChargeResult,
    actor: AuditActor,
) -> str:
    """Apply a provider's verdict on a payment that was in flight (or given up): a success
    that no longer fits the order (paid meanwhile by other means, or closed) is held for
    refund, never applied twice. Returns what it did."""
    old = payment.status
    if result.status == "succeeded":
        payment.card_brand = result.card_brand or payment.card_brand
        payment.last_4_digits = result.last4 or payment.last_4_digits
        fits = order.status not in core.CLOSED and payment.amount_minor <= state.owed(order)
        if old in ("cancelled", "failed") or not fits:
            if fits:
                # Given up here, paid there: the order still owes it, so it is accepted.
                payment.status = "processing"
                await core.apply_to_order(
                    session, restaurant, order, payment, actor, old_status=old
                )
                return "applied_late"
            state.check_payment(old, "held")
            payment.status = "held"
            payment.is_refundable = True
            payment.extra = {**payment.extra, "heldReason": "order already paid or closed"}
            payment.version += 1
            await core.audit_payment(session, actor, "payment.held", payment, old_status=old)
            return "held"
        await core.apply_to_order(session, restaurant, order, payment, actor, old_status=old)
        return "applied"
    if old not in state.IN_FLIGHT:
        return "stale"
    if result.status in ("failed", "canceled"):
        payment.status = "failed" if result.status == "failed" else "cancelled"
        payment.failure_code = result.failure_code
        payment.failure_message = result.failure_message
        payment.is_refundable = False
        payment.version += 1
        await core.audit_payment(
            session, actor, f"payment.{payment.status}", payment, old_status=old
        )
        if payment.status == "failed":
            emit(
                session,
                restaurant.id,
                "payment_failed",
                core.payment_payload(payment, order, failureCode=result.failure_code),
            )
        return payment.status
    if result.status == "requires_action" and old != "requires_action":
        payment.status = "requires_action"
        payment.client_secret = result.client_secret
        payment.version += 1
        return "requires_action"
    return "unchanged"
