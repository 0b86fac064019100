"""Declarative base and the columns every record shares."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import MetaData, Table, Uuid, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fynlo.db.types import JSONType, UTCDateTime, utc_now

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        uuid.UUID: Uuid(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
    }


def table_of(model: type[Base]) -> Table:
    """A model's table, for Core statements on hot paths: an ORM-enabled ``insert`` or
    ``update`` of the model costs more CPU than the round trip it makes."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class TimestampedMixin:
    created_at: Mapped[datetime] = mapped_column(
        default=utc_now, server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        default=utc_now, server_default=func.now(), onupdate=utc_now, nullable=False
    )


class RecordModel(TimestampedMixin, Base):
    """A table with a UUID primary key and created/updated timestamps."""

    __abstract__ = True

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
