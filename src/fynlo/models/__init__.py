"""All tables. Import every model module here so Alembic and the tests see the full metadata."""

from fynlo.db.base import Base
from fynlo.models.audit import AuditChainHead, AuditLog
from fynlo.models.auth import PasswordResetToken, PosDevice, RecoveryCode, RefreshToken
from fynlo.models.device import HardwareDevice, PrintJob
from fynlo.models.floor import DiningTable
from fynlo.models.idempotency import IdempotencyKey
from fynlo.models.identity import Platform, Restaurant, RestaurantSettings, User, restaurant_owners
from fynlo.models.inventory import InventoryItem, ReorderRequest, StockMovement
from fynlo.models.kitchen import KitchenStation, KitchenTicket, KitchenTicketCounter
from fynlo.models.mail import OutgoingMail
from fynlo.models.menu import Category, ModifierGroup, ModifierOption, Product
from fynlo.models.order import Order, OrderItem, OrderNumberCounter
from fynlo.models.outbox import OutboxEvent
from fynlo.models.payment import (
    CashDrawerSession,
    CashMovement,
    GiftCard,
    GiftCardEntry,
    Payment,
    PaymentProviderEvent,
    PaymentRefund,
    QrPayment,
)
from fynlo.models.realtime import WebsocketConnection
from fynlo.models.staff import Shift, TimeEntry
from fynlo.models.webhook import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "AuditChainHead",
    "AuditLog",
    "Base",
    "CashDrawerSession",
    "CashMovement",
    "Category",
    "DiningTable",
    "GiftCard",
    "GiftCardEntry",
    "HardwareDevice",
    "IdempotencyKey",
    "InventoryItem",
    "KitchenStation",
    "KitchenTicket",
    "KitchenTicketCounter",
    "ModifierGroup",
    "ModifierOption",
    "Order",
    "OrderItem",
    "OrderNumberCounter",
    "OutboxEvent",
    "OutgoingMail",
    "PasswordResetToken",
    "Payment",
    "PaymentProviderEvent",
    "PaymentRefund",
    "Platform",
    "PosDevice",
    "PrintJob",
    "Product",
    "QrPayment",
    "RecoveryCode",
    "RefreshToken",
    "ReorderRequest",
    "Restaurant",
    "RestaurantSettings",
    "Shift",
    "StockMovement",
    "TimeEntry",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebsocketConnection",
    "restaurant_owners",
]
