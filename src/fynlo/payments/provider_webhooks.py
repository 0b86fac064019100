"""Webhooks from payment providers: verified on the raw body, recorded once per provider
event id (redeliveries are answered 200 and change nothing), then applied under the same
locks as a request. An event older than the state it would change is recorded as stale."""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import AuditActor
from fynlo.config import Settings
from fynlo.db.upsert import conflict_insert_for
from fynlo.kit.errors import BadRequest
from fynlo.models import Order, Payment, PaymentProviderEvent, PaymentRefund, QrPayment, Restaurant
from fynlo.payments import core, state
from fynlo.payments.providers.base import (
    BankPayment,
    BankProvider,
    CardProvider,
    ChargeResult,
    InvalidSignature,
    ProviderEvent,
    UpiProvider,
)
from fynlo.payments.providers.registry import PaymentProviders
from fynlo.payments.qr import QrService
from fynlo.payments.service import lock_payment, settle_in_flight

Source = Literal["stripe", "razorpay", "bank"]


class InvalidWebhookSignature(BadRequest):
    code = "invalid_signature"


async def handle(
    session: AsyncSession,
    providers: PaymentProviders,
    source: Source,
    body: bytes,
    headers: dict[str, str],
    actor: AuditActor,
    *,
    settings: Settings,
) -> str:
    provider: CardProvider | UpiProvider | BankProvider
    if source == "stripe":
        provider = providers.require_card()
    elif source == "razorpay":
        provider = providers.require_upi()
    else:
        provider = providers.require_bank()
    try:
        event = provider.parse_webhook(body, headers)
    except InvalidSignature as exc:
        raise InvalidWebhookSignature(
            f"The {source} webhook's signature does not verify", details={"reason": str(exc)}
        ) from exc
    insert = conflict_insert_for(session)
    record_id = await session.scalar(
        insert(PaymentProviderEvent)
        .values(
            id=uuid.uuid4(),
            provider=event.provider,
            event_id=event.event_id,
            event_type=event.event_type,
            outcome="received",
            provider_created=event.created,
            payload=event.payload,
        )
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(PaymentProviderEvent.id)
    )
    if record_id is None:
        return "duplicate"
    if source == "bank":
        outcome, restaurant_id, payment_id, qr_id = await _bank_event(
            session, providers, event, actor, settings
        )
    else:
        outcome, restaurant_id, payment_id = await _charge_event(session, event, actor)
        qr_id = None
    await session.execute(
        update(PaymentProviderEvent)
        .where(PaymentProviderEvent.id == record_id)
        .values(
            outcome=outcome,
            restaurant_id=restaurant_id,
            payment_id=payment_id,
            qr_payment_id=qr_id,
        )
    )
    return outcome


async def _restaurant(session: AsyncSession, restaurant_id: uuid.UUID) -> Restaurant:
    restaurant = await session.get(Restaurant, restaurant_id)
    assert restaurant is not None
    return restaurant


async def _charge_event(
    session: AsyncSession, event: ProviderEvent, actor: AuditActor
) -> tuple[str, uuid.UUID | None, uuid.UUID | None]:
    query = select(Payment).where(Payment.provider == event.provider)
    if event.provider_payment_id:
        found = await session.scalar(
            query.where(Payment.provider_payment_id == event.provider_payment_id)
        )
    else:
        found = None
    if found is None and event.provider_order_id:
        found = await session.scalar(
            query.where(Payment.provider_order_id == event.provider_order_id)
        )
    if found is None:
        return "unmatched", None, None
    restaurant = await _restaurant(session, found.restaurant_id)
    order = await core.lock_order(session, restaurant.id, found.order_id)
    payment = await lock_payment(session, restaurant.id, found.id)
    if (
        payment.provider_updated is not None
        and event.created < payment.provider_updated
        and event.kind in ("payment_succeeded", "payment_failed")
    ):
        return "stale", restaurant.id, payment.id
    if event.provider_payment_id and not payment.provider_payment_id:
        payment.provider_payment_id = event.provider_payment_id
        payment.transaction_id = event.provider_payment_id
    outcome: str
    if event.kind in ("payment_succeeded", "payment_failed"):
        result = ChargeResult(
            status="succeeded" if event.kind == "payment_succeeded" else "failed",
            provider_payment_id=event.provider_payment_id,
            raw_status=event.event_type,
            card_brand=event.card_brand,
            last4=event.last4,
            failure_code=event.failure_code,
            failure_message=event.failure_message,
        )
        if event.kind == "payment_succeeded" and payment.status in state.APPLIED | {"held"}:
            outcome = "already_applied"
        else:
            outcome = await settle_in_flight(session, restaurant, order, payment, result, actor)
    elif event.kind == "refunded":
        outcome = await _provider_refund(session, restaurant, order, payment, event, actor)
    elif event.kind == "dispute":
        payment.extra = {**payment.extra, "dispute": event.payload}
        payment.version += 1
        await core.audit_payment(session, actor, "payment.disputed", payment)
        outcome = "flagged"
    else:
        outcome = "ignored"
    payment.provider_updated = max(payment.provider_updated or 0, event.created)
    return outcome, restaurant.id, payment.id


async def _provider_refund(
    session: AsyncSession,
    restaurant: Restaurant,
    order: Order,
    payment: Payment,
    event: ProviderEvent,
    actor: AuditActor,
) -> str:
    """A refund the provider reports (ours echoed back, or one made in its dashboard):
    only the part we have not booked yet is recorded."""
    total = event.amount_refunded_minor or 0
    missing = min(total, payment.amount_minor + payment.tip_minor) - payment.refunded_minor
    if missing <= 0:
        return "already_applied"
    if payment.status not in state.CAPTURED:
        return "stale"
    refund = PaymentRefund(
        restaurant_id=restaurant.id,
        payment_id=payment.id,
        order_id=order.id,
        method=payment.method,
        currency=payment.currency,
        amount_minor=missing,
        reason="refunded at the provider",
        items=[],
        restock=False,
        status="completed",
        source="provider",
    )
    session.add(refund)
    from fynlo.payments.refunds import book_refund

    book_refund(order, payment, missing)
    await core.audit_payment(
        session, actor, "payment.refunded", payment, refundAmount=missing, source="provider"
    )
    return "refund_recorded"


async def _bank_event(
    session: AsyncSession,
    providers: PaymentProviders,
    event: ProviderEvent,
    actor: AuditActor,
    settings: Settings,
) -> tuple[str, uuid.UUID | None, uuid.UUID | None, uuid.UUID | None]:
    found = await session.scalar(
        select(QrPayment).where(
            QrPayment.provider == event.provider,
            QrPayment.provider_payment_id == event.provider_payment_id,
        )
    )
    if found is None:
        return "unmatched", None, None, None
    restaurant = await _restaurant(session, found.restaurant_id)
    service = QrService(session, restaurant, actor, settings, providers.bank)
    await core.lock_order(session, restaurant.id, found.order_id)
    qr = await service.get(found.id, lock=True)
    paid_at = event.payload.get("paidAt")
    bank = BankPayment(
        provider_payment_id=event.provider_payment_id or "",
        status="completed" if event.kind == "payment_succeeded" else "failed",
        bank_reference=event.payload.get("bankReference"),
        paid_at=int(paid_at) if paid_at else None,
        amount_minor=event.amount_minor,
        currency=event.currency,
    )
    if event.kind not in ("payment_succeeded", "payment_failed"):
        return "ignored", restaurant.id, None, qr.id
    payment = await service.apply_bank_state(qr, bank)
    if payment is None:
        outcome = "already_applied" if event.kind == "payment_succeeded" else "qr_cancelled"
        if event.kind == "payment_failed" and qr.status != "cancelled":
            outcome = "stale"
        return outcome, restaurant.id, None, qr.id
    return (
        ("applied" if payment.status == "completed" else "held"),
        restaurant.id,
        payment.id,
        qr.id,
    )
