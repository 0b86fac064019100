"""The demo's open-banking provider: payment requests kept in memory, an approval page where
a person plays the customer's bank, and webhooks signed like a real provider's.

It exists so the QR flow works end to end with no bank reachable. State is per process and
lost on restart (a lost request just expires). Never used outside development and tests.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

from fynlo.payments.providers.base import (
    BankPayment,
    InvalidSignature,
    ProviderError,
    ProviderEvent,
    RefundResult,
)
from fynlo.webhooks import signing

SIGNATURE_HEADER = "Sandbox-Bank-Signature"
EVENT_ID_HEADER = "Sandbox-Bank-Event-Id"


@dataclass
class _Request:
    payment: BankPayment
    reference: str
    description: str
    refunded_minor: int = 0


class SandboxBank:
    name = "sandbox_bank"

    def __init__(self, webhook_secret: str, base_url: str) -> None:
        self._secret = webhook_secret
        self._base_url = base_url.rstrip("/")
        self._requests: dict[str, _Request] = {}
        self._by_key: dict[str, str] = {}

    async def create_payment(
        self,
        amount_minor: int,
        currency: str,
        *,
        reference: str,
        description: str,
        idempotency_key: str,
    ) -> BankPayment:
        existing = self._by_key.get(idempotency_key)
        if existing is not None:
            return self._requests[existing].payment
        payment_id = "sbx_" + secrets.token_hex(12)
        payment = BankPayment(
            provider_payment_id=payment_id,
            status="pending",
            authorisation_url=f"{self._base_url}/sandbox-bank/authorise/{payment_id}",
            amount_minor=amount_minor,
            currency=currency,
        )
        self._requests[payment_id] = _Request(payment, reference, description)
        self._by_key[idempotency_key] = payment_id
        return payment

    def _get(self, provider_payment_id: str) -> _Request:
        found = self._requests.get(provider_payment_id)
        if found is None:
            raise ProviderError(f"no payment request {provider_payment_id}", code="not_found")
        return found

    def describe(self, provider_payment_id: str) -> tuple[BankPayment, str, str] | None:
        found = self._requests.get(provider_payment_id)
        return None if found is None else (found.payment, found.reference, found.description)

    async def status(self, provider_payment_id: str) -> BankPayment:
        return self._get(provider_payment_id).payment

    async def cancel(self, provider_payment_id: str) -> None:
        request = self._get(provider_payment_id)
        if request.payment.status == "pending":
            request.payment = replace(request.payment, status="cancelled")

    async def refund(
        self,
        provider_payment_id: str,
        amount_minor: int,
        *,
        idempotency_key: str,
        reason: str | None = None,
    ) -> RefundResult:
        request = self._get(provider_payment_id)
        paid = request.payment.amount_minor or 0
        if request.payment.status != "completed":
            raise ProviderError("only a completed payment can be refunded", code="not_paid")
        if request.refunded_minor + amount_minor > paid:
            raise ProviderError("refund exceeds the amount paid", code="amount_too_large")
        request.refunded_minor += amount_minor
        return RefundResult(
            provider_refund_id="sbxr_" + secrets.token_hex(10),
            status="succeeded",
            amount_minor=amount_minor,
        )

    def decide(self, provider_payment_id: str, *, approve: bool) -> tuple[bytes, dict[str, str]]:
        """The customer approves (or declines) in their bank: the request settles and a
        signed webhook is produced for delivery."""
        request = self._get(provider_payment_id)
        if request.payment.status == "pending":
            now = int(time.time())
            request.payment = (
                replace(
                    request.payment,
                    status="completed",
                    bank_reference="SBX" + secrets.token_hex(5).upper(),
                    paid_at=now,
                )
                if approve
                else replace(request.payment, status="failed")
            )
        return self.webhook_for(provider_payment_id)

    def webhook_for(self, provider_payment_id: str) -> tuple[bytes, dict[str, str]]:
        payment = self._get(provider_payment_id).payment
        event_id = "sbxevt_" + secrets.token_hex(10)
        body = json.dumps(
            {
                "id": event_id,
                "type": f"payment.{payment.status}",
                "created": int(time.time()),
                "data": {
                    "paymentId": payment.provider_payment_id,
                    "status": payment.status,
                    "amount": payment.amount_minor,
                    "currency": payment.currency,
                    "bankReference": payment.bank_reference,
                    "paidAt": payment.paid_at,
                },
            },
            separators=(",", ":"),
        ).encode()
        return body, {
            SIGNATURE_HEADER: signing.sign([self._secret], body),
            EVENT_ID_HEADER: event_id,
            "Content-Type": "application/json",
        }

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        lowered = {k.lower(): v for k, v in headers.items()}
        header = lowered.get(SIGNATURE_HEADER.lower())
        if not header or not signing.verify(self._secret, header, body):
            raise InvalidSignature("bad or missing sandbox bank signature")
        try:
            event = json.loads(body)
            data = event["data"]
            status = data["status"]
            kind = {"completed": "payment_succeeded", "failed": "payment_failed"}.get(
                status, "other"
            )
            return ProviderEvent(
                provider=self.name,
                event_id=str(event["id"]),
                event_type=str(event["type"]),
                kind=kind,  # type: ignore[arg-type]
                created=int(event["created"]),
                provider_payment_id=str(data["paymentId"]),
                amount_minor=int(data["amount"]) if data.get("amount") is not None else None,
                currency=data.get("currency"),
                payload={**data, "bankReference": data.get("bankReference")},
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidSignature(f"malformed sandbox bank webhook: {exc}") from exc
