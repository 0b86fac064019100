"""Payment requests and responses, in the spec's shapes (amounts in major units)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, model_validator

from fynlo.kit.money import MoneyIn, MoneyOut
from fynlo.kit.schemas import RequestSchema, Schema


class SplitIn(RequestSchema):
    """How this tender splits the bill: a plain amount, one of ``shares`` equal parts, or
    the named items (the server computes the amount for the last two)."""

    type: Literal["amount", "equal", "items"]
    shares: int | None = Field(default=None, ge=2, le=50)
    item_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _complete(self) -> SplitIn:
        if self.type == "equal" and self.shares is None:
            raise ValueError("split.shares is required for an equal split")
        if self.type == "items" and not self.item_ids:
            raise ValueError("split.itemIds is required for a split by items")
        return self


class TenderIn(RequestSchema):
    order_id: uuid.UUID
    amount: MoneyIn | None = Field(
        default=None,
        description="Toward the order's total; defaults to what it still owes (or to the "
        "split's share). Tips are separate.",
    )
    tip_amount: MoneyIn = Field(
        default=Decimal(0), description="A tip on this tender, on top of amount"
    )
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    split: SplitIn | None = None


class CashIn(TenderIn):
    cash_received: MoneyIn
    change: MoneyIn | None = Field(
        default=None, description="Optional check: the change the till showed"
    )
    drawer: str = Field(default="main", min_length=1, max_length=50)


class CardIn(TenderIn):
    payment_method_id: str = Field(min_length=3, max_length=255, pattern=r"^pm_[A-Za-z0-9_]+$")
    confirm_payment: bool = True


class WalletIn(TenderIn):
    """Apple Pay / Google Pay: the wallet's token (``paymentData``, a Stripe ``tok_...``) or
    a payment method already made from it on the device."""

    payment_data: str | None = Field(default=None, min_length=3, max_length=4096)
    payment_method_id: str | None = Field(
        default=None, min_length=3, max_length=255, pattern=r"^pm_[A-Za-z0-9_]+$"
    )

    @model_validator(mode="after")
    def _one_source(self) -> WalletIn:
        if (self.payment_data is None) == (self.payment_method_id is None):
            raise ValueError("send exactly one of paymentData and paymentMethodId")
        return self


class GiftCardTenderIn(TenderIn):
    code: str = Field(min_length=4, max_length=32)


class UpiOrderIn(TenderIn):
    pass


class UpiVerifyIn(RequestSchema):
    payment_id: uuid.UUID
    razorpay_order_id: str = Field(min_length=3, max_length=100)
    razorpay_payment_id: str = Field(min_length=3, max_length=100)
    razorpay_signature: str = Field(min_length=8, max_length=256)


class RefundItemIn(RequestSchema):
    item_id: uuid.UUID
    quantity: int = Field(ge=1, le=999)


class RefundIn(RequestSchema):
    amount: MoneyIn | None = Field(
        default=None, description="Defaults to everything refundable (or the items' value)"
    )
    reason: str = Field(min_length=1, max_length=500)
    items: list[RefundItemIn] = Field(default_factory=list, max_length=100)
    restock: bool = False


class PaymentOut(Schema):
    id: uuid.UUID
    order_id: uuid.UUID
    method: str
    provider: str
    status: str
    currency: str
    amount: MoneyOut
    tip_amount: MoneyOut
    fee_amount: MoneyOut
    net_amount: MoneyOut
    refunded_amount: MoneyOut
    cash_received: MoneyOut | None = None
    change: MoneyOut | None = None
    transaction_id: str | None = None
    card_brand: str | None = None
    last_4_digits: str | None = None
    wallet: str | None = None
    requires_action: bool = False
    client_secret: str | None = None
    next_action: dict[str, Any] | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    qr_payment_id: uuid.UUID | None = None
    split: dict[str, Any] | None = None
    is_refundable: bool
    order_payment_status: str | None = None
    order_amount_due: MoneyOut | None = None
    created_at: datetime
    completed_at: datetime | None = None


class UpiOrderOut(Schema):
    payment: PaymentOut
    razorpay_order_id: str
    key_id: str
    amount_minor: int = Field(description="In paise, as Razorpay Checkout takes it")
    currency: str


class RefundOut(Schema):
    id: uuid.UUID
    payment_id: uuid.UUID
    order_id: uuid.UUID
    method: str
    status: str
    currency: str
    amount: MoneyOut
    reason: str | None
    items: list[dict[str, Any]]
    restock: bool
    provider_refund_id: str | None
    created_at: datetime
    payment: PaymentOut


class MethodOut(Schema):
    method: str
    label: str
    enabled: bool
    available: bool = Field(description="Enabled and its provider configured on this server")
    fee_percentage: float
    fee_fixed: float
    requires_auth: bool
    currency: str


class QrGenerateIn(RequestSchema):
    order_id: uuid.UUID
    amount: MoneyIn | None = Field(default=None, description="Defaults to what the order owes")
    tip_amount: MoneyIn = Decimal(0)
    currency: str | None = Field(default=None, min_length=3, max_length=3)


class QrGenerateOut(Schema):
    qr_payment_id: uuid.UUID
    qr_code_data: str
    amount: MoneyOut
    tip_amount: MoneyOut
    fee_amount: MoneyOut
    net_amount: MoneyOut
    currency: str
    expires_at: datetime
    payment_url: str = Field(description="The customer's payment page: what the QR image holds")
    image_svg_url: str
    image_png_url: str
    instructions: list[str]


class QrImageOut(Schema):
    payment_url: str
    svg: str
    png_base64: str


class QrStatusOut(Schema):
    qr_payment_id: uuid.UUID
    order_id: uuid.UUID
    status: str
    paid_at: datetime | None
    bank_reference: str | None
    amount: MoneyOut
    currency: str
    expires_at: datetime
    late_outcome: str | None
    payment_id: uuid.UUID | None


class QrExtendIn(RequestSchema):
    minutes: int = Field(default=15, ge=1, le=60)


class SettlementLine(Schema):
    method: str
    count: int
    gross: MoneyOut
    tips: MoneyOut
    fees: MoneyOut
    refunds: MoneyOut
    net: MoneyOut


class SettlementOut(Schema):
    date: str
    currency: str
    time_zone: str
    methods: list[SettlementLine]
    totals: SettlementLine
