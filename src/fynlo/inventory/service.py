"""Stock rules: tracking settings, counts, deliveries, waste, reorders and alerts.

Every change of level goes through :func:`fynlo.inventory.ledger.apply`, so the ledger
always sums to the level on file.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from pydantic.alias_generators import to_camel
from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import record
from fynlo.auth.subject import Subject
from fynlo.db.types import utc_now
from fynlo.db.upsert import conflict_insert_for
from fynlo.inventory import ledger
from fynlo.inventory.schemas import (
    AlertOut,
    InventoryOut,
    InventoryUpdate,
    MovementOut,
    ReorderCreate,
    ReorderOut,
    StockStatus,
    WasteCreate,
)
from fynlo.kit.errors import Conflict, ResourceNotFound, Unprocessable
from fynlo.kit.money import round_half_up, to_major, to_minor
from fynlo.kit.pagination import PageParams
from fynlo.models import (
    InventoryItem,
    Product,
    ReorderRequest,
    Restaurant,
    RestaurantSettings,
    StockMovement,
)
from fynlo.models.inventory import MILLI

OPEN_REORDER = "requested"
# A till's clock may run a little ahead; a restock dated further ahead is a typo.
FUTURE_TOLERANCE = timedelta(minutes=5)


async def _pos_settings(session: AsyncSession, restaurant_id: uuid.UUID) -> dict[str, Any]:
    settings = await session.scalar(
        select(RestaurantSettings.pos_settings).where(
            RestaurantSettings.restaurant_id == restaurant_id
        )
    )
    return settings if isinstance(settings, dict) else {}


def negative_stock_allowed(pos_settings: Mapping[str, Any]) -> bool:
    """``pos_settings["allowNegativeStock"]``: sell past zero (and alert) instead of refusing."""
    return pos_settings.get("allowNegativeStock") is True


def deduct_stock_on(pos_settings: Mapping[str, Any]) -> Literal["confirm", "create"]:
    """``pos_settings["stockDeductOn"]``: when an order takes its stock (default: confirm)."""
    return "create" if pos_settings.get("stockDeductOn") == "create" else "confirm"


async def allows_negative_stock(session: AsyncSession, restaurant_id: uuid.UUID) -> bool:
    return negative_stock_allowed(await _pos_settings(session, restaurant_id))


async def stock_deducted_on(
    session: AsyncSession, restaurant_id: uuid.UUID
) -> Literal["confirm", "create"]:
    return deduct_stock_on(await _pos_settings(session, restaurant_id))


def to_milli(quantity: Decimal) -> int:
    """Exact: request quantities are validated to at most three decimals."""
    return int(quantity.scaleb(3).to_integral_value())


def from_milli(milli: int) -> Decimal:
    return Decimal(milli).scaleb(-3)


def threshold_milli(item: InventoryItem) -> int:
    """The reorder point, or the minimum stock when no reorder point is set."""
    if item.reorder_point_milli is not None:
        return item.reorder_point_milli
    return item.minimum_stock_milli


def stock_status(item: InventoryItem) -> StockStatus:
    if item.current_stock_milli <= 0:
        return "out_of_stock"
    if item.current_stock_milli <= threshold_milli(item):
        return "low_stock"
    return "in_stock"


def _value_minor(quantity_milli: int, cost_minor: int) -> int:
    return round_half_up(Fraction(max(quantity_milli, 0) * cost_minor, MILLI))


def inventory_out(item: InventoryItem, product: Product, currency: str) -> InventoryOut:
    return InventoryOut(
        product_id=item.product_id,
        product_name=product.name,
        current_stock=from_milli(item.current_stock_milli),
        minimum_stock=from_milli(item.minimum_stock_milli),
        maximum_stock=_optional(item.maximum_stock_milli),
        reorder_point=_optional(item.reorder_point_milli),
        reorder_quantity=_optional(item.reorder_quantity_milli),
        unit=item.unit,
        cost_per_unit=to_major(item.cost_per_unit_minor, currency),
        currency=currency,
        supplier=item.supplier_name,
        supplier_contact=item.supplier_contact or {},
        last_restocked=item.last_restocked,
        auto_reorder=item.auto_reorder,
        turnover_rate=item.turnover_rate,
        status=stock_status(item),
        stock_value=to_major(
            _value_minor(item.current_stock_milli, item.cost_per_unit_minor), currency
        ),
        updated_at=item.updated_at,
    )


def movement_out(movement: StockMovement) -> MovementOut:
    return MovementOut(
        id=movement.id,
        product_id=movement.product_id,
        kind=movement.kind,
        quantity=from_milli(movement.quantity_milli),
        balance_after=from_milli(movement.balance_after_milli),
        order_id=movement.order_id,
        user_id=movement.user_id,
        reason=movement.reason,
        created_at=movement.created_at,
    )


def reorder_out(
    request: ReorderRequest, product: Product, item: InventoryItem | None, currency: str
) -> ReorderOut:
    cost = (
        to_major(_value_minor(request.quantity_milli, item.cost_per_unit_minor), currency)
        if item is not None and item.cost_per_unit_minor
        else None
    )
    return ReorderOut(
        id=request.id,
        product_id=request.product_id,
        product_name=product.name,
        quantity=from_milli(request.quantity_milli),
        unit=item.unit if item is not None else None,
        supplier=request.supplier_name,
        supplier_contact=request.supplier_contact or {},
        estimated_cost=cost,
        currency=currency,
        status=request.status,
        automatic=request.automatic,
        requested_by=request.requested_by,
        notes=request.notes,
        created_at=request.created_at,
    )


def _optional(milli: int | None) -> Decimal | None:
    return None if milli is None else from_milli(milli)


def _audit_view(item: InventoryItem) -> dict[str, Any]:
    def qty(milli: int | None) -> str | None:
        return None if milli is None else str(from_milli(milli))

    return {
        "currentStock": qty(item.current_stock_milli),
        "minimumStock": qty(item.minimum_stock_milli),
        "maximumStock": qty(item.maximum_stock_milli),
        "reorderPoint": qty(item.reorder_point_milli),
        "reorderQuantity": qty(item.reorder_quantity_milli),
        "unit": item.unit,
        "costPerUnitMinor": item.cost_per_unit_minor,
        "supplier": item.supplier_name,
        "supplierContact": item.supplier_contact,
        "lastRestocked": item.last_restocked.isoformat() if item.last_restocked else None,
        "autoReorder": item.auto_reorder,
        "turnoverRate": item.turnover_rate,
    }


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable(f"{field}: {message}", details=[{"field": field, "message": message}])


class ProductArchived(Conflict):
    code = "product_archived"

    def __init__(self, product: Product) -> None:
        super().__init__(
            f"Product '{product.name}' is archived; restore it before changing its stock",
            details={"productId": str(product.id)},
        )


class NoSupplierOnFile(Conflict):
    code = "no_supplier"

    def __init__(self, product: Product) -> None:
        super().__init__(
            f"Product '{product.name}' has no supplier on file; set 'supplier' with "
            f"PUT /api/inventory/{product.id} first",
            details={"productId": str(product.id), "field": "supplier"},
        )


def _status_clause(status: StockStatus) -> ColumnElement[bool]:
    stock = InventoryItem.current_stock_milli
    threshold = func.coalesce(InventoryItem.reorder_point_milli, InventoryItem.minimum_stock_milli)
    if status == "out_of_stock":
        return stock <= 0
    if status == "low_stock":
        return and_(stock > 0, stock <= threshold)
    return and_(stock > 0, stock > threshold)


@dataclass
class InventoryService:
    session: AsyncSession
    subject: Subject
    restaurant: Restaurant

    @property
    def currency(self) -> str:
        return self.restaurant.currency

    async def _product(self, product_id: uuid.UUID) -> Product:
        product = await self.session.scalar(
            select(Product).where(
                Product.id == product_id, Product.restaurant_id == self.restaurant.id
            )
        )
        if product is None:
            raise ResourceNotFound("Product", product_id)
        return product

    async def _item(self, product_id: uuid.UUID, *, lock: bool = False) -> InventoryItem | None:
        query = select(InventoryItem).where(
            InventoryItem.restaurant_id == self.restaurant.id,
            InventoryItem.product_id == product_id,
        )
        if lock:
            query = query.with_for_update()
        item: InventoryItem | None = (
            await self.session.execute(query.execution_options(populate_existing=True))
        ).scalar_one_or_none()
        return item

    async def _tracked(self, product_id: uuid.UUID) -> tuple[InventoryItem, Product]:
        product = await self._product(product_id)
        item = await self._item(product_id)
        if item is None:
            raise ResourceNotFound("Inventory of product", product_id)
        return item, product

    def _listing(self) -> Any:
        return (
            select(InventoryItem, Product)
            .join(Product, Product.id == InventoryItem.product_id)
            .where(
                InventoryItem.restaurant_id == self.restaurant.id,
                Product.restaurant_id == self.restaurant.id,
            )
        )

    async def levels(
        self,
        params: PageParams,
        *,
        status: StockStatus | None,
        search: str | None,
        include_archived: bool,
    ) -> tuple[list[InventoryOut], int]:
        query = self._listing()
        if not include_archived:
            query = query.where(Product.is_archived.is_(False))
        if status is not None:
            query = query.where(_status_clause(status))
        if search:
            like = f"%{search.lower()}%"
            query = query.where(
                or_(
                    func.lower(Product.name).like(like),
                    func.lower(InventoryItem.supplier_name).like(like),
                )
            )
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.execute(
            query.order_by(Product.name, Product.id).limit(params.limit).offset(params.offset)
        )
        return [inventory_out(item, product, self.currency) for item, product in rows], total

    async def get(self, product_id: uuid.UUID) -> InventoryOut:
        item, product = await self._tracked(product_id)
        return inventory_out(item, product, self.currency)

    async def _start_tracking(self, product_id: uuid.UUID) -> bool:
        """Insert the row unless a concurrent request just did; True if this one did."""
        insert = conflict_insert_for(self.session)
        now = utc_now()
        created = await self.session.execute(
            insert(InventoryItem)
            .values(
                id=uuid.uuid4(),
                restaurant_id=self.restaurant.id,
                product_id=product_id,
                current_stock_milli=0,
                minimum_stock_milli=0,
                unit="each",
                cost_per_unit_minor=0,
                supplier_contact={},
                auto_reorder=False,
                turnover_rate="medium",
                low_stock_alerted=False,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["restaurant_id", "product_id"])
            .returning(InventoryItem.id)
        )
        return created.first() is not None

    async def upsert(
        self, product_id: uuid.UUID, body: InventoryUpdate
    ) -> tuple[InventoryOut, bool]:
        """Start tracking (first call) or change settings; a count or delivery is a movement."""
        product = await self._product(product_id)
        if product.is_archived:
            raise ProductArchived(product)
        given = body.model_fields_set
        if body.current_stock is not None and body.restock_quantity is not None:
            raise _invalid(
                "restockQuantity", "give either currentStock (a count) or restockQuantity"
            )
        if body.reason is not None and body.current_stock is None and body.restock_quantity is None:
            raise _invalid("reason", "only applies with currentStock or restockQuantity")
        if body.last_restocked is not None and body.last_restocked > utc_now() + FUTURE_TOLERANCE:
            raise _invalid("lastRestocked", "must not be in the future")
        for required in ("minimum_stock", "unit", "cost_per_unit", "auto_reorder", "turnover_rate"):
            if required in given and getattr(body, required) is None:
                raise _invalid(to_camel(required), "must not be null")

        item = await self._item(product_id, lock=True)
        created = False
        if item is None:
            created = await self._start_tracking(product_id)
            item = await self._item(product_id, lock=True)
            assert item is not None
        before = None if created else _audit_view(item)

        self._apply_settings(item, body, given)
        if item.maximum_stock_milli is not None and item.maximum_stock_milli < (
            item.minimum_stock_milli
        ):
            raise _invalid("maximumStock", "must be at least minimumStock")
        if item.auto_reorder and not item.supplier_name:
            raise _invalid("supplier", "required when autoReorder is on")
        await self.session.flush()

        movement = None
        if body.current_stock is not None:
            delta = to_milli(body.current_stock) - item.current_stock_milli
            if delta:
                movement = ledger.Movement(
                    product_id, delta, "count", user_id=self.subject.id, reason=body.reason
                )
        elif body.restock_quantity is not None:
            movement = ledger.Movement(
                product_id,
                to_milli(body.restock_quantity),
                "restock",
                user_id=self.subject.id,
                reason=body.reason,
            )
        if movement is not None:
            await ledger.apply(
                self.session,
                self.restaurant.id,
                movement,
                allow_negative=True,
                product_name=product.name,
            )
        else:
            # A changed reorder point may itself cross the level on file.
            await ledger.watch_reorder_point(
                self.session, item.id, item.current_stock_milli, product.name
            )
        if body.last_restocked is not None:
            item.last_restocked = body.last_restocked
        await self.session.flush()
        await self.session.refresh(item)
        await record(
            self.session,
            self.subject.actor,
            action="inventory.update",
            resource_type="inventory",
            resource_id=product_id,
            restaurant_id=self.restaurant.id,
            old=before,
            new=_audit_view(item),
        )
        return inventory_out(item, product, self.currency), created

    def _apply_settings(self, item: InventoryItem, body: InventoryUpdate, given: set[str]) -> None:
        for field, column in (
            ("minimum_stock", "minimum_stock_milli"),
            ("maximum_stock", "maximum_stock_milli"),
            ("reorder_point", "reorder_point_milli"),
            ("reorder_quantity", "reorder_quantity_milli"),
        ):
            if field in given:
                value: Decimal | None = getattr(body, field)
                setattr(item, column, None if value is None else to_milli(value))
        if "unit" in given and body.unit is not None:
            item.unit = body.unit
        if "cost_per_unit" in given and body.cost_per_unit is not None:
            item.cost_per_unit_minor = to_minor(
                body.cost_per_unit, self.currency, field="costPerUnit"
            )
        if "supplier" in given:
            item.supplier_name = body.supplier
        if "supplier_contact" in given:
            item.supplier_contact = (
                body.supplier_contact.model_dump(mode="json", exclude_none=True)
                if body.supplier_contact is not None
                else {}
            )
        if "auto_reorder" in given and body.auto_reorder is not None:
            item.auto_reorder = body.auto_reorder
        if "turnover_rate" in given and body.turnover_rate is not None:
            item.turnover_rate = body.turnover_rate

    async def movements(
        self, product_id: uuid.UUID, params: PageParams
    ) -> tuple[list[MovementOut], int]:
        await self._tracked(product_id)
        query = select(StockMovement).where(
            StockMovement.restaurant_id == self.restaurant.id,
            StockMovement.product_id == product_id,
        )
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(
            query.order_by(StockMovement.created_at.desc(), StockMovement.id.desc())
            .limit(params.limit)
            .offset(params.offset)
        )
        return [movement_out(m) for m in rows], total

    async def waste(self, body: WasteCreate) -> tuple[MovementOut, InventoryOut]:
        """Throw stock away; past zero only where the restaurant allows negative stock."""
        item, product = await self._tracked(body.product_id)
        quantity = to_milli(body.quantity)
        entry = await ledger.apply(
            self.session,
            self.restaurant.id,
            ledger.Movement(
                body.product_id, -quantity, "waste", user_id=self.subject.id, reason=body.reason
            ),
            allow_negative=await allows_negative_stock(self.session, self.restaurant.id),
            product_name=product.name,
        )
        if entry is None:  # tracking stopped in between
            raise ResourceNotFound("Inventory of product", body.product_id)
        await self.session.flush()
        await self.session.refresh(item)
        await record(
            self.session,
            self.subject.actor,
            action="inventory.waste",
            resource_type="inventory",
            resource_id=body.product_id,
            restaurant_id=self.restaurant.id,
            old={"currentStock": str(from_milli(entry.balance_after_milli + quantity))},
            new={
                "currentStock": str(from_milli(entry.balance_after_milli)),
                "wasted": str(body.quantity),
                "reason": body.reason,
            },
        )
        return movement_out(entry), inventory_out(item, product, self.currency)

    async def reorder(self, body: ReorderCreate) -> ReorderOut:
        """A request to the supplier on file (sending it is the supplier integration's job)."""
        product = await self._product(body.product_id)
        if product.is_archived:
            raise ProductArchived(product)
        item = await self._item(body.product_id)
        if item is None:
            raise ResourceNotFound("Inventory of product", body.product_id)
        if not item.supplier_name:
            raise NoSupplierOnFile(product)
        request = ledger.reorder_request(
            item,
            automatic=False,
            user_id=self.subject.id,
            quantity_milli=to_milli(body.quantity) if body.quantity is not None else None,
            notes=body.notes,
        )
        self.session.add(request)
        await self.session.flush()
        await record(
            self.session,
            self.subject.actor,
            action="inventory.reorder",
            resource_type="reorder_request",
            resource_id=request.id,
            restaurant_id=self.restaurant.id,
            new={
                "productId": str(product.id),
                "quantity": str(from_milli(request.quantity_milli)),
                "supplier": request.supplier_name,
                "notes": request.notes,
            },
        )
        return reorder_out(request, product, item, self.currency)

    async def reorders(
        self,
        params: PageParams,
        *,
        status: str | None,
        product_id: uuid.UUID | None,
    ) -> tuple[list[ReorderOut], int]:
        query = (
            select(ReorderRequest, Product, InventoryItem)
            .join(Product, Product.id == ReorderRequest.product_id)
            .outerjoin(
                InventoryItem,
                and_(
                    InventoryItem.product_id == ReorderRequest.product_id,
                    InventoryItem.restaurant_id == self.restaurant.id,
                ),
            )
            .where(
                ReorderRequest.restaurant_id == self.restaurant.id,
                Product.restaurant_id == self.restaurant.id,
            )
        )
        if status is not None:
            query = query.where(ReorderRequest.status == status)
        if product_id is not None:
            query = query.where(ReorderRequest.product_id == product_id)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.execute(
            query.order_by(ReorderRequest.created_at.desc(), ReorderRequest.id.desc())
            .limit(params.limit)
            .offset(params.offset)
        )
        return [reorder_out(r, p, i, self.currency) for r, p, i in rows], total

    async def alerts(self, params: PageParams) -> tuple[list[AlertOut], int]:
        """Products at or below their reorder point (minimum stock when none), worst first."""
        threshold = func.coalesce(
            InventoryItem.reorder_point_milli, InventoryItem.minimum_stock_milli
        )
        pending = exists().where(
            ReorderRequest.restaurant_id == self.restaurant.id,
            ReorderRequest.product_id == InventoryItem.product_id,
            ReorderRequest.status == OPEN_REORDER,
        )
        query = (
            self._listing()
            .add_columns(pending.label("pending"))
            .where(
                Product.is_archived.is_(False),
                InventoryItem.current_stock_milli <= threshold,
            )
        )
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows: Sequence[Any] = (
            await self.session.execute(
                query.order_by(
                    (InventoryItem.current_stock_milli > 0).asc(),
                    Product.name,
                    Product.id,
                )
                .limit(params.limit)
                .offset(params.offset)
            )
        ).all()
        return [
            AlertOut(
                product_id=item.product_id,
                product_name=product.name,
                level="out_of_stock" if item.current_stock_milli <= 0 else "low_stock",
                current_stock=from_milli(item.current_stock_milli),
                minimum_stock=from_milli(item.minimum_stock_milli),
                reorder_point=from_milli(threshold_milli(item)),
                unit=item.unit,
                supplier=item.supplier_name,
                auto_reorder=item.auto_reorder,
                reorder_pending=bool(is_pending),
            )
            for item, product, is_pending in rows
        ], total


async def ledger_balance(
    session: AsyncSession, restaurant_id: uuid.UUID, product_id: uuid.UUID
) -> int:
    """The level the ledger sums to (in thousandths); equals the level on file."""
    total = await session.scalar(
        select(func.coalesce(func.sum(StockMovement.quantity_milli), 0)).where(
            StockMovement.restaurant_id == restaurant_id,
            StockMovement.product_id == product_id,
        )
    )
    return int(total or 0)
