"""QR payments (open banking): a signed payment request shown as a QR code, confirmed by the
bank's webhook or a status poll, expiring after 15 minutes.

``qrCodeData`` is ``FYNLO-PAY:`` + base64url of a JSON payload that carries an HMAC-SHA256
signature (``sig``) over the rest of it, so a changed amount or reference is detected by
:func:`verify_qr_data`. The image encodes the customer's payment page URL.

Late confirmations (after expiry or cancellation) follow one stated rule: when the order
still owes at least the amount, the payment is accepted and applied (``lateOutcome:
accepted``); otherwise it is recorded as a *held* payment with ``lateOutcome: refund_due``
for staff to refund. Never dropped, never applied twice.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import secrets
import uuid
from datetime import datetime, timedelta

import segno
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import AuditActor, record
from fynlo.config import Settings
from fynlo.db.locking import lock_for_update
from fynlo.db.types import utc_now
from fynlo.events.outbox import emit
from fynlo.kit.errors import BadRequest, Conflict, ResourceNotFound
from fynlo.kit.money import to_major, to_minor
from fynlo.models import Order, Payment, QrPayment, Restaurant
from fynlo.payments import core, state
from fynlo.payments.methods import require_enabled
from fynlo.payments.providers.base import (
    BankPayment,
    BankProvider,
    ProviderError,
)
from fynlo.payments.schemas import QrGenerateIn

PREFIX = "FYNLO-PAY:"
INSTRUCTIONS = ["Open your banking app", "Scan this QR code", "Confirm the payment"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: str, payload: dict[str, object]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return _b64(hmac.new(key.encode(), canonical, hashlib.sha256).digest())


def encode_qr_data(key: str, payload: dict[str, object]) -> str:
    signed = {**payload, "sig": _signature(key, payload)}
    return PREFIX + _b64(json.dumps(signed, sort_keys=True, separators=(",", ":")).encode())


def verify_qr_data(key: str, data: str) -> dict[str, object]:
    """The payload of ``data`` if its signature holds, else :class:`BadRequest`."""
    if not data.startswith(PREFIX):
        raise BadRequest("Not a Fynlo payment code", details={"field": "qrCodeData"})
    try:
        payload = json.loads(_unb64(data[len(PREFIX) :]))
        sig = payload.pop("sig")
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest("Malformed Fynlo payment code", details={"field": "qrCodeData"}) from exc
    if not isinstance(sig, str) or not hmac.compare_digest(sig, _signature(key, payload)):
        raise BadRequest(
            "The payment code's signature does not match: it was altered",
            details={"field": "qrCodeData"},
        )
    return dict(payload)


def page_url(settings: Settings, reference: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/pay/{reference}"


def qr_image(url: str, kind: str) -> bytes:
    code = segno.make(url, error="m")
    out = io.BytesIO()
    if kind == "svg":
        code.save(out, kind="svg", scale=6, border=2, xmldecl=False)
    else:
        code.save(out, kind="png", scale=8, border=2)
    return out.getvalue()


class QrService:
    def __init__(
        self,
        session: AsyncSession,
        restaurant: Restaurant,
        actor: AuditActor,
        settings: Settings,
        bank: BankProvider | None,
        *,
        user_id: uuid.UUID | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        self.session = session
        self.restaurant = restaurant
        self.actor = actor
        self.settings = settings
        self.bank = bank
        self.user_id = user_id
        self.idempotency_key = idempotency_key

    def _bank(self) -> BankProvider:
        if self.bank is None:
            from fynlo.payments.providers.registry import ProviderNotConfigured

            raise ProviderNotConfigured("QR", "FYNLO_QR_PROVIDER")
        return self.bank

    async def generate(self, body: QrGenerateIn) -> QrPayment:
        bank = self._bank()
        config = require_enabled(self.restaurant, "qrCode")
        order = await core.lock_order(self.session, self.restaurant.id, body.order_id)
        core.check_currency(order, body.currency)
        if order.status in core.CLOSED:
            raise core.OrderNotPayable(order)
        sent = to_minor(body.amount, order.currency) if body.amount is not None else None
        amount, held = await core.resolve_amount(self.session, order, sent, None)
        await core.check_payable(self.session, order, amount, held=held)
        tip = to_minor(body.tip_amount, order.currency, field="tipAmount")
        gross = amount + tip
        fee = config.fee.fee(gross)
        qr_id = uuid.uuid4()
        reference = "FYN" + secrets.token_hex(8).upper()
        expires = utc_now() + timedelta(minutes=self.settings.qr_expiry_minutes)
        with core.provider_answer(bank.name):
            requested = await bank.create_payment(
                gross,
                order.currency,
                reference=reference,
                description=f"{self.restaurant.name} order {order.order_number}",
                idempotency_key=f"fynlo:{self.restaurant.id}:{self.idempotency_key or qr_id}",
            )
        url = page_url(self.settings, reference)
        payload: dict[str, object] = {
            "v": 1,
            "ref": reference,
            "amount": str(to_major(gross, order.currency)),
            "currency": order.currency,
            "merchant": self.restaurant.name,
            "orderNumber": order.order_number,
            "expiresAt": expires.isoformat(),
            "url": url,
        }
        qr = QrPayment(
            id=qr_id,
            restaurant_id=self.restaurant.id,
            order_id=order.id,
            reference=reference,
            qr_code_data=encode_qr_data(self.settings.qr_signing_key.get_secret_value(), payload),
            amount_minor=gross,
            tip_minor=tip,
            currency=order.currency,
            status="pending",
            expires_at=expires,
            fee_minor=fee,
            net_minor=gross - fee,
            provider=bank.name,
            provider_payment_id=requested.provider_payment_id,
            authorisation_url=requested.authorisation_url,
            created_by=self.user_id,
        )
        self.session.add(qr)
        emit(
            self.session,
            self.restaurant.id,
            "qr_payment_ready",
            {
                "qrPaymentId": str(qr.id),
                "orderId": str(order.id),
                "orderNumber": order.order_number,
                "amount": float(to_major(gross, order.currency)),
                "currency": order.currency,
                "expiresAt": expires.isoformat(),
                "paymentUrl": url,
            },
        )
        await self._audit("qr_payment.created", qr, None)
        return qr

    # --- reading ----------------------------------------------------------------------

    async def get(self, qr_id: uuid.UUID, *, lock: bool = False) -> QrPayment:
        query = select(QrPayment).where(
            QrPayment.restaurant_id == self.restaurant.id, QrPayment.id == qr_id
        )
        if lock:
            query = lock_for_update(query).execution_options(populate_existing=True)
        qr = await self.session.scalar(query)
        if qr is None:
            raise ResourceNotFound("QR payment", qr_id)
        return qr

    async def payment_of(self, qr: QrPayment) -> Payment | None:
        return await self.session.scalar(
            select(Payment).where(
                Payment.restaurant_id == qr.restaurant_id, Payment.qr_payment_id == qr.id
            )
        )

    async def status(self, qr_id: uuid.UUID) -> QrPayment:
        """The QR payment, expired on read when its time has passed."""
        qr = await self.get(qr_id)
        if qr.status == "pending" and qr.expires_at <= utc_now():
            await core.lock_order(self.session, self.restaurant.id, qr.order_id)
            qr = await self.get(qr_id, lock=True)
            await self.expire(qr)
        return qr

    # --- changing ---------------------------------------------------------------------

    async def _audit(
        self, action: str, qr: QrPayment, old_status: str | None, **new: object
    ) -> None:
        await record(
            self.session,
            self.actor,
            action=action,
            resource_type="qr_payment",
            resource_id=qr.id,
            restaurant_id=qr.restaurant_id,
            old={"status": old_status} if old_status else None,
            new={
                "status": qr.status,
                "orderId": str(qr.order_id),
                "amount": qr.amount_minor,
                "expiresAt": qr.expires_at.isoformat(),
                **new,
            },
        )

    async def expire(self, qr: QrPayment) -> bool:
        """Pending past its time → expired (the caller holds the order and QR locks)."""
        if qr.status != "pending" or qr.expires_at > utc_now():
            return False
        qr.status = "expired"
        qr.version += 1
        await self._audit("qr_payment.expired", qr, "pending")
        return True

    async def cancel(self, qr_id: uuid.UUID) -> QrPayment:
        qr = await self.get(qr_id)
        await core.lock_order(self.session, self.restaurant.id, qr.order_id)
        qr = await self.get(qr_id, lock=True)
        if await self.expire(qr):
            raise Conflict("This QR payment has already expired", details={"status": "expired"})
        state.check_qr(qr.status, "cancelled")
        qr.status = "cancelled"
        qr.cancelled_at = utc_now()
        qr.version += 1
        if qr.provider_payment_id and self.bank is not None:
            # The bank may already have settled it: a late confirmation follows the rule.
            with contextlib.suppress(ProviderError):
                await self.bank.cancel(qr.provider_payment_id)
        await self._audit("qr_payment.cancelled", qr, "pending")
        return qr

    async def extend(self, qr_id: uuid.UUID, minutes: int) -> QrPayment:
        qr = await self.get(qr_id)
        await core.lock_order(self.session, self.restaurant.id, qr.order_id)
        qr = await self.get(qr_id, lock=True)
        if await self.expire(qr):
            raise Conflict(
                "This QR payment has already expired; generate a new one",
                details={"status": "expired"},
            )
        if qr.status != "pending":
            raise Conflict(
                f"Only a pending QR payment can be extended; this one is {qr.status}",
                details={"status": qr.status},
            )
        if qr.extensions >= self.settings.qr_max_extensions:
            raise Conflict(
                f"This QR payment was already extended {qr.extensions} times (the limit)",
                details={"extensions": qr.extensions},
            )
        old = qr.expires_at
        qr.expires_at = qr.expires_at + timedelta(minutes=minutes)
        qr.extensions += 1
        qr.version += 1
        await self._audit("qr_payment.extended", qr, "pending", previousExpiresAt=old.isoformat())
        return qr

    async def confirm(
        self,
        qr: QrPayment,
        *,
        bank_reference: str | None,
        paid_at: datetime | None,
        amount_minor: int | None,
    ) -> Payment | None:
        """The bank says the customer paid. The caller locked the order, then ``qr``."""
        existing = await self.payment_of(qr)
        if existing is not None:
            return None  # already recorded: a redelivery or a poll after the webhook
        order = await self.session.get(Order, qr.order_id)
        assert order is not None
        received = amount_minor if amount_minor is not None else qr.amount_minor
        tip = min(qr.tip_minor, received)
        amount = received - tip
        if qr.status == "pending" and (paid_at or utc_now()) > qr.expires_at:
            await self.expire(qr)
        old_status = qr.status
        late = qr.status in ("expired", "cancelled")
        mismatch = received != qr.amount_minor
        fits = order.status not in core.CLOSED and amount <= state.owed(
            order
        ) - await core.reserved(self.session, order, except_qr=qr.id)
        payment = core.new_payment(
            order,
            method="qrCode",
            provider=qr.provider,
            amount=amount,
            tip=tip,
            # The fee stated when the code was generated, whatever the settings say now.
            fee_minor=qr.fee_minor if not mismatch else None,
            fee_rule=require_enabled(self.restaurant, "qrCode").fee if mismatch else None,
            created_by=qr.created_by,
            status="processing",
            qr_payment_id=qr.id,
            provider_payment_id=qr.provider_payment_id,
            transaction_id=bank_reference,
        )
        self.session.add(payment)
        await self.session.flush()
        qr.customer_bank_reference = bank_reference
        qr.paid_at = paid_at or utc_now()
        qr.version += 1
        if fits and not mismatch:
            if qr.status != "completed":
                qr.status = "completed"
            if late:
                qr.late_outcome = "accepted"
            await core.apply_to_order(
                self.session, self.restaurant, order, payment, self.actor, old_status="processing"
            )
            await self._audit(
                "qr_payment.completed", qr, old_status, bankReference=bank_reference, late=late
            )
        else:
            payment.status = "held"
            payment.extra = {
                "heldReason": "amount differs from the request"
                if mismatch
                else "order already paid or closed",
            }
            if late:
                qr.late_outcome = "refund_due"
            elif qr.status == "pending":
                qr.status = "completed"
                qr.late_outcome = "refund_due"
            await core.audit_payment(
                self.session, self.actor, "payment.held", payment, old_status="processing"
            )
            await self._audit("qr_payment.refund_due", qr, old_status, bankReference=bank_reference)
        return payment

    async def apply_bank_state(self, qr: QrPayment, bank: BankPayment) -> Payment | None:
        if bank.status == "completed":
            paid = (
                datetime.fromtimestamp(bank.paid_at, tz=utc_now().tzinfo) if bank.paid_at else None
            )
            return await self.confirm(
                qr, bank_reference=bank.bank_reference, paid_at=paid, amount_minor=bank.amount_minor
            )
        if bank.status in ("failed", "cancelled") and qr.status == "pending":
            qr.status = "cancelled"
            qr.cancelled_at = utc_now()
            qr.version += 1
            await self._audit("qr_payment.cancelled", qr, "pending", bankStatus=bank.status)
        return None
