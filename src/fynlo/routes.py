"""Routers of the domain packages, mounted by :func:`fynlo.app.create_app`."""

from __future__ import annotations

from fastapi import APIRouter

from fynlo.floor.endpoints import ROUTERS as FLOOR_ROUTERS
from fynlo.inventory.endpoints import ROUTERS as INVENTORY_ROUTERS
from fynlo.menu.endpoints import ROUTERS as MENU_ROUTERS

DOMAIN_ROUTERS: list[APIRouter] = []
DOMAIN_ROUTERS += FLOOR_ROUTERS
DOMAIN_ROUTERS += INVENTORY_ROUTERS
DOMAIN_ROUTERS += MENU_ROUTERS

from fynlo.orders.endpoints import orders_router  # noqa: E402

DOMAIN_ROUTERS.append(orders_router)

from fynlo.events.endpoints import events_router  # noqa: E402

DOMAIN_ROUTERS.append(events_router)

from fynlo.webhooks.endpoints import ROUTERS as WEBHOOK_ROUTERS  # noqa: E402

DOMAIN_ROUTERS += WEBHOOK_ROUTERS

from fynlo.payments.endpoints import ROUTERS as PAYMENT_ROUTERS  # noqa: E402
from fynlo.payments.pages import ROUTERS as PAYMENT_PAGE_ROUTERS  # noqa: E402

DOMAIN_ROUTERS += PAYMENT_ROUTERS + PAYMENT_PAGE_ROUTERS

from fynlo.payments.drawer_endpoints import ROUTERS as DRAWER_ROUTERS  # noqa: E402
from fynlo.payments.gift_card_endpoints import ROUTERS as GIFT_CARD_ROUTERS  # noqa: E402

DOMAIN_ROUTERS += DRAWER_ROUTERS + GIFT_CARD_ROUTERS

from fynlo.staff.endpoints import ROUTERS as STAFF_ROUTERS  # noqa: E402

DOMAIN_ROUTERS += STAFF_ROUTERS

from fynlo.devices.endpoints import ROUTERS as DEVICE_ROUTERS  # noqa: E402
from fynlo.kitchen.endpoints import ROUTERS as KITCHEN_ROUTERS  # noqa: E402
from fynlo.kitchen.metrics_endpoints import ROUTERS as KITCHEN_METRIC_ROUTERS  # noqa: E402
from fynlo.staff.shift_endpoints import ROUTERS as SHIFT_ROUTERS  # noqa: E402

DOMAIN_ROUTERS += KITCHEN_ROUTERS + KITCHEN_METRIC_ROUTERS + DEVICE_ROUTERS + SHIFT_ROUTERS
