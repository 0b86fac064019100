"""Taking and changing orders: priced by the server, numbered per day, stock kept in step."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from fynlo.audit.service import record
from fynlo.auth.subject import Subject
from fynlo.authz.context import restaurant_settings
from fynlo.db.bulk import insert_as_loaded, take_pending
from fynlo.db.locking import lock_for_update
from fynlo.db.types import utc_now
from fynlo.floor.service import occupy_for_order, release_if_free, table_by_number
from fynlo.inventory import ledger
from fynlo.inventory.service import deduct_stock_on, negative_stock_allowed
from fynlo.kit.errors import Conflict, ResourceNotFound, StaleVersion, Unprocessable
from fynlo.kit.money import percent_to_bp, to_major, to_minor
from fynlo.kit.pagination import PageParams
from fynlo.kitchen.tickets import kitchen_rules, send_to_kitchen, void_in_kitchen
from fynlo.menu.service import BUILT_IN_TAX_CATEGORIES, choose_modifiers
from fynlo.models import (
    AuditLog,
    Category,
    ModifierGroup,
    Order,
    OrderItem,
    OutboxEvent,
    Product,
    Restaurant,
    StockMovement,
    User,
)
from fynlo.models.inventory import MILLI
from fynlo.orders import numbering, pricing, receipts, state
from fynlo.orders.events import emit_order_event
from fynlo.orders.schemas import (
    DiscountIn,
    OrderAdjust,
    OrderCreate,
    OrderItemIn,
)
from fynlo.payments import state as payment_state
from fynlo.payments.core import complete_if_due


class OrderNotEditable(Conflict):
    code = "order_not_editable"

    def __init__(self, order: Order) -> None:
        super().__init__(
            f"Order {order.order_number} is {order.status}; it can no longer be changed",
            details={"status": order.status},
        )


class PriceMismatch(Unprocessable):
    """A client price that is not the menu's (a stale till): refused, never charged."""


class ProductUnavailable(Unprocessable):
    """An unknown, archived or 86'd product."""


@dataclass(frozen=True)
class PricingContext:
    """The restaurant's rules, read once per request."""

    currency: str
    prices_include_vat: bool
    vat_enabled: bool
    vat_rate_bp: int
    category_rates_bp: dict[str, int]
    service_charge_bp: int
    service_charge_order_types: frozenset[str]
    pos: dict[str, Any]

    def tax_rate(self, product: Product, order_type: str) -> int:
        if not self.vat_enabled:
            return 0
        category = product.tax_category
        if order_type != "dine_in" and product.takeaway_tax_category:
            category = product.takeaway_tax_category
        if category == "standard":
            return self.vat_rate_bp
        if category in self.category_rates_bp:
            return self.category_rates_bp[category]
        if category in BUILT_IN_TAX_CATEGORIES:
            return 0
        raise Unprocessable(
            f"Product '{product.name}' has tax category '{category}', which the restaurant's "
            "tax configuration does not define",
            details=[{"field": "taxCategory", "message": f"unknown category {category!r}"}],
        )


async def pricing_context(session: AsyncSession, restaurant: Restaurant) -> PricingContext:
    tax = restaurant.tax_configuration or {}
    settings = await restaurant_settings(session, restaurant)
    pos = dict(settings.pos_settings) if settings else {}
    return PricingContext(
        currency=restaurant.currency,
        prices_include_vat=bool(tax.get("pricesIncludeVat", True)),
        vat_enabled=bool(tax.get("vatEnabled", True)),
        vat_rate_bp=percent_to_bp(tax.get("vatRate", 0)),
        category_rates_bp={
            str(name): percent_to_bp(rate)
            for name, rate in (tax.get("taxCategories") or {}).items()
        },
        service_charge_bp=(
            percent_to_bp(tax.get("serviceTaxRate", 0)) if tax.get("serviceTaxEnabled") else 0
        ),
        service_charge_order_types=frozenset(pos.get("serviceChargeOrderTypes") or ["dine_in"]),
        pos=pos,
    )


def _discount(value: DiscountIn | None, currency: str, field: str) -> pricing.Discount | None:
    if value is None:
        return None
    if value.type == "percent":
        return pricing.Discount("percent", percent_to_bp(value.value))
    return pricing.Discount("amount", to_minor(value.value, currency, field=field))


def _stored_discount(value: DiscountIn | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"type": value.type, "value": str(value.value), "reason": value.reason}


def _from_stored(value: dict[str, Any] | None, currency: str) -> pricing.Discount | None:
    if not value:
        return None
    amount = Decimal(str(value["value"]))
    if value["type"] == "percent":
        return pricing.Discount("percent", percent_to_bp(amount))
    return pricing.Discount("amount", to_minor(amount, currency))


# One joined query, built once: the modifiers' own selectin loads would be two more round
# trips, and building the statement per order costs more CPU than running it.
_PRODUCTS_WITH_MODIFIERS = (
    select(Product)
    .options(joinedload(Product.modifier_groups).joinedload(ModifierGroup.options))
    .where(
        Product.restaurant_id == bindparam("restaurant_id"),
        Product.id.in_(bindparam("ids", expanding=True)),
    )
)


class OrderService:
    def __init__(self, session: AsyncSession, subject: Subject, restaurant: Restaurant) -> None:
        self.session = session
        self.subject = subject
        self.restaurant = restaurant
        self._context: PricingContext | None = None

    async def context(self) -> PricingContext:
        if self._context is None:
            self._context = await pricing_context(self.session, self.restaurant)
        return self._context

    # --- reading ----------------------------------------------------------------------

    def _scoped(self) -> Select[Order]:
        return select(Order).where(Order.restaurant_id == self.restaurant.id)

    async def get(self, order_id: uuid.UUID) -> Order:
        order = await self.session.scalar(self._scoped().where(Order.id == order_id))
        if order is None:
            raise ResourceNotFound("Order", order_id)
        return order

    async def receipt(
        self, order: Order, payments: Sequence[receipts.ReceiptPayment] = ()
    ) -> receipts.Receipt:
        """The order's receipt with the restaurant's receipt settings and its server's name:
        the one ``GET /api/orders/{id}/receipt`` shows and the printer prints."""
        settings = await restaurant_settings(self.session, self.restaurant)
        server = await self.session.get(User, order.employee_id) if order.employee_id else None
        return receipts.build_receipt(
            order,
            self.restaurant,
            dict(settings.receipt_settings) if settings is not None else {},
            payments,
            server_name=f"{server.first_name} {server.last_name[:1]}." if server else None,
        )

    async def lock(self, order_id: uuid.UUID, version: int | None) -> Order:
        order = await self.session.scalar(
            lock_for_update(self._scoped().where(Order.id == order_id)).execution_options(
                populate_existing=True
            )
        )
        if order is None:
            raise ResourceNotFound("Order", order_id)
        if version is not None and version != order.version:
            raise StaleVersion("Order", version, order.version)
        return order

    async def find(
        self,
        paging: PageParams,
        *,
        status: str | None,
        day: date | None,
        customer_id: uuid.UUID | None,
        table_number: str | None,
        table_id: uuid.UUID | None,
    ) -> tuple[Sequence[Order], int]:
        query = self._scoped()
        if status is not None:
            query = query.where(Order.status == status)
        if day is not None:
            # The restaurant's own calendar day, as its staff mean "today's orders".
            query = query.where(Order.business_date == day)
        if customer_id is not None:
            query = query.where(Order.customer_id == customer_id)
        if table_number is not None:
            query = query.where(Order.table_number == table_number)
        if table_id is not None:
            query = query.where(Order.table_id == table_id)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(
            query.order_by(Order.created_at.desc(), Order.daily_sequence.desc())
            .limit(paging.limit)
            .offset(paging.offset)
        )
        return rows.all(), total

    # --- building lines ---------------------------------------------------------------

    async def _products(self, items: Sequence[OrderItemIn]) -> dict[uuid.UUID, Product]:
        ids = {item.product_id for item in items}
        rows = await self.session.scalars(
            _PRODUCTS_WITH_MODIFIERS, {"restaurant_id": self.restaurant.id, "ids": list(ids)}
        )
        return {p.id: p for p in rows.unique()}

    async def _new_items(
        self, items: Sequence[OrderItemIn], order_type: str, *, field: str = "items"
    ) -> list[OrderItem]:
        context = await self.context()
        products = await self._products(items)
        built: list[OrderItem] = []
        for index, item in enumerate(items):
            where = f"{field}.{index}"
            product = products.get(item.product_id)
            if product is None or product.is_archived:
                raise ProductUnavailable(
                    f"{where}.productId: no such product on this restaurant's menu",
                    details=[{"field": f"{where}.productId", "message": "unknown product"}],
                )
            if not product.is_available:
                raise ProductUnavailable(
                    f"'{product.name}' is not available right now",
                    details=[{"field": f"{where}.productId", "message": "not available"}],
                )
            if item.unit_price is not None:
                sent = to_minor(item.unit_price, context.currency, field=f"{where}.unitPrice")
                if sent != product.price_minor:
                    raise PriceMismatch(
                        f"Price of '{product.name}' is "
                        f"{to_major(product.price_minor, context.currency)}, "
                        f"not {item.unit_price}; refresh the menu",
                        details=[
                            {
                                "field": f"{where}.unitPrice",
                                "message": "does not match the menu price",
                                "menuPrice": float(to_major(product.price_minor, context.currency)),
                            }
                        ],
                    )
            chosen = choose_modifiers(product, [(m.type, m.value) for m in item.modifiers])
            by_key = {(c.group.lower(), c.option.lower()): c for c in chosen}
            for position, modifier in enumerate(item.modifiers):
                if modifier.price is None:
                    continue
                match = by_key[(modifier.type.lower(), modifier.value.lower())]
                sent = to_minor(
                    modifier.price, context.currency, field=f"{where}.modifiers.{position}.price"
                )
                if sent != match.price_minor:
                    raise PriceMismatch(
                        f"Price of {match.group} '{match.option}' on '{product.name}' is "
                        f"{to_major(match.price_minor, context.currency)}, not {modifier.price}; "
                        "refresh the menu",
                        details=[
                            {
                                "field": f"{where}.modifiers.{position}.price",
                                "message": "does not match the menu price",
                            }
                        ],
                    )
            if item.discount is not None:
                self.subject.require("orders.discount")
            built.append(
                OrderItem(
                    id=uuid.uuid4(),
                    restaurant_id=self.restaurant.id,
                    product_id=product.id,
                    product_name=product.name,
                    quantity=item.quantity,
                    unit_price_minor=product.price_minor,
                    modifiers=[
                        {"type": c.group, "value": c.option, "price": c.price_minor} for c in chosen
                    ],
                    modifiers_minor=sum(c.price_minor for c in chosen),
                    line_discount=_stored_discount(item.discount),
                    tax_rate_bp=context.tax_rate(product, order_type),
                    notes=item.notes,
                    kitchen_station=product.kitchen_station,
                    preparation_time=product.preparation_time,
                    course=item.course,
                    held=item.hold if item.hold is not None else False,
                )
            )
        await self._hold_later_courses(items, built)
        return built

    async def _hold_later_courses(
        self, items_in: Sequence[OrderItemIn], built: list[OrderItem]
    ) -> None:
        """With ``kitchen.holdLaterCourses`` on, items of a later course than the first one
        in the request wait to be fired, unless the request says ``hold`` itself."""
        if not any(i.hold is None and i.course > 1 for i in items_in):
            return
        if not (await kitchen_rules(self.session, self.restaurant)).hold_later_courses:
            return
        first = min(i.course for i in items_in)
        for item_in, item in zip(items_in, built, strict=True):
            if item_in.hold is None and item_in.course > first:
                item.held = True

    async def _station_defaults(self, items: list[OrderItem]) -> None:
        """Items of products without a station go to their category's station."""
        missing = {i.product_id for i in items if i.kitchen_station is None}
        if not missing:
            return
        rows = await self.session.execute(
            select(Product.id, Category.kitchen_station)
            .join(Category, Category.id == Product.category_id)
            .where(Product.id.in_(missing), Product.restaurant_id == self.restaurant.id)
        )
        stations: dict[uuid.UUID, str | None] = dict(rows.all())
        for item in items:
            if item.kitchen_station is None:
                item.kitchen_station = stations.get(item.product_id)

    # --- pricing ----------------------------------------------------------------------

    def _reprice(self, order: Order, context: PricingContext) -> pricing.Totals:
        active = [i for i in order.items if not i.is_voided]
        totals = pricing.price(
            [
                pricing.LineInput(
                    unit_price=i.unit_price_minor,
                    modifiers_price=i.modifiers_minor,
                    quantity=i.quantity,
                    tax_rate_bp=i.tax_rate_bp,
                    discount=_from_stored(i.line_discount, context.currency),
                )
                for i in active
            ],
            prices_include_vat=order.prices_include_vat,
            order_discount=_from_stored(order.order_discount, context.currency),
            service_charge_bp=0 if order.service_charge_waived else order.service_charge_rate_bp,
            tip=order.tip_minor,
        )
        for item, line in zip(active, totals.lines, strict=True):
            item.gross_minor = line.gross
            item.discount_minor = line.discount
            item.tax_minor = line.tax
            item.total_minor = line.total
        for item in order.items:
            if item.is_voided:
                item.gross_minor = item.discount_minor = item.tax_minor = item.total_minor = 0
        order.subtotal_minor = totals.subtotal
        order.discount_minor = totals.discount
        order.tax_minor = totals.tax
        order.service_charge_minor = totals.service_charge
        order.total_minor = totals.total
        return totals

    # --- stock ------------------------------------------------------------------------

    async def _move_stock(self, order: Order, items: Sequence[OrderItem], kind: str) -> None:
        allow_negative = negative_stock_allowed((await self.context()).pos)
        sign = -1 if kind == "sale" else 1
        quantities: dict[uuid.UUID, int] = {}
        names: dict[uuid.UUID, str] = {}
        for item in items:
            quantities[item.product_id] = quantities.get(item.product_id, 0) + item.quantity
            names[item.product_id] = item.product_name
        await ledger.apply_many(
            self.session,
            self.restaurant.id,
            [
                ledger.Movement(
                    product_id=product_id,
                    delta_milli=sign * quantity * MILLI,
                    kind=kind,
                    order_id=order.id,
                    user_id=self.subject.id,
                    reason=f"order {order.order_number}",
                )
                for product_id, quantity in quantities.items()
            ],
            allow_negative=allow_negative or kind != "sale",
            names=names,
        )

    # --- events -----------------------------------------------------------------------

    def _event(self, event_type: str, order: Order, **extra: Any) -> None:
        emit_order_event(self.session, self.restaurant.id, event_type, order, **extra)

    def _kitchen_event(self, order: Order, items: Sequence[OrderItem]) -> None:
        self._event(
            "kitchen_order",
            order,
            items=[
                {
                    "itemId": str(i.id),
                    "name": i.product_name,
                    "quantity": i.quantity,
                    "modifiers": [f"{m['type']}: {m['value']}" for m in i.modifiers],
                    "notes": i.notes,
                    "station": i.kitchen_station,
                    "preparationTime": i.preparation_time,
                    "course": i.course,
                }
                for i in items
            ],
        )

    async def _fire(self, order: Order, items: Sequence[OrderItem], kind: str) -> None:
        """Send ``items`` not held back to the kitchen: tickets per station and the event."""
        fired = await send_to_kitchen(
            self.session, self.restaurant, order, items, kind=kind, actor_id=self.subject.id
        )
        if fired:
            if order.status == "ready":
                await self.back_to_kitchen(order, change="items_fired")
            self._kitchen_event(order, fired)

    async def back_to_kitchen(self, order: Order, *, change: str) -> None:
        """A ready order has dishes to cook again (new ones fired, or recalled): it is
        preparing until they are ready, announced and audited like any status change."""
        previous = order.status
        order.status = "preparing"
        order.ready_at = None
        self._event("order_updated", order, previousStatus=previous, change=change)
        await self._audit("order.status_changed", order, previous=previous, change=change)

    async def _audit(self, action: str, order: Order, **new: Any) -> None:
        await record(
            self.session,
            self.subject.actor,
            action=action,
            resource_type="order",
            resource_id=order.id,
            restaurant_id=self.restaurant.id,
            new={"orderNumber": order.order_number, "status": order.status, **new},
        )

    # --- writing ----------------------------------------------------------------------

    async def _service_charge(self, requested: bool | None, order_type: str) -> tuple[int, bool]:
        context = await self.context()
        applies = order_type in context.service_charge_order_types
        if requested is False and applies and context.service_charge_bp:
            self.subject.require("orders.service_charge")
            return context.service_charge_bp, True
        if requested is True and not applies:
            return context.service_charge_bp, False
        return (context.service_charge_bp if applies else 0), False

    async def preview(self, body: OrderCreate) -> tuple[pricing.Totals, list[OrderItem], int]:
        context = await self.context()
        items = await self._new_items(body.items, body.order_type)
        if body.discount is not None:
            self.subject.require("orders.discount")
        rate, waived = await self._service_charge(body.service_charge, body.order_type)
        order = Order(
            items=items,
            prices_include_vat=context.prices_include_vat,
            order_discount=_stored_discount(body.discount),
            service_charge_rate_bp=rate,
            service_charge_waived=waived,
            tip_minor=to_minor(body.tip_amount, context.currency, field="tipAmount")
            if body.tip_amount is not None
            else 0,
        )
        # A transient order: never added to the session, so nothing of it is saved.
        totals = self._reprice(order, context)
        return totals, items, 0 if waived else rate

    async def create(
        self,
        body: OrderCreate,
        *,
        order_id: uuid.UUID | None = None,
        source: str = "pos",
        device_id: uuid.UUID | None = None,
        client_created_at: datetime | None = None,
    ) -> Order:
        context = await self.context()
        if body.discount is not None:
            self.subject.require("orders.discount")
        items = await self._new_items(body.items, body.order_type)
        await self._station_defaults(items)
        for position, item in enumerate(items):
            item.position = position
        rate, waived = await self._service_charge(body.service_charge, body.order_type)

        table_id, table_number = body.table_id, body.table_number
        table = None
        if table_id is not None:
            table = await occupy_for_order(self.session, self.restaurant.id, table_id)
        elif table_number is not None:
            found = await table_by_number(self.session, self.restaurant.id, table_number)
            if found is not None:
                table = await occupy_for_order(self.session, self.restaurant.id, found.id)
        if table is not None:
            table_id, table_number = table.id, table.number

        now = utc_now()
        day = numbering.business_date(
            now,
            self.restaurant.timezone,
            numbering.parse_day_start(context.pos.get("businessDayStartsAt")),
        )
        # A restaurant's new orders run one at a time from the number to the commit anyway
        # (the counter row's lock). Queueing first on an advisory lock makes that wait first
        # come, first served: waiting on the counter row, with 16 orders at once, the unlucky
        # ones waited 1.6 s (p99) against 0.25 s (p50); queued, p99 is 0.66 s.
        sequence = await numbering.next_sequence(
            self.session, self.restaurant.id, day, queue=f"orders:{self.restaurant.id}"
        )
        order = Order(
            id=order_id or uuid.uuid4(),
            restaurant_id=self.restaurant.id,
            order_number=numbering.format_number(day, sequence),
            business_date=day,
            daily_sequence=sequence,
            customer_id=body.customer_id,
            employee_id=self.subject.id,
            table_id=table_id,
            table_number=table_number,
            status="pending",
            order_type=body.order_type,
            payment_status="unpaid",
            currency=context.currency,
            prices_include_vat=context.prices_include_vat,
            service_charge_rate_bp=rate,
            service_charge_waived=waived,
            order_discount=_stored_discount(body.discount),
            tip_minor=to_minor(body.tip_amount, context.currency, field="tipAmount")
            if body.tip_amount is not None
            else 0,
            notes=body.notes,
            kitchen_notes=body.kitchen_notes,
            special_requests=body.special_requests,
            source=source,
            device_id=device_id,
            client_created_at=client_created_at,
            version=1,
            items=items,
        )
        deduct_now = deduct_stock_on(context.pos) == "create"
        order.stock_deducted = deduct_now
        self._reprice(order, context)
        for item in items:
            item.order_id = order.id
        if deduct_now:
            await self._move_stock(order, items, "sale")
        self._event("new_order", order, itemCount=sum(i.quantity for i in items))
        await self._audit(
            "order.create",
            order,
            total=order.total_minor,
            discount=order.discount_minor,
            serviceChargeWaived=waived,
        )
        # The order, its items, stock movements, audit entry and events: one statement.
        await insert_as_loaded(
            self.session,
            [order],
            items,
            *take_pending(self.session, StockMovement, AuditLog, OutboxEvent),
        )
        return order

    def _settle_payment_status(self, order: Order) -> None:
        """After a change of total: never below what was already paid (refund first), and
        a paid order that grew owes the difference again."""
        net_paid = order.paid_minor - order.refunded_minor
        if net_paid > order.total_minor:
            raise Conflict(
                f"Order {order.order_number} has {to_major(net_paid, order.currency)} paid; "
                f"its total cannot drop to {to_major(order.total_minor, order.currency)}. "
                "Refund the difference first",
                details={
                    "amountPaid": float(to_major(net_paid, order.currency)),
                    "newTotal": float(to_major(order.total_minor, order.currency)),
                },
            )
        order.payment_status = payment_state.order_payment_status(order)

    def _check_editable(self, order: Order) -> None:
        if order.status not in state.OPEN:
            raise OrderNotEditable(order)

    async def add_items(
        self, order_id: uuid.UUID, items_in: Sequence[OrderItemIn], version: int | None
    ) -> Order:
        order = await self.lock(order_id, version)
        self._check_editable(order)
        context = await self.context()
        items = await self._new_items(items_in, order.order_type)
        await self._station_defaults(items)
        start = max((i.position for i in order.items), default=-1) + 1
        for offset, item in enumerate(items):
            item.position = start + offset
            item.order_id = order.id
            order.items.append(item)
        self._reprice(order, context)
        self._settle_payment_status(order)
        order.version += 1
        await self.session.flush()
        if order.stock_deducted:
            await self._move_stock(order, items, "sale")
        if order.status in state.SENT_TO_KITCHEN:
            await self._fire(order, items, "addition")
        self._event("order_updated", order, change="items_added")
        await self._audit("order.items_added", order, items=[str(i.id) for i in items])
        return order

    async def fire(
        self,
        order_id: uuid.UUID,
        *,
        course: int | None,
        item_ids: Sequence[uuid.UUID] | None,
        version: int | None,
    ) -> Order:
        """Send held items to the kitchen: those of ``course``, those named, or all."""
        order = await self.lock(order_id, version)
        if order.status not in state.SENT_TO_KITCHEN:
            raise Conflict(
                f"Order {order.order_number} is {order.status}; held items are fired once "
                "the order is confirmed and before it is completed",
                details={"status": order.status},
            )
        held = [i for i in order.items if i.held and not i.is_voided]
        if item_ids is not None:
            known = {i.id: i for i in held}
            unknown = [str(i) for i in item_ids if i not in known]
            if unknown:
                raise Conflict(
                    "Only held items of this order can be fired",
                    details={"itemIds": unknown},
                )
            held = [known[i] for i in dict.fromkeys(item_ids)]
        elif course is not None:
            held = [i for i in held if i.course == course]
        if not held:
            raise Conflict(
                f"Order {order.order_number} has no held items to fire"
                + (f" in course {course}" if course is not None else ""),
                details={"course": course},
            )
        for item in held:
            item.held = False
        await self._fire(order, held, "addition")
        order.version += 1
        self._event("order_updated", order, change="items_fired")
        await self._audit("order.items_fired", order, items=[str(i.id) for i in held])
        return order

    async def remove_item(
        self, order_id: uuid.UUID, item_id: uuid.UUID, reason: str | None, version: int | None
    ) -> Order:
        order = await self.lock(order_id, version)
        self._check_editable(order)
        item = next((i for i in order.items if i.id == item_id and not i.is_voided), None)
        if item is None:
            raise ResourceNotFound("Order item", item_id)
        if len([i for i in order.items if not i.is_voided]) == 1:
            raise Conflict(
                "This is the order's last item; cancel the order instead",
                details={"orderId": str(order.id)},
            )
        sent = order.status in state.SENT_TO_KITCHEN
        if sent:
            self.subject.require("orders.void")
            if not reason:
                raise Unprocessable(
                    "A reason is needed to void an item the kitchen already has",
                    details=[{"field": "reason", "message": "required once sent to the kitchen"}],
                )
        if order.stock_deducted:
            await self._move_stock(order, [item], "cancel")
        if sent:
            await void_in_kitchen(
                self.session, self.restaurant, order, [item], actor_id=self.subject.id
            )
            item.is_voided = True
            item.void_reason = reason
            item.voided_by = self.subject.id
            item.voided_at = utc_now()
        else:
            order.items.remove(item)  # delete-orphan: the row goes with the flush
        self._reprice(order, await self.context())
        self._settle_payment_status(order)
        order.version += 1
        self._event("order_updated", order, change="item_voided" if sent else "item_removed")
        await self._audit(
            "order.item_voided" if sent else "order.item_removed",
            order,
            item=str(item_id),
            product=item.product_name,
            reason=reason,
        )
        return order

    async def adjust(self, order_id: uuid.UUID, body: OrderAdjust) -> Order:
        order = await self.lock(order_id, body.version)
        self._check_editable(order)
        context = await self.context()
        old = {
            "discount": order.order_discount,
            "tip": order.tip_minor,
            "serviceChargeWaived": order.service_charge_waived,
        }
        if body.discount is not None or body.remove_discount:
            self.subject.require("orders.discount")
            order.order_discount = None if body.remove_discount else _stored_discount(body.discount)
        if body.tip_amount is not None:
            order.tip_minor = to_minor(body.tip_amount, context.currency, field="tipAmount")
        if body.service_charge is not None:
            self.subject.require("orders.service_charge")
            if body.service_charge and not order.service_charge_rate_bp:
                order.service_charge_rate_bp = context.service_charge_bp
            order.service_charge_waived = not body.service_charge
        if body.notes is not None:
            order.notes = body.notes
        self._reprice(order, context)
        self._settle_payment_status(order)
        order.version += 1
        self._event("order_updated", order, change="adjusted")
        await record(
            self.session,
            self.subject.actor,
            action="order.adjusted",
            resource_type="order",
            resource_id=order.id,
            restaurant_id=self.restaurant.id,
            old=old,
            new={
                "discount": order.order_discount,
                "tip": order.tip_minor,
                "serviceChargeWaived": order.service_charge_waived,
                "total": order.total_minor,
            },
        )
        return order

    async def change_status(
        self,
        order_id: uuid.UUID,
        status: str,
        *,
        estimated_completion: datetime | None,
        reason: str | None,
        version: int | None,
    ) -> Order:
        if status == "cancelled":
            if not reason:
                raise Unprocessable(
                    "A reason is needed to cancel an order",
                    details=[{"field": "reason", "message": "required when cancelling"}],
                )
            return await self.cancel(order_id, reason, version)
        order = await self.lock(order_id, version)
        state.check_transition(order.status, status)
        previous = order.status
        now = utc_now()
        if estimated_completion is not None:
            order.estimated_completion = estimated_completion
        if previous == "pending":
            order.confirmed_at = now
            if not order.stock_deducted:
                await self._move_stock(order, [i for i in order.items if not i.is_voided], "sale")
                order.stock_deducted = True
        order.status = status
        if status == "ready" and order.ready_at is None:
            order.ready_at = now
        if status == "completed":
            order.completed_at = now
        order.version += 1
        if previous == "pending":
            await self._fire(order, order.items, "new")
        self._event("order_updated", order, previousStatus=previous)
        await self._audit("order.status_changed", order, previous=previous)
        if status in ("ready", "served") and order.payment_status == "paid":
            # Paid before the kitchen finished: the restaurant's rule may complete it now.
            await complete_if_due(self.session, self.restaurant, order, self.subject.actor)
            return order
        if status == "completed" and order.table_id is not None:
            await self.session.flush()
            await release_if_free(self.session, self.restaurant.id, order.table_id)
        return order

    async def cancel(self, order_id: uuid.UUID, reason: str, version: int | None) -> Order:
        order = await self.lock(order_id, version)
        state.check_transition(order.status, "cancelled")
        if order.payment_status not in ("unpaid", "refunded"):
            raise Conflict(
                f"Order {order.order_number} has payments ({order.payment_status}); "
                "refund them before cancelling",
                details={"paymentStatus": order.payment_status},
            )
        voiding = order.status in state.SENT_TO_KITCHEN
        self.subject.require("orders.void" if voiding else "orders.cancel")
        previous = order.status
        if order.stock_deducted:
            await self._move_stock(order, [i for i in order.items if not i.is_voided], "cancel")
            order.stock_deducted = False
        if voiding:
            await void_in_kitchen(
                self.session,
                self.restaurant,
                order,
                [i for i in order.items if not i.is_voided],
                actor_id=self.subject.id,
            )
        order.status = "cancelled"
        order.cancelled_at = utc_now()
        order.cancel_reason = reason
        order.cancelled_by = self.subject.id
        order.version += 1
        self._event("order_updated", order, previousStatus=previous, reason=reason)
        await self._audit(
            "order.voided" if voiding else "order.cancelled",
            order,
            previous=previous,
            reason=reason,
            total=order.total_minor,
        )
        if order.table_id is not None:
            await self.session.flush()
            await release_if_free(self.session, self.restaurant.id, order.table_id)
        return order
