"""Limit/offset pagination with a capped page size."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from fynlo.kit.schemas import Schema

MAX_PAGE_SIZE = 200
# Far beyond any table here, and within every database's integer range.
MAX_OFFSET = 2_147_483_647
DEFAULT_PAGE_SIZE = 50

T = TypeVar("T")


class PageParams(BaseModel):
    limit: int
    offset: int


async def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Page size, at most {MAX_PAGE_SIZE}")
    ] = DEFAULT_PAGE_SIZE,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


class PageInfo(Schema):
    limit: int
    offset: int
    total: int
    has_more: bool


class Page(Schema, Generic[T]):
    items: list[T]
    pagination: PageInfo

    @classmethod
    def build(cls, items: list[T], params: PageParams, total: int) -> Page[T]:
        return cls(
            items=items,
            pagination=PageInfo(
                limit=params.limit,
                offset=params.offset,
                total=total,
                has_more=params.offset + len(items) < total,
            ),
        )
