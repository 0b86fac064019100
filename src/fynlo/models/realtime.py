"""Live Socket.IO connections (the spec's ``websocket_connections``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, true
from sqlalchemy.orm import Mapped, mapped_column

from fynlo.db.base import RecordModel


class WebsocketConnection(RecordModel):
    """One Socket.IO connection. Marked inactive on disconnect; a replica that died with
    connections open stops refreshing ``last_ping`` and its rows are swept as stale."""

    __tablename__ = "websocket_connections"
    __table_args__ = (
        Index("ix_websocket_connections_restaurant_id_is_active", "restaurant_id", "is_active"),
        Index("ix_websocket_connections_last_ping", "last_ping"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    restaurant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("restaurants.id", ondelete="CASCADE")
    )
    connection_id: Mapped[str] = mapped_column(String(255), unique=True)
    server_id: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(50))
    connected_at: Mapped[datetime]
    last_ping: Mapped[datetime]
    disconnected_at: Mapped[datetime | None]
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
