"""Which tenders a restaurant takes, with their fees: its ``payment_methods`` settings over
the spec's defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fynlo.kit.errors import Unprocessable
from fynlo.models import Restaurant
from fynlo.payments.fees import FeeRule

# Method code → (settings key, settings key it falls back to, default entry).
_DEFAULTS: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "qrCode": ("qrCode", None, {"enabled": True, "feePercentage": 1.2}),
    "cash": ("cash", None, {"enabled": True, "requiresAuth": False}),
    "card": ("card", None, {"enabled": True, "feePercentage": 2.9, "feeFixed": 0.30}),
    "applePay": ("applePay", "card", {"enabled": True, "feePercentage": 2.9, "feeFixed": 0.30}),
    "googlePay": ("googlePay", "card", {"enabled": True, "feePercentage": 2.9, "feeFixed": 0.30}),
    "giftCard": ("giftCard", None, {"enabled": True, "requiresAuth": True}),
    # Razorpay's standard domestic rate; only INR restaurants offer it by default.
    "upi": ("upi", "razorpay", {"enabled": True, "feePercentage": 2.0, "currencies": ["INR"]}),
}
METHOD_LABELS = {
    "qrCode": "QR payment",
    "cash": "Cash",
    "card": "Card",
    "applePay": "Apple Pay",
    "googlePay": "Google Pay",
    "giftCard": "Gift card",
    "upi": "UPI / Razorpay",
}


@dataclass(frozen=True)
class MethodConfig:
    code: str
    enabled: bool
    fee: FeeRule
    fee_percentage: float
    fee_fixed: float
    requires_auth: bool


def method_config(restaurant: Restaurant, method: str) -> MethodConfig:
    key, fallback, default = _DEFAULTS[method]
    configured = restaurant.payment_methods or {}
    entry: dict[str, Any] = {**default, **(configured.get(fallback) or {} if fallback else {})}
    entry.update(configured.get(key) or {})
    currencies = entry.get("currencies")
    enabled = bool(entry.get("enabled", True)) and (
        not currencies or restaurant.currency.upper() in currencies
    )
    return MethodConfig(
        code=method,
        enabled=enabled,
        fee=FeeRule.from_config(entry, restaurant.currency),
        fee_percentage=float(entry.get("feePercentage") or 0),
        fee_fixed=float(entry.get("feeFixed") or 0),
        requires_auth=bool(entry.get("requiresAuth", False)),
    )


def all_methods(restaurant: Restaurant) -> list[MethodConfig]:
    return [method_config(restaurant, code) for code in _DEFAULTS]


def require_enabled(restaurant: Restaurant, method: str) -> MethodConfig:
    config = method_config(restaurant, method)
    if not config.enabled:
        raise MethodNotAccepted(method)
    return config


class MethodNotAccepted(Unprocessable):
    code = "payment_method_not_accepted"

    def __init__(self, method: str) -> None:
        super().__init__(
            f"This restaurant does not accept {METHOD_LABELS.get(method, method)} payments",
            details=[{"field": "method", "message": f"{method} is not enabled"}],
        )
