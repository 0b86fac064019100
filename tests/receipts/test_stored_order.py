"""A receipt of an order read back from the database (both backends), not just in memory."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fynlo.db.engine import create_sessionmaker
from fynlo.models import Category, Order, Product, Restaurant, RestaurantSettings
from fynlo.orders.receipts import (
    ReceiptPayment,
    build_receipt,
    render_html,
    render_pdf,
    render_text,
)
from tests.factories import create_restaurant
from tests.receipts.factories import Line, make_order


async def test_receipt_of_a_stored_order(session: AsyncSession, engine: AsyncEngine) -> None:
    restaurant = await create_restaurant(session, name="Stored Bistro", phone="0161 496 0000")
    settings = (
        await session.scalars(
            select(RestaurantSettings).where(RestaurantSettings.restaurant_id == restaurant.id)
        )
    ).one()
    settings.receipt_settings = {"vatNumber": "GB123456789", "footer": ["Cheers!"]}
    category = Category(restaurant_id=restaurant.id, name="Mains")
    session.add(category)
    await session.flush()
    product = Product(
        restaurant_id=restaurant.id, category_id=category.id, name="Pie", price_minor=1200
    )
    session.add(product)
    await session.flush()
    order = make_order(
        [
            Line("Pie", 1200, 2, modifiers=[{"type": "side", "value": "Mash", "price": 150}]),
            Line("Lemonade", 300, rate_bp=0),
            Line("Soup", 500, voided=True),
        ],
        restaurant=restaurant,
        service_bp=1000,
        tip=250,
    )
    for item in order.items:
        item.product_id = product.id
    session.add(order)
    await session.commit()
    order_id, restaurant_id = order.id, restaurant.id

    async with create_sessionmaker(engine)() as fresh:
        stored = (await fresh.scalars(select(Order).where(Order.id == order_id))).one()
        place = (
            await fresh.scalars(select(Restaurant).where(Restaurant.id == restaurant_id))
        ).one()
        receipt_settings = (
            await fresh.scalars(
                select(RestaurantSettings.receipt_settings).where(
                    RestaurantSettings.restaurant_id == restaurant_id
                )
            )
        ).one()
        await fresh.close()  # everything the receipt needs is loaded; no lazy loads happen

    receipt = build_receipt(
        stored, place, receipt_settings, [ReceiptPayment("card", 3000)], server_name="Sam"
    )

    assert receipt.order_id == order_id
    assert receipt.header.name == "Stored Bistro"
    assert receipt.header.vat_number == "GB123456789"
    assert receipt.header.address_lines[-1] == "London"
    assert [i.name for i in receipt.items] == ["Pie", "Lemonade"]
    assert receipt.subtotal == Decimal("30.00")
    assert receipt.service_charge == Decimal("3.00")
    assert receipt.total == Decimal("35.50")
    assert receipt.amount_due == Decimal("5.50")
    assert receipt.created_at.utcoffset() is not None
    assert receipt.created_at_local.isoformat().endswith("+01:00")  # June in London
    assert receipt.footer == ["Cheers!"]
    text = render_text(receipt, 48)
    assert "Amount due" in text
    assert max(len(line) for line in text.splitlines()) <= 48
    assert "Stored Bistro" in render_html(receipt)
    assert stored.order_number.encode() in render_pdf(receipt)
