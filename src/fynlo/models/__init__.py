"""All tables. Import every model module here so Alembic and the tests see the full metadata."""

from fynlo.db.base import Base
from fynlo.models.audit import AuditChainHead, AuditLog
from fynlo.models.auth import PasswordResetToken, PosDevice, RecoveryCode, RefreshToken
from fynlo.models.idempotency import IdempotencyKey
from fynlo.models.identity import Platform, Restaurant, RestaurantSettings, User, restaurant_owners

__all__ = [
    "AuditChainHead",
    "AuditLog",
    "Base",
    "IdempotencyKey",
    "PasswordResetToken",
    "Platform",
    "PosDevice",
    "RecoveryCode",
    "RefreshToken",
    "Restaurant",
    "RestaurantSettings",
    "User",
    "restaurant_owners",
]
