"""Cash drawer requests and responses (amounts in major units, camelCase on the wire)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from fynlo.kit.money import MoneyIn, MoneyOut
from fynlo.kit.schemas import RequestSchema, Schema

DrawerStatus = Literal["open", "closed"]
MovementType = Literal["paid_in", "paid_out"]

# Cash put into or taken out of a drawer by hand: something, and less than the till's
# amount ceiling (MoneyIn's).
PositiveMoneyIn = Annotated[
    Decimal, Field(gt=0, le=Decimal("9999999.99"), max_digits=12, decimal_places=3)
]


class DrawerOpen(RequestSchema):
    drawer: str = Field(
        default="main",
        min_length=1,
        max_length=50,
        description="Which drawer (a till may have several); one open session per drawer",
    )
    float_amount: MoneyIn = Field(
        alias="float", description="The cash counted into the drawer before the first sale"
    )
    notes: str | None = Field(default=None, max_length=1000)


class DrawerMovementIn(RequestSchema):
    type: MovementType = Field(description="`paid_in` adds cash, `paid_out` takes it out")
    amount: PositiveMoneyIn = Field(description="Always positive; the type gives the direction")
    reason: str = Field(min_length=1, max_length=500, description="Why, e.g. 'milk from shop'")


class DrawerClose(RequestSchema):
    counted_amount: MoneyIn = Field(description="The cash counted in the drawer at close")
    notes: str | None = Field(default=None, max_length=1000)
    version: int | None = Field(
        default=None,
        ge=1,
        description="The session's version you counted against; a 409 if it moved since",
    )


class CashMovementOut(Schema):
    id: uuid.UUID
    type: str = Field(description="float, sale, refund, paid_in or paid_out")
    amount: MoneyOut = Field(description="Signed: cash out of the drawer is negative")
    reason: str | None
    payment_id: uuid.UUID | None
    user_id: uuid.UUID | None
    created_at: datetime


class DrawerBreakdown(Schema):
    """The expected amount by kind of movement (signed; their sum is the expected amount)."""

    float_amount: MoneyOut = Field(alias="float")
    sales: MoneyOut
    refunds: MoneyOut
    paid_in: MoneyOut
    paid_out: MoneyOut


class DrawerSessionOut(Schema):
    id: uuid.UUID
    drawer: str
    status: str
    currency: str
    float_amount: MoneyOut = Field(alias="float")
    expected_amount: MoneyOut = Field(
        description="Cash that should be in the drawer: running while open, fixed at close"
    )
    counted_amount: MoneyOut | None
    variance: MoneyOut | None = Field(description="counted - expected; negative is a shortfall")
    opened_by: uuid.UUID | None
    opened_at: datetime
    closed_by: uuid.UUID | None
    closed_at: datetime | None
    notes: str | None
    version: int


class DrawerSessionDetailOut(DrawerSessionOut):
    breakdown: DrawerBreakdown
    movements: list[CashMovementOut]


class CashMovementCreatedOut(Schema):
    movement: CashMovementOut
    session: DrawerSessionOut
