"""The permission matrix: data, not ``if`` statements scattered through routes.

Patterns ending in ``.*`` grant every permission of that domain. A user's own
``permissions`` column may add (``grant``) or remove (``revoke``) single permissions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fynlo.authz.roles import Role

PERMISSIONS: dict[str, str] = {
    "platform.manage": "Manage the platform and its subscription",
    "restaurants.create": "Open a new restaurant on the platform",
    "restaurants.read": "See restaurant details",
    "restaurants.update": "Change restaurant details",
    "settings.read": "See restaurant settings (tax, payment methods, receipts)",
    "settings.update": "Change restaurant settings",
    "users.read": "See staff",
    "users.create": "Add staff",
    "users.update": "Change staff",
    "users.delete": "Deactivate staff",
    "audit.read": "Read the audit log",
    "devices.manage": "Bind tills and hardware to the restaurant",
    "menu.read": "See the menu",
    "menu.manage": "Change categories, products and modifiers",
    "tables.read": "See tables",
    "tables.manage": "Open, move, merge and free tables",
    "orders.read": "See orders",
    "orders.create": "Take orders",
    "orders.update": "Change orders and their status",
    "orders.cancel": "Cancel orders not yet sent to the kitchen",
    "orders.void": "Void orders or items already sent to the kitchen",
    "orders.discount": "Apply discounts",
    "orders.service_charge": "Remove the service charge",
    "kitchen.read": "See the kitchen display",
    "kitchen.update": "Bump, recall and update kitchen items; open, pause and close stations",
    "kitchen.manage": "Set up kitchen stations",
    "kots.manage": "Reprint and void kitchen order tickets",
    "inventory.read": "See stock",
    "inventory.manage": "Restock, count, record waste, reorder",
    "payments.read": "See payments",
    "payments.process": "Take payments",
    "payments.refund": "Refund payments",
    "cash_drawer.manage": "Open, count and close cash drawers",
    "gift_cards.manage": "Issue and load gift cards",
    "customers.read": "See customers",
    "customers.manage": "Change customers and loyalty",
    "reservations.manage": "Take and change reservations",
    "reports.read": "See reports and analytics",
    "staff.timeclock": "Clock in and out",
    "staff.timesheets": "See and correct everyone's timesheets",
    "staff.schedule": "Plan and publish shifts",
    "webhooks.manage": "Register outgoing webhooks",
    "notifications.send": "Send a notification to everyone in the restaurant",
}

ROLE_PERMISSIONS: dict[Role, list[str]] = {
    Role.PLATFORM_OWNER: ["*"],
    Role.RESTAURANT_OWNER: [
        p for p in PERMISSIONS if p not in ("platform.manage", "restaurants.create")
    ],
    Role.MANAGER: [
        "restaurants.read",
        "settings.read",
        "settings.update",
        "users.*",
        "audit.read",
        "devices.manage",
        "menu.*",
        "tables.*",
        "orders.*",
        "kitchen.*",
        "kots.*",
        "inventory.*",
        "payments.*",
        "cash_drawer.*",
        "gift_cards.*",
        "customers.*",
        "reservations.*",
        "reports.*",
        "staff.*",
        "notifications.*",
    ],
    Role.CAPTAIN: [
        "restaurants.read",
        "menu.read",
        "tables.*",
        "orders.*",
        "kitchen.read",
        "kots.*",
        "payments.read",
        "payments.process",
        "customers.*",
        "reservations.*",
        "staff.timeclock",
    ],
    Role.CASHIER: [
        "restaurants.read",
        "menu.read",
        "tables.read",
        "orders.read",
        "orders.create",
        "orders.update",
        "payments.read",
        "payments.process",
        "cash_drawer.manage",
        "gift_cards.manage",
        "customers.read",
        "staff.timeclock",
    ],
    Role.WAITER: [
        "restaurants.read",
        "menu.read",
        "tables.read",
        "tables.manage",
        "orders.read",
        "orders.create",
        "orders.update",
        "kitchen.read",
        "customers.read",
        "staff.timeclock",
    ],
    Role.KITCHEN_STAFF: [
        "restaurants.read",
        "menu.read",
        "orders.read",
        "kitchen.read",
        "kitchen.update",
        "kots.*",
        "inventory.read",
        "staff.timeclock",
    ],
    Role.EMPLOYEE: ["restaurants.read", "menu.read", "orders.read", "staff.timeclock"],
}

# A PIN signs a person in at a shared till: enough to work the floor, nothing that changes
# who may do what, the settings or money already taken.
PIN_ALLOWED: frozenset[str] = frozenset(
    {
        "restaurants.read",
        "menu.read",
        "tables.read",
        "tables.manage",
        "orders.read",
        "orders.create",
        "orders.update",
        "orders.cancel",
        "orders.discount",
        "kitchen.read",
        "kitchen.update",
        "kots.manage",
        "inventory.read",
        "payments.read",
        "payments.process",
        "cash_drawer.manage",
        "gift_cards.manage",
        "customers.read",
        "customers.manage",
        "reservations.manage",
        "staff.timeclock",
    }
)

# The coarse list the login response shows the front end (`["pos", "reports", ...]`).
COARSE: dict[str, tuple[str, ...]] = {
    "pos": ("orders.create",),
    "payments": ("payments.process",),
    "kitchen": ("kitchen.read",),
    "menu": ("menu.manage",),
    "inventory": ("inventory.read",),
    "reports": ("reports.read",),
    "staff": ("users.read",),
    "settings": ("settings.update",),
    "platform": ("platform.manage",),
}


def expand(patterns: Iterable[str]) -> frozenset[str]:
    granted: set[str] = set()
    for pattern in patterns:
        if pattern == "*":
            granted.update(PERMISSIONS)
        elif pattern.endswith(".*"):
            prefix = pattern[:-1]
            granted.update(p for p in PERMISSIONS if p.startswith(prefix))
        elif pattern in PERMISSIONS:
            granted.add(pattern)
        else:
            raise ValueError(f"unknown permission {pattern!r}")
    return frozenset(granted)


ROLE_MATRIX: dict[str, frozenset[str]] = {
    role.value: expand(patterns) for role, patterns in ROLE_PERMISSIONS.items()
}


def effective_permissions(
    role: str, overrides: Mapping[str, Any] | None, *, pin_session: bool = False
) -> frozenset[str]:
    granted = set(ROLE_MATRIX.get(role, frozenset()))
    if overrides:
        granted |= set(overrides.get("grant", ())) & set(PERMISSIONS)
        granted -= set(overrides.get("revoke", ()))
    if pin_session:
        granted &= PIN_ALLOWED
    return frozenset(granted)


def coarse_permissions(permissions: frozenset[str]) -> list[str]:
    return [name for name, needs in COARSE.items() if all(p in permissions for p in needs)]
