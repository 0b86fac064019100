"""The kitchen's side of an order: item status, and the order following its items."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.auth.subject import Subject
from fynlo.db.types import utc_now
from fynlo.kit.errors import Conflict, ResourceNotFound, Unprocessable
from fynlo.kitchen import state
from fynlo.kitchen.tickets import kitchen_rules
from fynlo.models import Order, OrderItem
from fynlo.models.identity import Restaurant
from fynlo.orders.events import emit_order_event
from fynlo.orders.service import OrderService

WITH_THE_KITCHEN = frozenset({"confirmed", "preparing", "ready", "served"})


class KitchenService:
    def __init__(self, session: AsyncSession, subject: Subject, restaurant: Restaurant) -> None:
        self.session = session
        self.subject = subject
        self.restaurant = restaurant
        self.orders = OrderService(session, subject, restaurant)

    async def set_item_status(
        self,
        order_id: uuid.UUID,
        item_id: uuid.UUID,
        requested: str,
        *,
        actual_minutes: float | None,
        version: int | None,
    ) -> Order:
        """Move one item along pending → preparing → ready → served. The order follows:
        its first item started makes it ``preparing``, its last item ready makes it
        ``ready``, its last item served makes it ``served``. Asking for the status the item
        already has changes nothing (a retried request)."""
        status = state.ALIASES.get(requested, requested)
        order = await self.orders.lock(order_id, version)
        item = next((i for i in order.items if i.id == item_id and not i.is_voided), None)
        if item is None:
            raise ResourceNotFound("Order item", item_id)
        self._check_with_kitchen(order)
        if item.sent_to_kitchen_at is None:
            raise Conflict(
                f"'{item.product_name}' is held and not with the kitchen yet; fire it first",
                details={"itemId": str(item.id), "held": item.held},
            )
        if item.kitchen_status == status:
            return order
        state.check_item_transition(item.kitchen_status, status)
        if actual_minutes is not None and status != "ready":
            raise Unprocessable(
                "actualTime is only given when an item becomes ready",
                details=[{"field": "actualTime", "message": "only with status ready"}],
            )
        now = utc_now()
        previous = item.kitchen_status
        await self._move(item, status, now, actual_minutes)
        order.version += 1
        emit_order_event(
            self.session,
            self.restaurant.id,
            "order_updated",
            order,
            change="item_status",
            itemId=str(item.id),
            itemStatus=status,
            previousItemStatus=previous,
        )
        if status == "ready":
            self._item_ready_event(order, item)
        await self._follow_items(order, now)
        return order

    async def _move(
        self, item: OrderItem, status: str, now: datetime, actual_minutes: float | None
    ) -> None:
        previous = item.kitchen_status
        item.kitchen_status = status
        if status == "preparing":
            item.started_at = item.started_at or now
            if previous == "ready":
                item.ready_at = item.prep_seconds = item.was_late = None
        elif status == "pending":
            item.started_at = None
        elif status == "ready":
            await self._mark_ready(item, now, actual_minutes)
        else:
            item.served_at = now

    def _item_ready_event(self, order: Order, item: OrderItem) -> None:
        emit_order_event(
            self.session,
            self.restaurant.id,
            "order_item_ready",
            order,
            itemId=str(item.id),
            name=item.product_name,
            quantity=item.quantity,
            station=item.kitchen_station,
            prepSeconds=item.prep_seconds,
            late=item.was_late,
        )

    @staticmethod
    def _check_with_kitchen(order: Order) -> None:
        if order.status not in WITH_THE_KITCHEN:
            raise Conflict(
                f"Order {order.order_number} is {order.status}; the kitchen no longer works on it",
                details={"status": order.status},
            )

    async def _with_kitchen(self, order_id: uuid.UUID, version: int | None) -> Order:
        order = await self.orders.lock(order_id, version)
        self._check_with_kitchen(order)
        return order

    async def bump(self, order_id: uuid.UUID, *, station: str | None, version: int | None) -> Order:
        """The station (or the whole kitchen) is done with an order: every item it is
        still cooking becomes ready, timed as measured."""
        order = await self._with_kitchen(order_id, version)
        cooking = [
            i
            for i in order.items
            if not i.is_voided
            and i.sent_to_kitchen_at is not None
            and i.kitchen_status in state.COOKING
            and (station is None or i.kitchen_station == station)
        ]
        if not cooking:
            where = f" at station '{station}'" if station is not None else ""
            raise Conflict(
                f"Order {order.order_number} has nothing cooking{where} to bump",
                details={"station": station},
            )
        await self._move_all(order, cooking, "ready", change="bumped", station=station)
        return order

    async def recall(
        self,
        order_id: uuid.UUID,
        *,
        station: str | None,
        item_ids: list[uuid.UUID] | None,
        version: int | None,
    ) -> Order:
        """Ready items go back on the line (bumped by mistake, or sent back by the pass);
        a ready order returns to ``preparing``. Served items stay served."""
        order = await self._with_kitchen(order_id, version)
        ready = {
            i.id: i
            for i in order.items
            if not i.is_voided
            and i.kitchen_status == "ready"
            and (station is None or i.kitchen_station == station)
        }
        if item_ids is not None:
            unknown = [str(i) for i in item_ids if i not in ready]
            if unknown:
                raise Conflict(
                    "Only ready items of this order"
                    + (f" at station '{station}'" if station is not None else "")
                    + " can be recalled",
                    details={"itemIds": unknown},
                )
            recalled = [ready[i] for i in dict.fromkeys(item_ids)]
        else:
            recalled = list(ready.values())
        if not recalled:
            raise Conflict(
                f"Order {order.order_number} has no ready items to recall",
                details={"station": station},
            )
        await self._move_all(order, recalled, "preparing", change="items_recalled", station=station)
        return order

    async def _move_all(
        self, order: Order, items: list[OrderItem], status: str, *, change: str, station: str | None
    ) -> None:
        """Move several items at once: one ``order_updated`` for the lot, then the order
        follows its items."""
        now = utc_now()
        for item in items:
            await self._move(item, status, now, None)
        order.version += 1
        emit_order_event(
            self.session,
            self.restaurant.id,
            "order_updated",
            order,
            change=change,
            station=station,
            itemIds=[str(i.id) for i in items],
        )
        if status == "ready":
            for item in items:
                self._item_ready_event(order, item)
        await self.orders._audit(
            f"order.{change}", order, station=station, itemIds=[str(i.id) for i in items]
        )
        await self._follow_items(order, now)

    async def set_rush(self, order_id: uuid.UUID, rush: bool, version: int | None) -> Order:
        """The manual rush flag: the order goes first on every display until it is ready."""
        order = await self.orders.lock(order_id, version)
        if order.status in ("completed", "cancelled"):
            raise Conflict(
                f"Order {order.order_number} is {order.status}; it cannot be rushed",
                details={"status": order.status},
            )
        if order.rush == rush:
            return order
        order.rush = rush
        order.version += 1
        emit_order_event(
            self.session, self.restaurant.id, "order_updated", order, change="rush", rush=rush
        )
        await self.orders._audit("order.rush", order, rush=rush)
        return order

    async def _mark_ready(self, item: OrderItem, now: datetime, actual: float | None) -> None:
        fired = item.sent_to_kitchen_at
        assert fired is not None
        item.ready_at = now
        item.prep_seconds = (
            round(actual * 60) if actual is not None else max(0, int((now - fired).total_seconds()))
        )
        rules = await kitchen_rules(self.session, self.restaurant)
        item.was_late = rules.is_late(item.prep_seconds, item.preparation_time)

    async def _follow_items(self, order: Order, now: datetime) -> None:
        live = [i for i in order.items if not i.is_voided]
        statuses = {i.kitchen_status for i in live}
        unsent = any(i.sent_to_kitchen_at is None for i in live)
        target: str | None = None
        if order.status == "confirmed" and statuses & {"preparing", "ready", "served"}:
            target = "preparing"
        if (
            not unsent
            and statuses <= {"ready", "served"}
            and order.status
            in (
                "confirmed",
                "preparing",
            )
        ):
            target = "ready"
        if not unsent and statuses == {"served"} and order.status == "ready":
            target = "served"
        if order.status == "ready" and statuses & {"pending", "preparing"}:
            # A dish recalled: the order is back in the kitchen's hands.
            order.version += 1
            await self.orders.back_to_kitchen(order, change="recalled")
            return
        if target is None:
            return
        if target == "ready":
            order.ready_at = now  # the moment its last dish was, not a moment later
        await self.session.flush()
        await self.orders.change_status(
            order.id, target, estimated_completion=None, reason=None, version=None
        )
