"""Staff roles, from the platform operator down to the kitchen."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    PLATFORM_OWNER = "platform_owner"
    RESTAURANT_OWNER = "restaurant_owner"
    MANAGER = "manager"
    CAPTAIN = "captain"
    CASHIER = "cashier"
    WAITER = "waiter"
    KITCHEN_STAFF = "kitchen_staff"
    EMPLOYEE = "employee"


# Higher rank may manage lower ranks; nobody manages an equal or higher rank but the
# platform owner (see fynlo.identity.users.service for the rule applied).
ROLE_RANK: dict[Role, int] = {
    Role.PLATFORM_OWNER: 100,
    Role.RESTAURANT_OWNER: 80,
    Role.MANAGER: 60,
    Role.CAPTAIN: 40,
    Role.CASHIER: 30,
    Role.WAITER: 20,
    Role.KITCHEN_STAFF: 20,
    Role.EMPLOYEE: 10,
}

ALL_ROLES = tuple(r.value for r in Role)
