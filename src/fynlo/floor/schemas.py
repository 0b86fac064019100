"""Request and response bodies for dining tables."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from fynlo.floor.state import TableStatus
from fynlo.kit.money import MoneyOut
from fynlo.kit.schemas import RequestSchema, Schema

VERSION_HELP = "The version you read; a stale one is a 409"


class TableCreate(RequestSchema):
    number: str = Field(
        min_length=1, max_length=20, description='As printed on the table: "5", "T12"'
    )
    seats: int = Field(ge=1, le=50)
    section: str | None = Field(default=None, min_length=1, max_length=50)


class TableUpdate(RequestSchema):
    number: str | None = Field(default=None, min_length=1, max_length=20)
    seats: int | None = Field(default=None, ge=1, le=50)
    section: str | None = Field(default=None, min_length=1, max_length=50)
    is_active: bool | None = None
    version: int | None = Field(default=None, ge=1, description=VERSION_HELP)


class TableStatusChange(RequestSchema):
    status: TableStatus
    version: int | None = Field(default=None, ge=1, description=VERSION_HELP)


class WaiterAssignment(RequestSchema):
    waiter_id: uuid.UUID | None = Field(description="A staff member of this restaurant, or null")
    version: int | None = Field(default=None, ge=1, description=VERSION_HELP)


class MoveOrders(RequestSchema):
    to_table_id: uuid.UUID
    order_ids: list[uuid.UUID] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Open orders of this table to move; all of them when omitted",
    )


class MergeTables(RequestSchema):
    from_table_id: uuid.UUID = Field(description="The table whose open orders join this one")


class TableOut(Schema):
    id: uuid.UUID
    restaurant_id: uuid.UUID
    number: str
    seats: int
    section: str | None
    status: str
    waiter_id: uuid.UUID | None
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class OpenOrderOut(Schema):
    id: uuid.UUID
    order_number: str
    status: str
    total: MoneyOut


class TableDetailOut(TableOut):
    open_orders: list[OpenOrderOut]


class MoveResult(Schema):
    from_table: TableOut
    to_table: TableOut
    moved_order_ids: list[uuid.UUID]
