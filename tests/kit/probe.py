"""A small router used only by the kit tests: it exercises the shared conventions
(route class, transaction, idempotency, validation) on a table of its own."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query
from pydantic import Field
from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid, func, insert, select

from fynlo.kit.errors import Conflict
from fynlo.kit.idempotency import idempotent
from fynlo.kit.pagination import Page, PageParams, page_params
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, RequestSchema, Schema, ok
from fynlo.kit.unit_of_work import SessionDep

probe_metadata = MetaData()
probe_widgets = Table(
    "probe_widgets",
    probe_metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(50), nullable=False),
    Column("quantity", Integer, nullable=False),
)

probe = router(prefix="/api/_probe", tags=["probe"])


class WidgetIn(RequestSchema):
    name: str = Field(min_length=1, max_length=50)
    quantity: int = Field(ge=1, le=100)
    unit_price: float | None = None


class WidgetOut(Schema):
    id: uuid.UUID
    name: str
    quantity: int


@probe.post(
    "/widgets", status_code=201, response_model=Envelope[WidgetOut], openapi_extra=idempotent()
)
async def create_widget(body: WidgetIn, session: SessionDep) -> Envelope[WidgetOut]:
    widget_id = uuid.uuid4()
    await session.execute(
        insert(probe_widgets).values(id=widget_id, name=body.name, quantity=body.quantity)
    )
    if body.name == "conflict-after-write":
        raise Conflict("refused after writing; nothing must remain")
    return ok(WidgetOut(id=widget_id, name=body.name, quantity=body.quantity))


@probe.get("/widgets", response_model=Envelope[Page[WidgetOut]])
async def list_widgets(
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
    name: Annotated[str | None, Query(max_length=50)] = None,
) -> Envelope[Page[WidgetOut]]:
    query = select(probe_widgets)
    if name:
        query = query.where(probe_widgets.c.name == name)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = (
        await session.execute(
            query.order_by(probe_widgets.c.name).limit(params.limit).offset(params.offset)
        )
    ).all()
    items = [WidgetOut(id=r.id, name=r.name, quantity=r.quantity) for r in rows]
    return ok(Page[WidgetOut].build(items, params, total))


@probe.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internals: password=hunter2")
