"""Gift card requests and responses. A card's code is a bearer credential: responses show it
masked (``•••• 7KQ2``), except the issue response, which shows it once in full."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, field_validator

from fynlo.db.types import utc_now
from fynlo.kit.money import MoneyOut
from fynlo.kit.schemas import RequestSchema, Schema
from fynlo.payments.ledgers import normalise_code

GiftCardStatus = Literal["active", "disabled"]
MAX_GIFT_CARD_AMOUNT = Decimal("10000.00")
CODE_MIN_LENGTH = 8
CODE_MAX_LENGTH = 32  # the column's width

GiftCardAmount = Annotated[
    Decimal,
    Field(
        gt=0,
        le=MAX_GIFT_CARD_AMOUNT,
        max_digits=12,
        decimal_places=3,
        description=f"More than 0, at most {MAX_GIFT_CARD_AMOUNT}",
    ),
]


class GiftCardIssue(RequestSchema):
    initial_amount: GiftCardAmount
    code: str | None = Field(
        default=None,
        min_length=CODE_MIN_LENGTH,
        max_length=64,
        pattern=r"^[A-Za-z0-9 -]+$",
        description=f"A pre-printed card's code ({CODE_MIN_LENGTH}-{CODE_MAX_LENGTH} letters "
        "and digits; spaces and dashes ignored, case-insensitive). Omit it and the server "
        "generates a 16-character code.",
    )
    expires_at: AwareDatetime | None = Field(default=None, description="In the future")

    @field_validator("code")
    @classmethod
    def _code_length(cls, value: str | None) -> str | None:
        if value is None:
            return None
        length = len(normalise_code(value))
        if not CODE_MIN_LENGTH <= length <= CODE_MAX_LENGTH:
            raise ValueError(
                f"must have {CODE_MIN_LENGTH} to {CODE_MAX_LENGTH} letters and digits "
                "(spaces and dashes do not count)"
            )
        return value

    @field_validator("expires_at")
    @classmethod
    def _in_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= utc_now():
            raise ValueError("must be in the future")
        return value


class GiftCardLoad(RequestSchema):
    amount: GiftCardAmount
    reason: str | None = Field(default=None, min_length=1, max_length=500)


class GiftCardDisable(RequestSchema):
    reason: str = Field(min_length=1, max_length=500)


class GiftCardBalanceQuery(RequestSchema):
    code: str = Field(min_length=4, max_length=64)


class GiftCardEntryOut(Schema):
    id: uuid.UUID
    type: str = Field(description="issue, load, redeem, refund or adjust")
    amount: MoneyOut = Field(description="Signed: a redemption is negative")
    balance_after: MoneyOut
    payment_id: uuid.UUID | None
    user_id: uuid.UUID | None
    reason: str | None
    created_at: datetime


class GiftCardOut(Schema):
    id: uuid.UUID
    masked_code: str = Field(examples=["•••• 7KQ2"])
    currency: str
    balance: MoneyOut
    initial_amount: MoneyOut
    status: str
    expires_at: datetime | None
    expired: bool
    issued_by: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime


class GiftCardDetailOut(GiftCardOut):
    entries: list[GiftCardEntryOut] = Field(description="The ledger, oldest first")


class GiftCardIssuedOut(GiftCardDetailOut):
    code: str = Field(description="The full code, shown here once; hand it to the customer")


class GiftCardBalanceOut(Schema):
    id: uuid.UUID
    masked_code: str
    balance: MoneyOut
    currency: str
    status: str
    expires_at: datetime | None
    expired: bool
    usable: bool = Field(description="Active and not expired: can pay for an order")
