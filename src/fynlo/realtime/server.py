"""Socket.IO for the front end: authenticated connections, restaurant rooms, and client
messages that go through the same services and permissions as their HTTP twins.

Events reach clients only from committed state, through the outbox dispatcher
(:mod:`fynlo.events.dispatcher`); nothing a client sends is relayed to others as it is.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import socketio
import structlog
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import AuditActor
from fynlo.auth.subject import Subject, subject_for_claims
from fynlo.auth.tokens import AccessClaims, InvalidToken
from fynlo.authz.context import resolve_restaurant
from fynlo.db.engine import write_intent
from fynlo.db.types import utc_now
from fynlo.events.catalog import Delivery, rooms_for
from fynlo.events.dispatcher import PublishFailed
from fynlo.events.outbox import OUTBOX_PENDING, emit
from fynlo.kit.errors import FynloError
from fynlo.models import RefreshToken, Restaurant, User, WebsocketConnection
from fynlo.realtime import engineio_hooks
from fynlo.realtime.fanout import QueueingManager
from fynlo.realtime.messages import (
    ItemReadyIn,
    NotificationIn,
    OrderStatusIn,
    validation_error,
)
from fynlo.runtime import Runtime

log = structlog.get_logger(__name__)

SOCKETIO_PATH = "socket.io"
ERROR_EVENT = "error"
PUBLISH_TIMEOUT = 5.0

# Client events the spec lists that have no server-side action: each is refused with the
# reason, never relayed.
REFUSED: dict[str, str] = {
    "order_created": "orders are taken with POST /api/orders; new_order follows from it",
    "qr_payment_generated": "QR payments are created over HTTP; qr_payment_ready follows",
    "payment_completed": "payments are confirmed by the server; payment_received follows",
    "low_stock_alert": "stock alerts come from the stock ledger, not from clients",
}


class StrictRedisManager(socketio.AsyncRedisManager, QueueingManager):  # type: ignore[misc]
    """The Redis client manager, with publishing of its own: a publish that fails raises
    instead of being logged and dropped (the outbox then keeps the event and sends it once
    Redis is back), and it never resends by itself (clients de-duplicate on ``eventId``,
    but should not have to often). Publishing uses its own connection, so a failed publish
    does not disturb the subscription that delivers other replicas' events here. Delivery
    to this replica's own clients is :class:`QueueingManager`'s."""

    def __init__(self, url: str, channel: str, *, write_only: bool = False) -> None:
        super().__init__(url, channel=channel, write_only=write_only)
        self._publisher: Redis | None = None

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Publish first, then deliver to this replica's own clients, and only if the
        publish worked. (The base class delivers locally first, so every retry of a failed
        publish would reach local clients again.) The message is the base class's format."""
        if kwargs.get("ignore_queue") or callback is not None:
            return await super().emit(
                event, data, namespace, room, skip_sid, callback, to=to, **kwargs
            )
        message = {
            "method": "emit",
            "event": event,
            "data": list(data) if isinstance(data, tuple) else [data],
            "binary": False,
            "namespace": namespace or "/",
            "room": to or room,
            "skip_sid": skip_sid,
            "callback": None,
            "host_id": self.host_id,
        }
        await self._publish(message)
        if not self.write_only:  # a worker publishing for the API replicas has no clients
            await self._handle_emit(message)

    async def _publish(self, data: Any) -> Any:
        if self._publisher is None:
            self._publisher = Redis.from_url(
                self.redis_url, retry=Retry(NoBackoff(), 0), socket_timeout=PUBLISH_TIMEOUT
            )
        try:
            receivers = await self._publisher.publish(self.channel, self.json.dumps(data))
        except Exception as exc:
            raise PublishFailed(f"Redis publish failed: {exc}") from exc
        if not receivers:
            # Not even this replica is listening yet (its subscription is being restored
            # after an outage): the message would be lost, so the outbox keeps it.
            raise PublishFailed(f"no replica subscribed to {self.channel!r} yet")
        return receivers

    async def close(self) -> None:
        if self._publisher is not None:
            await self._publisher.aclose()


class SocketPublisher:
    """Emits through a Socket.IO server, or straight through its client manager (a worker
    publishing for the API replicas)."""

    def __init__(self, sio: socketio.AsyncServer | StrictRedisManager) -> None:
        self._sio = sio

    async def publish(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            await self._sio.emit(delivery.event, delivery.payload, to=list(delivery.rooms))


@dataclass
class Connection:
    """What a replica knows of one of its own connections."""

    claims: AccessClaims
    user_id: uuid.UUID
    restaurant_id: uuid.UUID
    role: str
    ip_address: str | None
    user_agent: str | None
    recent: deque[float] = field(default_factory=deque)


def replica_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _refusal(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def _refused(code: str, message: str) -> socketio.exceptions.ConnectionRefusedError:
    """Refusal at connect: the client's ``connect_error`` gets ``message`` and, as ``data``,
    ``{code, message}``."""
    return socketio.exceptions.ConnectionRefusedError(message, _refusal(code, message))


class RealtimeGateway:
    """The Socket.IO server's handlers, and the bookkeeping of this replica's connections."""

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.server_id = replica_id()
        manager = (
            StrictRedisManager(settings.redis_url, channel=settings.socketio_channel)
            if settings.redis_url
            else QueueingManager()
        )
        engineio_hooks.install()
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=manager,
            cors_allowed_origins=settings.cors_origins or None,
            # Engine.IO drops anything far larger outright; up to this the gateway answers
            # with an error event that says why.
            max_http_buffer_size=settings.socket_max_message_bytes * 4,
            logger=False,
            engineio_logger=False,
        )
        self.connections: dict[str, Connection] = {}
        self.deliveries = manager.sent
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("*", self._message)
        self._handlers: dict[str, Callable[[str, Connection, Any], Awaitable[dict[str, Any]]]] = {
            "order_status_update": self._order_status_update,
            "item_ready": self._item_ready,
            "system_notification": self._system_notification,
        }

    def start(self) -> None:
        """Subscribe to the other replicas' messages now, not at the first connection, so
        that events published here reach this replica's clients from the start."""
        if not self.sio.manager_initialized:
            self.sio.manager_initialized = True
            self.sio.manager.initialize()

    async def stop(self) -> None:
        listener = getattr(self.sio.manager, "thread", None)
        if isinstance(listener, asyncio.Task):
            listener.cancel()
        if isinstance(self.sio.manager, StrictRedisManager):
            await self.sio.manager.close()

    # --- connecting -------------------------------------------------------------------

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        if not isinstance(auth, dict):
            auth = {}
        token = auth.get("token")
        if not isinstance(token, str) or not token:
            raise _refused(
                "unauthorized", "Authentication error: send auth: {token: <access token>}"
            )
        try:
            claims = self.runtime.tokens.read_access(token)
        except InvalidToken as exc:
            raise _refused("unauthorized", f"Authentication error: {exc.message}") from exc
        wanted: uuid.UUID | None = None
        if auth.get("restaurantId"):
            try:
                wanted = uuid.UUID(str(auth["restaurantId"]))
            except ValueError as exc:
                raise _refused("validation_error", "restaurantId must be a UUID") from exc
        stations = auth.get("stations")
        actor = AuditActor(
            ip_address=environ.get("REMOTE_ADDR")
            or (environ.get("asgi.scope") or {}).get("client", [None])[0],
            user_agent=environ.get("HTTP_USER_AGENT"),
        )
        try:
            async with write_intent(), self.runtime.sessionmaker() as session, session.begin():
                subject = await subject_for_claims(session, claims, actor)
                restaurant = await resolve_restaurant(session, subject, wanted)
                now = utc_now()
                session.add(
                    WebsocketConnection(
                        user_id=subject.id,
                        restaurant_id=restaurant.id,
                        connection_id=sid,
                        server_id=self.server_id,
                        role=subject.role,
                        connected_at=now,
                        last_ping=now,
                    )
                )
        except FynloError as exc:
            raise _refused(exc.code, f"Authentication error: {exc.message}") from exc
        self.connections[sid] = Connection(
            claims=claims,
            user_id=subject.id,
            restaurant_id=restaurant.id,
            role=subject.role,
            ip_address=actor.ip_address,
            user_agent=actor.user_agent,
        )
        wanted_stations = (
            [s for s in stations if isinstance(s, str) and s][:20]
            if isinstance(stations, list)
            else []
        )
        rooms = rooms_for(
            restaurant.id,
            subject.role,
            subject.permissions,
            kitchen_display=bool(auth.get("kitchenDisplay")),
            stations=wanted_stations,
        )
        for room in rooms:
            await self.sio.enter_room(sid, room)

    async def _disconnect(self, sid: str, reason: Any = None) -> None:
        if self.connections.pop(sid, None) is None:
            return
        try:
            async with write_intent(), self.runtime.sessionmaker() as session, session.begin():
                await session.execute(
                    update(WebsocketConnection)
                    .where(WebsocketConnection.connection_id == sid)
                    .values(is_active=False, disconnected_at=utc_now())
                )
        except Exception:
            # The sweep marks it inactive later: a stale row, never a lost disconnect.
            log.exception("socket_disconnect_record_failed", sid=sid)

    # --- messages ---------------------------------------------------------------------

    async def _message(self, event: str, sid: str, *args: Any) -> dict[str, Any]:
        connection = self.connections.get(sid)
        if connection is None:
            return {"success": False, "error": _refusal("unauthorized", "not connected")}
        settings = self.runtime.settings
        size = len(json.dumps(args, default=str))
        if size > settings.socket_max_message_bytes:
            return await self._refuse_and_disconnect(
                sid,
                "message_too_large",
                f"Message of {size} bytes is over the limit of "
                f"{settings.socket_max_message_bytes} bytes",
            )
        now = time.monotonic()
        recent = connection.recent
        while recent and recent[0] <= now - settings.socket_window_seconds:
            recent.popleft()
        recent.append(now)
        if len(recent) > settings.socket_messages_per_window:
            return await self._refuse_and_disconnect(
                sid,
                "rate_limited",
                f"More than {settings.socket_messages_per_window} messages in "
                f"{settings.socket_window_seconds:g} s",
            )
        handler = self._handlers.get(event)
        if handler is None:
            reason = REFUSED.get(event, f"unknown event {event!r}")
            return await self._refuse(sid, event, "event_refused", f"'{event}' refused: {reason}")
        data = args[0] if args else None
        try:
            return await handler(sid, connection, data)
        except InvalidToken as exc:
            return await self._refuse_and_disconnect(sid, "session_ended", exc.message)
        except FynloError as exc:
            if exc.status_code == 401:
                return await self._refuse_and_disconnect(sid, "session_ended", exc.message)
            return await self._refuse(sid, event, exc.code, exc.message, exc.details)
        except ValidationError as exc:
            message, details = validation_error(exc)
            return await self._refuse(sid, event, "validation_error", message, details)
        except Exception:
            log.exception("socket_message_failed", event=event, sid=sid)
            return await self._refuse(
                sid, event, "internal_error", "Internal server error; nothing was changed"
            )

    async def _refuse(
        self, sid: str, event: str, code: str, message: str, details: Any = None
    ) -> dict[str, Any]:
        error = {"code": code, "message": message, "details": details, "event": event}
        await self.sio.emit(ERROR_EVENT, error, to=sid)
        return {"success": False, "error": error}

    async def _refuse_and_disconnect(self, sid: str, code: str, message: str) -> dict[str, Any]:
        error = {"code": code, "message": message, "details": None}
        await self.sio.emit(ERROR_EVENT, error, to=sid)
        await self.sio.disconnect(sid)
        return {"success": False, "error": error}

    @asynccontextmanager
    async def _acting(
        self, connection: Connection
    ) -> AsyncIterator[tuple[AsyncSession, Subject, Restaurant]]:
        """A transaction as the connection's user, re-checked now (a deactivated account or
        a revoked session is refused), committed if the handler succeeds."""
        actor = AuditActor(ip_address=connection.ip_address, user_agent=connection.user_agent)
        async with write_intent(), self.runtime.sessionmaker() as session:
            async with session.begin():
                subject = await subject_for_claims(session, connection.claims, actor)
                restaurant = await resolve_restaurant(session, subject, connection.restaurant_id)
                yield session, subject, restaurant
            if session.info.pop(OUTBOX_PENDING, False):
                self.runtime.events_committed()

    async def _order_status_update(
        self, sid: str, connection: Connection, data: Any
    ) -> dict[str, Any]:
        """The twin of ``PATCH /api/orders/{id}/status``: same service, same permission."""
        from fynlo.orders.endpoints import order_out
        from fynlo.orders.service import OrderService

        body = OrderStatusIn.model_validate(data)
        async with self._acting(connection) as (session, subject, restaurant):
            subject.require("orders.update")
            order = await OrderService(session, subject, restaurant).change_status(
                body.order_id,
                body.status,
                estimated_completion=body.estimated_completion,
                reason=body.reason,
                version=body.version,
            )
            answer = order_out(order).model_dump(mode="json", by_alias=True)
        return {"success": True, "data": answer}

    async def _item_ready(self, sid: str, connection: Connection, data: Any) -> dict[str, Any]:
        """The twin of the kitchen's item status PATCH with ``ready``: same service, same
        permission; ``order_item_ready`` and ``order_updated`` follow for everyone."""
        from fynlo.kitchen.service import KitchenService
        from fynlo.orders.endpoints import order_out

        body = ItemReadyIn.model_validate(data)
        async with self._acting(connection) as (session, subject, restaurant):
            subject.require("kitchen.update")
            order = await KitchenService(session, subject, restaurant).set_item_status(
                body.order_id,
                body.item_id,
                "ready",
                actual_minutes=body.actual_time,
                version=body.version,
            )
            answer = order_out(order).model_dump(mode="json", by_alias=True)
        return {"success": True, "data": answer}

    async def _system_notification(
        self, sid: str, connection: Connection, data: Any
    ) -> dict[str, Any]:
        """A manager's message to everyone in the restaurant, as a ``notification``."""
        body = NotificationIn.model_validate(data)
        async with self._acting(connection) as (session, subject, restaurant):
            subject.require("notifications.send")
            event = emit(
                session,
                restaurant.id,
                "notification",
                {
                    "message": body.message,
                    "level": body.level,
                    "from": {
                        "userId": str(subject.id),
                        "name": f"{subject.user.first_name} {subject.user.last_name}",
                    },
                },
            )
        return {"success": True, "data": {"eventId": str(event.id)}}

    # --- bookkeeping --------------------------------------------------------------------

    async def sweep(self, *, now: datetime | None = None) -> int:
        """Refresh this replica's connections, drop those whose account or session ended,
        and mark connections of replicas that stopped sweeping (crashed) inactive. Returns
        the number of connections dropped here."""
        now = now or utc_now()
        stale_before = now - timedelta(seconds=self.runtime.settings.socket_sweep_seconds * 3)
        sids = list(self.connections)
        ended: list[str] = []
        async with write_intent(), self.runtime.sessionmaker() as session, session.begin():
            if sids:
                users = {c.user_id for c in self.connections.values()}
                rows = await session.execute(
                    select(User.id, User.is_active, User.token_version).where(User.id.in_(users))
                )
                accounts = {user_id: (active, version) for user_id, active, version in rows}
                families = {
                    c.claims.family_id
                    for c in self.connections.values()
                    if c.claims.family_id is not None
                }
                alive = (
                    set(
                        await session.scalars(
                            select(RefreshToken.family_id)
                            .where(
                                RefreshToken.family_id.in_(families),
                                RefreshToken.revoked_at.is_(None),
                            )
                            .distinct()
                        )
                    )
                    if families
                    else set()
                )
                for sid in sids:
                    connection = self.connections.get(sid)
                    if connection is None:
                        continue
                    active, version = accounts.get(connection.user_id, (False, -1))
                    family = connection.claims.family_id
                    if (
                        not active
                        or version != connection.claims.token_version
                        or (family is not None and family not in alive)
                    ):
                        ended.append(sid)
                live = [sid for sid in sids if sid not in ended]
                if live:
                    await session.execute(
                        update(WebsocketConnection)
                        .where(WebsocketConnection.connection_id.in_(live))
                        .values(last_ping=now)
                    )
            await session.execute(
                update(WebsocketConnection)
                .where(
                    WebsocketConnection.is_active.is_(True),
                    WebsocketConnection.last_ping < stale_before,
                )
                .values(is_active=False, disconnected_at=now)
            )
        for sid in ended:
            await self._refuse_and_disconnect(
                sid, "session_ended", "This account or session has ended; sign in again"
            )
        return len(ended)

    def asgi(self, other: Any) -> socketio.ASGIApp:
        return socketio.ASGIApp(self.sio, other_asgi_app=other, socketio_path=SOCKETIO_PATH)
