"""Payments: tenders against orders, QR payments, refunds, provider webhooks, cash drawers
and gift cards. Every amount is integer minor units in the order's currency."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from fynlo.db.base import RecordModel
from fynlo.db.types import MoneyMinor

# The spec's methods, plus QR (open banking) and UPI (Razorpay) as tenders of their own.
PAYMENT_METHODS = ("cash", "card", "applePay", "googlePay", "giftCard", "qrCode", "upi")
# The spec's statuses plus the ones a card or a late QR confirmation needs: requires_action
# (3-D Secure), cancelled, held (money received but not applied: to be refunded) and
# partially_refunded.
PAYMENT_STATUSES = (
    "pending",
    "processing",
    "requires_action",
    "completed",
    "failed",
    "cancelled",
    "held",
    "partially_refunded",
    "refunded",
)
QR_STATUSES = ("pending", "completed", "expired", "cancelled")
REFUND_STATUSES = ("pending", "completed", "failed")
DRAWER_MOVEMENTS = ("float", "sale", "refund", "paid_in", "paid_out")
GIFT_CARD_ENTRIES = ("issue", "load", "redeem", "refund", "adjust")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class QrPayment(RecordModel):
    __tablename__ = "qr_payments"
    __table_args__ = (
        Index("ix_qr_payments_restaurant_id_order_id", "restaurant_id", "order_id"),
        Index("ix_qr_payments_status_expires_at", "status", "expires_at"),
        UniqueConstraint("reference"),
        UniqueConstraint("provider", "provider_payment_id"),
        CheckConstraint(_in("status", QR_STATUSES), name="status_valid"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "late_outcome IS NULL OR late_outcome IN ('accepted', 'refund_due')",
            name="late_outcome_valid",
        ),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"))
    reference: Mapped[str] = mapped_column(String(40))
    qr_code_data: Mapped[str] = mapped_column(Text)
    amount_minor: Mapped[int] = mapped_column(MoneyMinor())
    tip_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    expires_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    customer_bank_reference: Mapped[str | None] = mapped_column(String(255))
    fee_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    net_minor: Mapped[int] = mapped_column(MoneyMinor())
    provider: Mapped[str] = mapped_column(String(30))
    provider_payment_id: Mapped[str | None] = mapped_column(String(255))
    authorisation_url: Mapped[str | None] = mapped_column(Text)
    # A confirmation that came after expiry or cancellation: applied ("accepted") when the
    # order still owed it, else kept as a held payment to refund ("refund_due").
    late_outcome: Mapped[str | None] = mapped_column(String(20))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    cancelled_at: Mapped[datetime | None]
    extensions: Mapped[int] = mapped_column(default=0, server_default="0")
    version: Mapped[int] = mapped_column(default=1, server_default="1")


class Payment(RecordModel):
    """One tender against one order. ``amount_minor`` goes toward the order's total;
    ``tip_minor`` is on top and never counts against what the order owes."""

    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_restaurant_id_order_id", "restaurant_id", "order_id"),
        Index("ix_payments_restaurant_id_created_at", "restaurant_id", "created_at"),
        UniqueConstraint("provider", "provider_payment_id"),
        CheckConstraint(_in("status", PAYMENT_STATUSES), name="status_valid"),
        CheckConstraint(_in("method", PAYMENT_METHODS), name="method_valid"),
        CheckConstraint("amount_minor >= 0 AND tip_minor >= 0", name="amounts_not_negative"),
        CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= amount_minor + tip_minor",
            name="refund_within_paid",
        ),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"))
    qr_payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("qr_payments.id"))
    method: Mapped[str] = mapped_column(String(20))
    provider: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(MoneyMinor())
    tip_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    fee_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    net_minor: Mapped[int] = mapped_column(MoneyMinor())
    refunded_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    cash_received_minor: Mapped[int | None] = mapped_column(MoneyMinor())
    change_minor: Mapped[int | None] = mapped_column(MoneyMinor())
    transaction_id: Mapped[str | None] = mapped_column(String(255))
    provider_payment_id: Mapped[str | None] = mapped_column(String(255))
    provider_order_id: Mapped[str | None] = mapped_column(String(255))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    last_4_digits: Mapped[str | None] = mapped_column(String(4))
    card_brand: Mapped[str | None] = mapped_column(String(50))
    wallet: Mapped[str | None] = mapped_column(String(20))
    client_secret: Mapped[str | None] = mapped_column(String(255))
    failure_code: Mapped[str | None] = mapped_column(String(100))
    failure_message: Mapped[str | None] = mapped_column(Text)
    is_refundable: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # How the bill was split for this tender: {"type": "items", "itemIds": [...]} or
    # {"type": "equal", "shares": 3}; None for a plain amount.
    split: Mapped[dict[str, Any] | None] = mapped_column()
    extra: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    drawer_session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("cash_drawer_sessions.id")
    )
    gift_card_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("gift_cards.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    completed_at: Mapped[datetime | None]
    # The provider's own time of the last state it reported, so an older webhook that
    # arrives late cannot undo a newer state.
    provider_updated: Mapped[int | None]
    version: Mapped[int] = mapped_column(default=1, server_default="1")


class PaymentRefund(RecordModel):
    __tablename__ = "payment_refunds"
    __table_args__ = (
        Index("ix_payment_refunds_restaurant_id_payment_id", "restaurant_id", "payment_id"),
        Index("ix_payment_refunds_restaurant_id_created_at", "restaurant_id", "created_at"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(_in("status", REFUND_STATUSES), name="status_valid"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"))
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"))
    method: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(MoneyMinor())
    reason: Mapped[str | None] = mapped_column(Text)
    # [{"itemId": ..., "quantity": n}] when refunded by items.
    items: Mapped[list[Any]] = mapped_column(default=list)
    restock: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(20), default="pending")
    provider_refund_id: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(20), default="pos")  # pos | provider
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class PaymentProviderEvent(RecordModel):
    """Every webhook a provider sent, once: the unique key drops redeliveries, and the
    outcome says what it did (applied, duplicate, stale, unmatched, flagged)."""

    __tablename__ = "payment_provider_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id"),
        Index("ix_payment_provider_events_restaurant_id", "restaurant_id"),
    )

    provider: Mapped[str] = mapped_column(String(30))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(100))
    restaurant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments.id"))
    qr_payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("qr_payments.id"))
    outcome: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str | None] = mapped_column(Text)
    provider_created: Mapped[int | None]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CashDrawerSession(RecordModel):
    __tablename__ = "cash_drawer_sessions"
    __table_args__ = (
        Index("ix_cash_drawer_sessions_restaurant_id_opened_at", "restaurant_id", "opened_at"),
        # One open session per drawer: the second "open" loses on this index.
        Index(
            "uq_cash_drawer_sessions_open_drawer",
            "restaurant_id",
            "drawer",
            unique=True,
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        CheckConstraint("status IN ('open', 'closed')", name="status_valid"),
        CheckConstraint("float_minor >= 0", name="float_not_negative"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    drawer: Mapped[str] = mapped_column(String(50), default="main")
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10), default="open")
    float_minor: Mapped[int] = mapped_column(MoneyMinor())
    opened_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime]
    closed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime | None]
    expected_minor: Mapped[int | None] = mapped_column(MoneyMinor())
    counted_minor: Mapped[int | None] = mapped_column(MoneyMinor())
    variance_minor: Mapped[int | None] = mapped_column(MoneyMinor())
    notes: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1, server_default="1")


class CashMovement(RecordModel):
    """Cash into (positive) or out of (negative) a drawer; the expected amount at close
    is the sum of a session's movements."""

    __tablename__ = "cash_movements"
    __table_args__ = (
        Index("ix_cash_movements_restaurant_id_session_id", "restaurant_id", "session_id"),
        CheckConstraint(_in("kind", DRAWER_MOVEMENTS), name="kind_valid"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cash_drawer_sessions.id"))
    kind: Mapped[str] = mapped_column(String(20))
    amount_minor: Mapped[int] = mapped_column(MoneyMinor())
    reason: Mapped[str | None] = mapped_column(Text)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments.id"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class GiftCard(RecordModel):
    __tablename__ = "gift_cards"
    __table_args__ = (
        UniqueConstraint("restaurant_id", "code"),
        CheckConstraint("balance_minor >= 0", name="balance_not_negative"),
        CheckConstraint("status IN ('active', 'disabled')", name="status_valid"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    code: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    balance_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    initial_minor: Mapped[int] = mapped_column(MoneyMinor(), default=0)
    status: Mapped[str] = mapped_column(String(10), default="active")
    expires_at: Mapped[datetime | None]
    issued_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(default=1, server_default="1")


class GiftCardEntry(RecordModel):
    """The append-only ledger: a card's balance is the sum of its entries."""

    __tablename__ = "gift_card_ledger"
    __table_args__ = (
        Index("ix_gift_card_ledger_restaurant_id_gift_card_id", "restaurant_id", "gift_card_id"),
        CheckConstraint(_in("kind", GIFT_CARD_ENTRIES), name="kind_valid"),
        CheckConstraint("balance_after_minor >= 0", name="balance_not_negative"),
    )

    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    gift_card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gift_cards.id"))
    kind: Mapped[str] = mapped_column(String(10))
    amount_minor: Mapped[int] = mapped_column(MoneyMinor())
    balance_after_minor: Mapped[int] = mapped_column(MoneyMinor())
    payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments.id"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(Text)
