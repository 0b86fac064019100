"""QR payments end to end against the sandbox bank, over HTTP: generate, the customer's page,
approval, the bank's webhook, status; cancel, extend, expiry and late confirmations."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.db.types import utc_now
from fynlo.kit.errors import BadRequest
from fynlo.models import AuditLog, OutboxEvent, Payment, PaymentProviderEvent, QrPayment
from fynlo.payments.providers.sandbox_bank import SandboxBank
from fynlo.payments.qr import PREFIX, _b64, _unb64, verify_qr_data
from tests.payments.support import Till, error_of, fields_of, order_of, priced_product
from tests.world import World, login


@pytest.fixture
async def till(client: httpx.AsyncClient, session: AsyncSession, world: World) -> Till:
    return await Till.build(client, session, world)


def bank(app: Any) -> SandboxBank:
    provider = app.state.runtime.payment_providers.bank
    assert isinstance(provider, SandboxBank)
    return provider


async def generate(till: Till, order_id: str, **body: Any) -> dict[str, Any]:
    response = await till.pay("qr/generate", {"orderId": order_id, **body})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def status(till: Till, qr_id: str) -> dict[str, Any]:
    response = await till.client.get(f"/api/payments/qr/{qr_id}/status", headers=till.headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def decide_at_the_bank(client: httpx.AsyncClient, bank_page: str, decision: str) -> str:
    shown = await client.get(bank_page)
    assert shown.status_code == 200
    assert "Approve" in shown.text
    answer = await client.post(
        bank_page,
        content=f"decision={decision}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 303, answer.text
    after = await client.get(answer.headers["location"])
    return after.text


async def approve_on_the_page(client: httpx.AsyncClient, payment_url: str, decision: str) -> str:
    """Play the customer: open the payment page, follow its button to the bank, decide."""
    page = await client.get(payment_url.replace("http://127.0.0.1:8000", ""))
    assert page.status_code == 200, page.text
    link = re.search(r"id=pay href='([^']+)'", page.text)
    assert link is not None, page.text
    return await decide_at_the_bank(
        client, link.group(1).replace("http://127.0.0.1:8000", ""), decision
    )


async def test_the_spec_example_amounts_and_fee(till: Till, session: AsyncSession) -> None:
    product = await priced_product(session, till.world.a1, price=5450, name="Feast")
    from tests.payments.support import open_order

    order = await open_order(till.client, till.headers, [(product, 1)])
    qr = await generate(till, order["id"], amount=54.50, currency="GBP")
    assert (qr["amount"], qr["feeAmount"], qr["netAmount"]) == (54.5, 0.65, 53.85)
    assert qr["qrCodeData"].startswith(PREFIX)
    assert qr["instructions"] == [
        "Open your banking app",
        "Scan this QR code",
        "Confirm the payment",
    ]
    expires = qr["expiresAt"]
    stored = await session.scalar(select(QrPayment))
    assert stored is not None
    lifetime = stored.expires_at - stored.created_at
    assert abs(lifetime - timedelta(minutes=15)) < timedelta(seconds=5)
    assert expires.startswith(stored.expires_at.date().isoformat())
    events = (await session.scalars(select(OutboxEvent.event_type))).all()
    assert "qr_payment_ready" in events


async def test_end_to_end_generate_approve_webhook_completed_order_paid(
    till: Till, app: Any, session: AsyncSession
) -> None:
    order = await till.order()
    qr = await generate(till, order["id"])
    assert qr["amount"] == 25.0
    assert (await status(till, qr["qrPaymentId"]))["status"] == "pending"
    final_page = await approve_on_the_page(till.client, qr["paymentUrl"], "approve")
    assert "completed" in final_page
    done = await status(till, qr["qrPaymentId"])
    assert done["status"] == "completed"
    assert done["bankReference"].startswith("SBX")
    assert done["paidAt"] is not None
    assert done["amount"] == 25.0
    assert (await order_of(till.client, till.headers, order["id"]))["paymentStatus"] == "paid"
    payment = await session.scalar(select(Payment).where(Payment.method == "qrCode"))
    assert payment is not None
    assert (payment.amount_minor, payment.fee_minor, payment.net_minor) == (2500, 30, 2470)
    recorded = await session.scalar(select(PaymentProviderEvent))
    assert recorded is not None
    assert recorded.outcome == "applied"


async def test_a_declined_payment_cancels_the_qr(till: Till) -> None:
    order = await till.order()
    qr = await generate(till, order["id"])
    await approve_on_the_page(till.client, qr["paymentUrl"], "decline")
    assert (await status(till, qr["qrPaymentId"]))["status"] == "cancelled"
    assert (await order_of(till.client, till.headers, order["id"]))["paymentStatus"] == "unpaid"


async def test_the_signed_payload_detects_a_changed_amount(till: Till, app: Any) -> None:
    order = await till.order()
    qr = await generate(till, order["id"])
    key = app.state.runtime.settings.qr_signing_key.get_secret_value()
    payload = verify_qr_data(key, qr["qrCodeData"])
    assert payload["amount"] == "25.00"
    assert payload["currency"] == "GBP"
    assert payload["url"] == qr["paymentUrl"]
    raw = json.loads(_unb64(qr["qrCodeData"][len(PREFIX) :]))
    raw["amount"] = "2.50"
    tampered = PREFIX + _b64(json.dumps(raw).encode())
    with pytest.raises(BadRequest, match="altered"):
        verify_qr_data(key, tampered)


async def test_the_amount_must_fit_what_the_order_owes(till: Till) -> None:
    order = await till.order()
    too_much = await till.pay("qr/generate", {"orderId": order["id"], "amount": 30})
    error_of(too_much, 409, "overpayment")
    await generate(till, order["id"], amount=20)
    # 20.00 is held by the pending QR: only 5.00 is left for another one.
    second = await till.pay("qr/generate", {"orderId": order["id"], "amount": 10})
    assert error_of(second, 409, "overpayment")["details"]["heldByPaymentsInProgress"] == 20.0
    wrong_currency = await till.pay(
        "qr/generate", {"orderId": order["id"], "amount": 5, "currency": "EUR"}
    )
    assert fields_of(error_of(wrong_currency, 422, "validation_error")) == ["currency"]


async def test_cancel_and_extend(till: Till, session: AsyncSession) -> None:
    order = await till.order()
    qr = await generate(till, order["id"])
    extended = await till.pay(f"qr/{qr['qrPaymentId']}/extend", {"minutes": 10})
    assert extended.status_code == 200, extended.text
    assert extended.json()["data"]["expiresAt"] > qr["expiresAt"]
    out_of_range = await till.pay(f"qr/{qr['qrPaymentId']}/extend", {"minutes": 500})
    assert fields_of(error_of(out_of_range, 422, "validation_error")) == ["minutes"]
    cancelled = await till.pay(f"qr/{qr['qrPaymentId']}/cancel", {})
    assert cancelled.json()["data"]["status"] == "cancelled"
    again = await till.pay(f"qr/{qr['qrPaymentId']}/cancel", {})
    error = error_of(again, 409, "invalid_state_transition")
    assert "cancelled" in error["message"]
    # A cancelled QR no longer holds the balance.
    await generate(till, order["id"])


async def test_expired_on_read_and_refused_for_extension(till: Till, session: AsyncSession) -> None:
    order = await till.order()
    qr = await generate(till, order["id"])
    await session.execute(update(QrPayment).values(expires_at=utc_now() - timedelta(seconds=1)))
    await session.commit()
    assert (await status(till, qr["qrPaymentId"]))["status"] == "expired"
    extend = await till.pay(f"qr/{qr['qrPaymentId']}/extend", {})
    error_of(extend, 409, "conflict")
    actions = (await session.scalars(select(AuditLog.action))).all()
    assert "qr_payment.expired" in actions


async def test_late_confirmation_is_accepted_when_the_order_still_owes_it(
    till: Till, app: Any, session: AsyncSession
) -> None:
    order = await till.order()
    qr = await generate(till, order["id"])
    stored = await session.scalar(select(QrPayment))
    assert stored is not None
    assert stored.authorisation_url is not None
    await session.execute(update(QrPayment).values(expires_at=utc_now() - timedelta(seconds=1)))
    await session.commit()
    # The customer's bank app still had the request open: the page now says expired.
    page = await till.client.get(qr["paymentUrl"].replace("http://127.0.0.1:8000", ""))
    assert "expired" in page.text
    assert "Pay with your bank" not in page.text
    await decide_at_the_bank(
        till.client, stored.authorisation_url.replace("http://127.0.0.1:8000", ""), "approve"
    )
    done = await status(till, qr["qrPaymentId"])
    assert (done["status"], done["lateOutcome"]) == ("completed", "accepted")
    assert (await order_of(till.client, till.headers, order["id"]))["paymentStatus"] == "paid"


async def test_late_confirmation_for_a_paid_order_is_held_for_refund(
    till: Till, app: Any, session: AsyncSession
) -> None:
    order = await till.order()
    qr = await generate(till, order["id"])
    stored = await session.scalar(select(QrPayment))
    assert stored is not None
    assert stored.provider_payment_id is not None
    # The customer approves at the bank; its webhook is delayed while the till gives up on
    # the QR code and takes cash instead.
    body, headers = bank(app).decide(stored.provider_payment_id, approve=True)
    await till.pay(f"qr/{qr['qrPaymentId']}/cancel", {})
    await till.cash(order["id"], 25.00, 25.00)
    hook = await till.client.post("/api/payments/webhooks/bank", content=body, headers=headers)
    assert hook.json()["data"]["outcome"] == "held"
    done = await status(till, qr["qrPaymentId"])
    assert (done["status"], done["lateOutcome"]) == ("cancelled", "refund_due")
    await session.commit()  # a fresh snapshot on SQLite
    held = await session.scalar(select(Payment).where(Payment.method == "qrCode"))
    assert held is not None
    assert held.status == "held"
    assert held.amount_minor == 2500
    order_now = await order_of(till.client, till.headers, order["id"])
    assert order_now["paymentStatus"] == "paid"  # counted once, by the cash
    refund = await till.pay(f"{held.id}/refund", {"reason": "paid twice"})
    assert refund.status_code == 201, refund.text
    assert refund.json()["data"]["payment"]["status"] == "refunded"
    assert (await order_of(till.client, till.headers, order["id"]))["paymentStatus"] == "paid"


async def test_bank_webhook_bad_signature_is_400_and_changes_nothing(
    till: Till, app: Any, session: AsyncSession
) -> None:
    order = await till.order()
    qr = await generate(till, order["id"])
    stored = await session.scalar(select(QrPayment))
    assert stored is not None
    assert stored.provider_payment_id is not None
    body, headers = bank(app).webhook_for(stored.provider_payment_id)
    forged = body.replace(b'"pending"', b'"completed"')
    response = await till.client.post("/api/payments/qr/webhook", content=forged, headers=headers)
    error_of(response, 400, "invalid_signature")
    unsigned = await till.client.post("/api/payments/webhooks/bank", content=body)
    error_of(unsigned, 400, "invalid_signature")
    assert (await status(till, qr["qrPaymentId"]))["status"] == "pending"
    assert await session.scalar(select(func.count()).select_from(PaymentProviderEvent)) == 0


async def test_the_same_bank_webhook_three_times_has_one_effect(
    till: Till, app: Any, session: AsyncSession
) -> None:
    order = await till.order()
    qr = await generate(till, order["id"])
    stored = await session.scalar(select(QrPayment))
    assert stored is not None
    assert stored.provider_payment_id is not None
    body, headers = bank(app).decide(stored.provider_payment_id, approve=True)
    outcomes = []
    for _ in range(3):
        response = await till.client.post(
            "/api/payments/webhooks/bank", content=body, headers=headers
        )
        assert response.status_code == 200, response.text
        outcomes.append(response.json()["data"]["outcome"])
    assert outcomes == ["applied", "duplicate", "duplicate"]
    # A fresh event for the same payment (the bank's retry with a new id) changes nothing.
    body2, headers2 = bank(app).webhook_for(stored.provider_payment_id)
    again = await till.client.post("/api/payments/webhooks/bank", content=body2, headers=headers2)
    assert again.json()["data"]["outcome"] == "already_applied"
    await session.commit()  # a fresh snapshot on SQLite
    assert await session.scalar(select(func.count()).select_from(Payment)) == 1
    assert (await status(till, qr["qrPaymentId"]))["status"] == "completed"


async def test_qr_images_and_the_customer_page(till: Till) -> None:
    order = await till.order()
    qr = await generate(till, order["id"])
    svg = await till.client.get(qr["imageSvgUrl"], headers=till.headers)
    assert svg.status_code == 200
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.lstrip().startswith("<svg")
    png = await till.client.get(qr["imagePngUrl"], headers=till.headers)
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    page = await till.client.get(qr["paymentUrl"].replace("http://127.0.0.1:8000", ""))
    assert "25.00 GBP" in page.text
    assert "Pay with your bank" in page.text
    missing = await till.client.get("/pay/FYNDOESNOTEXIST")
    assert missing.status_code == 404


async def test_qr_endpoints_respect_roles_and_tenants(
    till: Till, client: httpx.AsyncClient, world: World
) -> None:
    order = await till.order()
    waiter = await till.pay("qr/generate", {"orderId": order["id"]}, as_="waiter")
    error_of(waiter, 403, "permission_denied")
    qr = await generate(till, order["id"])
    other = await login(client, world.other_manager)
    theirs = await client.get(f"/api/payments/qr/{qr['qrPaymentId']}/status", headers=other)
    error_of(theirs, 404, "not_found")
    cancel = await client.post(f"/api/payments/qr/{qr['qrPaymentId']}/cancel", headers=other)
    error_of(cancel, 404, "not_found")
    missing = await till.pay("qr/generate", {})
    assert "orderId" in fields_of(error_of(missing, 422, "validation_error"))
    wrong = await till.pay("qr/generate", {"orderId": "nope"})
    assert "orderId" in fields_of(error_of(wrong, 422, "validation_error"))
